"""Replay recorded histories against current workflow code, without a store.

Check recorded histories into your repository and replay them in CI: a code change that
would break workflows in flight fails a test instead of a production run::

    history = json.load(open("tests/histories/order.json"))   # from handle.history()
    legato.testing.replay(fulfil_order, history)              # raises NondeterminismError
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import greenlet

from legato.clock import ManualClock
from legato.domain import events as ev
from legato.domain.events import Event
from legato.errors import LegatoError, NondeterminismError, RegistrationError
from legato.runtime import codec
from legato.runtime.attempt import RunStep
from legato.runtime.parallel import after_branch, begin
from legato.runtime.registry import workflow_def
from legato.runtime.task import COMMIT, Final, StartBranches, Task, WaitUntil

_FIELDS = ("seq", "type", "at", "name", "pos", "attempt")


def event_from_dict(d: dict[str, Any]) -> Event:
    """The inverse of ``Event.as_dict`` (the shape ``handle.history()`` returns)."""
    data = {k: v for k, v in d.items() if k not in _FIELDS}
    return Event(int(d["seq"]), str(d["type"]), float(d["at"]), d.get("name"), d.get("pos"),
                 d.get("attempt"), data)


@dataclass
class ReplayResult:
    """``complete`` when the history ended the workflow and the code ended it the same way."""

    complete: bool
    status: str | None
    result: Any
    replayed_events: int


def replay(workflow: Callable[..., Any], history: Sequence[dict[str, Any]]) -> ReplayResult:
    """Run ``workflow``'s current code against a recorded ``history``.

    Raises :class:`legato.NondeterminismError` if the code no longer matches the history.
    A history of a workflow still in flight replays up to its end (``complete=False``).
    """
    wdef = workflow_def(workflow)
    if wdef is None:
        raise RegistrationError(f"{workflow!r} is not a @legato.workflow")
    events = [event_from_dict(d) for d in history]
    if not events or events[0].type != ev.WORKFLOW_STARTED:
        raise LegatoError("a history starts with a WorkflowStarted event")
    terminal = events[-1] if events[-1].type in ev.TERMINAL_EVENTS else None
    journal = events[:-1] if terminal else events
    args = events[0].data.get("input", [])
    clock = ManualClock(start=events[-1].at)
    task = Task(wdef, "replay", list(args), journal, 0, clock, None, False)
    hub = greenlet.getcurrent()
    g = task.start(hub)
    groups: list[Any] = []

    def replayed() -> int:
        lanes = [lane for group in groups for lane in getattr(group, "lanes", ())]
        return task.journal.consumed + sum(len(lane.journal.used) for lane in lanes if lane)

    # drive the body and its branches as the worker's hub would, with nothing but the history
    runnable: deque[Any] = deque([g])
    final: Final | None = None
    while runnable:
        fiber = runnable.popleft()
        request: Any = fiber.switch(None)
        if fiber.dead:
            if fiber is g:
                final = request
            else:  # a branch ended
                runnable.extend(after_branch(fiber))
        elif request is COMMIT:
            runnable.append(fiber)
        elif isinstance(request, StartBranches):
            groups.append(request.group)
            runnable.extend(begin(request.group, fiber))
        elif terminal is None:  # an unfinished history: everything recorded replayed fine
            for live in list(task.fibers):
                live.throw(greenlet.GreenletExit)
            return ReplayResult(False, None, None, replayed())
        else:
            raise NondeterminismError(
                f"the history ends with {terminal.type} at position {terminal.seq}, but the "
                f"code asks for more: {_describe(request)}")
    assert final is not None
    if terminal is None:
        return ReplayResult(False, final.status, None, replayed())
    expected = {ev.WORKFLOW_COMPLETED: "COMPLETED", ev.WORKFLOW_FAILED: "FAILED"}.get(
        terminal.type)
    if expected is not None and final.status != expected:
        why = (final.error or {}).get("message", "")
        raise NondeterminismError(
            f"the history ended {expected} but the code ended {final.status} {why}".rstrip())
    result = codec.loads(final.result) if final.result is not None else None
    if expected == "COMPLETED" and result != terminal.data.get("result"):
        raise NondeterminismError(
            f"the code returned {result!r}, the history recorded {terminal.data.get('result')!r}")
    return ReplayResult(True, final.status, result, replayed())


def _describe(request: object) -> str:
    if isinstance(request, RunStep):
        return f"step {request.sdef.name!r}"
    if isinstance(request, WaitUntil):
        return "a wait"
    return repr(request)
