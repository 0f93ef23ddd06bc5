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
from typing import Any, assert_never

import greenlet

from legato.clock import ManualClock
from legato.domain import codec
from legato.domain import events as ev
from legato.domain import status as st
from legato.domain.events import Event
from legato.errors import LegatoError, NondeterminismError, RegistrationError
from legato.runtime.attempt import RunStep
from legato.runtime.parallel import after_branch, begin
from legato.runtime.protocol import (
    AwaitChild,
    Commit,
    Final,
    Request,
    StartBranches,
    StartChild,
    Take,
    TaskOp,
    WaitUntil,
)
from legato.runtime.registry import workflow_def
from legato.runtime.run import Run

_FIELDS = ("seq", "type", "at", "name", "pos", "attempt")


def event_from_dict(d: dict[str, Any]) -> Event:
    """The inverse of ``Event.as_dict`` (the shape ``handle.history()`` returns)."""
    data = {k: v for k, v in d.items() if k not in _FIELDS}
    return Event(int(d["seq"]), str(d["type"]), float(d["at"]), d.get("name"), d.get("pos"),
                 d.get("attempt"), data)


@dataclass
class ReplayResult:
    """``complete`` when the history ended the workflow and the code ended it the same way
    (``status`` is then the status it ended with); for a history of a run still in flight,
    ``complete`` is False and ``status`` None, or the status the code reached at once."""

    complete: bool
    status: str | None
    result: Any
    replayed_events: int
    workflow_id: str | None = None


#: the status a history's last event gives the run
_ENDS = {ev.WORKFLOW_COMPLETED: st.COMPLETED, ev.WORKFLOW_FAILED: st.FAILED,
         ev.WORKFLOW_CANCELLED: st.CANCELLED, ev.WORKFLOW_TIMED_OUT: st.TIMED_OUT,
         ev.WORKFLOW_TERMINATED: st.CANCELLED}


def recorded_id(history: Sequence[dict[str, Any]]) -> str | None:
    """The workflow id a history records: ``"workflow_id"`` on its first event (see
    :func:`export_history`), else the one a human task's id is made of
    (``"<workflow id>:<position>"``); None if it records none."""
    if history and history[0].get("workflow_id") is not None:
        return str(history[0]["workflow_id"])
    for d in history:
        task_id, pos = d.get("task_id"), d.get("pos", d.get("seq"))
        suffix = f":{pos}"
        if d.get("type") == ev.TASK_CREATED and isinstance(task_id, str) \
                and task_id.endswith(suffix) and len(task_id) > len(suffix):
            return task_id[:-len(suffix)]
    return None


def export_history(handle: Any, *, tracebacks: bool = False) -> list[dict[str, Any]]:
    """``handle.history()`` to save for :func:`replay`, with the run's id on its first event
    (``"workflow_id"``), so that it replays under that id. Without ``tracebacks`` the
    tracebacks of recorded errors (which name files of the recording machine) are left
    out."""
    history: list[dict[str, Any]] = handle.history()
    if history and history[0].get("type") == ev.WORKFLOW_STARTED:
        history[0] = {**history[0], "workflow_id": handle.workflow_id}
    if not tracebacks:
        for event in history:
            error = event.get("error")
            if isinstance(error, dict) and "traceback" in error:
                event["error"] = {k: v for k, v in error.items() if k != "traceback"}
    return history


def replay(workflow: Callable[..., Any], history: Sequence[dict[str, Any]], *,
           workflow_id: str | None = None) -> ReplayResult:
    """Run ``workflow``'s current code against a recorded ``history``.

    The run replays under its own id: ``workflow_id``, or the one the history records (see
    :func:`recorded_id`). Without either it replays as ``"replay"``; should the code read
    ``ctx.workflow_id`` and then not match the history, a :class:`legato.LegatoError`
    (not a NondeterminismError) asks for the id.

    Raises :class:`legato.NondeterminismError` if the code no longer matches the history,
    naming the position and both operations — also for a history of a run still in flight
    (WAITING or RUNNING when it was recorded), which a deploy breaks just the same. Such a
    history replays up to its end and then stops (``complete=False``). A history that ended
    CANCELLED or TIMED_OUT replays to the step boundary where that stopped it, one that was
    terminated to where it was stopped.
    """
    wdef = workflow_def(workflow)
    if wdef is None:
        raise RegistrationError(f"{workflow!r} is not a @legato.workflow")
    events = [event_from_dict(d) for d in history]
    if not events or events[0].type != ev.WORKFLOW_STARTED:
        raise LegatoError("a history starts with a WorkflowStarted event")
    events[0].data.pop("workflow_id", None)
    recorded = recorded_id(history)
    if workflow_id is not None and recorded is not None and workflow_id != recorded:
        raise LegatoError(f"the history is of workflow {recorded!r}, not {workflow_id!r}")
    wid = workflow_id if workflow_id is not None else recorded
    terminal = events[-1] if events[-1].type in ev.TERMINAL_EVENTS else None
    journal = events[:-1] if terminal else events
    args = events[0].data.get("input", [])
    clock = ManualClock(start=events[-1].at)
    run = Run(wdef, "replay" if wid is None else wid, list(args), journal, 0, clock,
              None, False, id_unknown=wid is None)
    if terminal is not None and terminal.type in (ev.WORKFLOW_CANCELLED, ev.WORKFLOW_TIMED_OUT):
        # stopped from outside at a step boundary: the first one after the recorded events
        run.interrupt(_ENDS[terminal.type], str(terminal.data.get("reason") or "cancelled"))
    hub = greenlet.getcurrent()
    g = run.start(hub)
    groups: list[Any] = []

    def lanes() -> list[Any]:
        return [lane for group in groups for lane in getattr(group, "lanes", ()) if lane]

    def replayed() -> int:
        return run.journal.consumed + sum(len(lane.journal.used) for lane in lanes())

    # drive the body and its branches as the worker's hub would, with nothing but the history
    runnable: deque[Any] = deque([g])
    final: Final | None = None
    live: list[tuple[Any, object]] = []  # fibers that went past the history, and for what
    while runnable:
        fiber = runnable.popleft()
        request: Request | Final = fiber.switch(None)
        if fiber.dead:
            if fiber is g:
                assert isinstance(request, Final)
                final = request
            else:  # a branch ended
                runnable.extend(after_branch(fiber))
        else:
            match request:  # runtime/protocol.py: every kind of request
                case Commit():
                    runnable.append(fiber)
                case StartBranches(group=group):
                    groups.append(group)
                    runnable.extend(begin(group, fiber))
                case RunStep() | WaitUntil() | StartChild() | Take() | TaskOp() | AwaitChild():
                    live.append((fiber, request))  # work the history does not hold: in flight
                case Final():  # pragma: no cover - only a fiber that ended returns one
                    raise AssertionError(f"a live fiber returned {request!r}")
                case _:  # pragma: no cover - the union is closed
                    assert_never(request)
    for fiber in [*(f for f, _ in live), *run.fibers]:  # unwind what is left, branches first
        if not fiber.dead:
            fiber.throw(greenlet.GreenletExit)

    def diverged(message: str) -> NondeterminismError | LegatoError:
        if run.id_read:  # perhaps only because the code read an id it was not given
            return LegatoError(
                f"{message}; but the history does not record the run's id, which the code"
                " reads (ctx.workflow_id), and it replayed as 'replay': pass the id,"
                " replay(workflow, history, workflow_id=...), or save histories with"
                " legato.testing.export_history(handle)")
        return NondeterminismError(message)

    if run.diverged is not None:  # also when the code caught it
        raise diverged(str(run.diverged))
    if final is not None and final.detail == "nondeterminism":
        raise diverged(str((final.error or {}).get("message", "")))
    left = _first_unreplayed(run, groups)
    if left is not None and final is not None:
        raise diverged(f"the code ended {final.status}, but the history holds more: "
                       f"{left.type} {left.name!r} at position {left.seq}")
    if terminal is None:  # a run in flight: everything recorded replayed fine
        return ReplayResult(False, None if final is None else final.status, None, replayed(),
                            wid)
    expected = _ENDS[terminal.type]
    if final is None:  # the code asks for more
        if terminal.type == ev.WORKFLOW_TERMINATED:  # stopped from outside, wherever it was
            return ReplayResult(True, expected, None, replayed(), wid)
        raise diverged(f"the history ends with {terminal.type} at position {terminal.seq},"
                       f" but the code asks for more: {_describe(live[0][1])}")
    if terminal.type == ev.WORKFLOW_TERMINATED:
        return ReplayResult(True, expected, None, replayed(), wid)
    if final.status != expected:
        why = (final.error or {}).get("message", "")
        raise diverged(
            f"the history ended {expected} but the code ended {final.status} {why}".rstrip())
    result = codec.loads(final.result) if final.result is not None else None
    if expected == st.COMPLETED and result != terminal.data.get("result"):
        raise diverged(f"the code returned {result!r}, the history recorded"
                       f" {terminal.data.get('result')!r}")
    return ReplayResult(True, final.status, result, replayed(), wid)


def _first_unreplayed(run: Run, groups: list[Any]) -> Event | None:
    """The first recorded event the code did not replay, if any (the body's, or a
    ``ctx.branches`` branch's, started or not)."""
    body = run._journal
    left = [e for e in body.events if e is not body.start and e.seq not in body.used]
    started = {lane.path: lane.journal.used for group in groups
               for lane in getattr(group, "lanes", ()) if lane is not None}
    for path, events in body.lanes.items():
        used = started.get(path, set())
        left += [e for e in events if e.seq not in used]
    return min(left, key=lambda e: e.seq, default=None)


def _describe(request: object) -> str:
    if isinstance(request, RunStep):
        return f"step {request.sdef.name!r}"
    if isinstance(request, WaitUntil):
        return "a wait"
    return repr(request)
