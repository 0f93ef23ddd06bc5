"""One workflow run against its journal: the replay cursor and the live path.

A :class:`Task` runs the workflow body in a greenlet whose parent is the worker's hub. When
the body needs the outside world (run a step, wait for a commit, wait in memory) the task
*parks*: it switches to the hub with a request, and the hub resumes it with the answer. The
body itself never touches the store; everything it records goes into ``pending`` and the hub
commits it. Replay is the same code path reading recorded events instead of running steps.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

import greenlet

from legato.clock import Clock
from legato.domain import events as ev
from legato.domain import status as st
from legato.domain.events import Event
from legato.domain.retry import decide
from legato.errors import InvalidInput, LegatoError, NondeterminismError
from legato.runtime import codec, faults
from legato.runtime.control import Cancelled, LeaseLost, Suspend
from legato.runtime.registry import StepDef, WorkflowDef

#: waits shorter than this stay in memory (the workflow keeps its slot); longer ones suspend
INMEMORY_WAIT = 1.0

_step_key: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "legato_step_key", default=None
)


def step_key() -> str:
    """The running step's stable idempotency key, ``"<workflow id>:<seq>"``.

    The same on every retry and replay of the step: pass it to external systems so that a
    re-executed step does not repeat its effect there.
    """
    key = _step_key.get()
    if key is None:
        raise LegatoError("legato.step_key() is only available inside a running step")
    return key


def run_step_fn(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                key: str) -> Any:
    """Call a sync step function with its idempotency key in context."""
    token = _step_key.set(key)
    try:
        faults.hit("in_step")
        return fn(*args, **kwargs)
    finally:
        _step_key.reset(token)


async def run_async_step_fn(fn: Callable[..., Coroutine[Any, Any, Any]],
                            args: tuple[Any, ...], kwargs: dict[str, Any], key: str) -> Any:
    _step_key.set(key)  # this coroutine runs in its own asyncio task context
    return await fn(*args, **kwargs)


# --- requests a task parks with ---------------------------------------------------------


@dataclass(slots=True)
class RunStep:
    sdef: StepDef
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    key: str


@dataclass(slots=True)
class WaitUntil:
    when: float


class _Commit:
    __slots__ = ()


COMMIT = _Commit()


@dataclass(slots=True)
class StepOutcome:
    ok: bool
    value: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class Final:
    """What a finished (or suspended) run asks the hub to write."""

    status: str | None  # None: lease lost, write nothing
    result: str | None = None  # JSON
    error: dict[str, Any] | None = None
    detail: str | None = None
    wake_at: float | None = None


class TaskGreenlet(greenlet.greenlet):  # type: ignore[misc]
    task: Task | None = None


def current_task() -> Task | None:
    return getattr(greenlet.getcurrent(), "task", None)


class _Op:
    """Awaitable used by async workflows: runs the parked operation synchronously."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __await__(self) -> Generator[Any, None, Any]:
        return self.fn()
        yield  # pragma: no cover - makes this a generator


class Task:
    """The state of one workflow run inside a worker."""

    def __init__(
        self,
        wdef: WorkflowDef,
        workflow_id: str,
        args: list[Any],
        journal: list[Event],
        epoch: int,
        clock: Clock,
        deadline: float | None,
        cancel_requested: bool,
    ) -> None:
        self.wdef = wdef
        self.workflow_id = workflow_id
        self.args = args
        self.events = journal
        self.cursor = 1 if journal and journal[0].type == ev.WORKFLOW_STARTED else 0
        self.next_seq = len(journal) + 1
        self.pending: list[Event] = []
        self.epoch = epoch
        self.clock = clock
        self.deadline = deadline
        self.cancel: tuple[str, str] | None = (
            (st.CANCELLED, "cancel requested") if cancel_requested else None
        )
        self.now = journal[0].at if journal else clock.now()
        self.patches: dict[str, bool] = {}
        self.parked: object | None = None  # what the task waits for, while parked
        # bookkeeping owned by the hub
        self.step_token: int | None = None  # the step attempt whose outcome is awaited
        self.wait_token: int | None = None  # the in-memory timer the task waits on
        self.dropped = False  # terminated or fenced: unwind without writing
        self.releasing = False  # the worker stops: suspend at the next boundary
        self.greenlet: TaskGreenlet | None = None
        self._hub: greenlet.greenlet | None = None
        from legato.runtime.context import WorkflowContext

        self.ctx = WorkflowContext(self)

    # --- plumbing ------------------------------------------------------------------------

    @property
    def replaying(self) -> bool:
        return self.cursor < len(self.events)

    def start(self, hub: greenlet.greenlet) -> TaskGreenlet:
        self._hub = hub
        g = TaskGreenlet(self._run, parent=hub)
        g.task = self
        self.greenlet = g
        return g

    def _park(self, request: object) -> Any:
        assert self._hub is not None
        self.parked = request
        try:
            return self._hub.switch(request)
        finally:
            self.parked = None

    def _append(self, type_: str, *, name: str | None = None, pos: int | None = None,
                attempt: int | None = None, data: dict[str, Any] | None = None,
                raw: str | None = None) -> Event:
        now = self.clock.now()
        e = Event(self.next_seq, type_, now, name, pos, attempt, data or {}, raw)
        self.next_seq += 1
        self.pending.append(e)
        self.now = now
        return e

    def _commit(self) -> None:
        if self.pending:
            self._park(COMMIT)

    def _boundary(self) -> None:
        if self.releasing:
            raise Suspend(self.clock.now())
        if self.cancel is not None:
            raise Cancelled(*self.cancel)
        if self.deadline is not None and self.clock.now() >= self.deadline:
            raise Cancelled(st.TIMED_OUT, "deadline exceeded")

    def _expect(self, types: frozenset[str] | str, name: str, what: str) -> Event:
        e = self.events[self.cursor]
        ok = e.type in types if isinstance(types, frozenset) else e.type == types
        if not ok or e.name != name:
            raise NondeterminismError(
                f"workflow {self.workflow_id!r}: at journal position {e.seq} the code asks for "
                f"{what} {name!r} but the journal holds {e.type} {e.name!r}; the workflow code "
                "changed under a running workflow (guard the change with ctx.patched())"
            )
        return e

    # --- the body ------------------------------------------------------------------------

    def _run(self, *_: Any) -> Final:
        try:
            args = self.wdef.adapt_args(self.args)
            if self.wdef.is_async:
                value = self._drive(self.wdef.fn(self.ctx, *args))
            else:
                value = self.wdef.fn(self.ctx, *args)
            if self.replaying:
                rest = self.events[self.cursor]
                raise NondeterminismError(
                    f"workflow {self.workflow_id!r} returned, but its journal holds more: "
                    f"{rest.type} {rest.name!r} at position {rest.seq}"
                )
            try:
                result = codec.dumps(value, "the workflow's result")
            except InvalidInput as exc:
                return self._failed(exc)
            self._append(ev.WORKFLOW_COMPLETED, data={"result": value})
            return Final(st.COMPLETED, result=result)
        except Suspend as s:
            wake = s.wake_at
            if self.deadline is not None:
                wake = self.deadline if wake is None else min(wake, self.deadline)
            return Final(st.WAITING, wake_at=wake)
        except Cancelled as c:
            kind = ev.WORKFLOW_TIMED_OUT if c.status == st.TIMED_OUT else ev.WORKFLOW_CANCELLED
            self._append(kind, data={"reason": c.reason})
            return Final(c.status, detail=c.reason,
                         error={"type": c.status, "message": c.reason})
        except LeaseLost:
            return Final(None)
        except Exception as exc:
            return self._failed(exc)

    def _failed(self, exc: BaseException) -> Final:
        err = codec.encode_error(exc)
        self._append(ev.WORKFLOW_FAILED, data={"error": err})
        detail = "nondeterminism" if isinstance(exc, NondeterminismError) else None
        return Final(st.FAILED, error=err, detail=detail)

    def _drive(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run an async workflow body; legato's awaitables complete without yielding."""
        def foreign(what: object) -> LegatoError:
            return LegatoError(
                f"workflow {self.workflow_id!r} awaited {what}: a workflow may only await "
                "legato steps and ctx operations (do other I/O and asyncio inside a step)")

        try:
            while True:
                yielded = coro.send(None)
                coro.throw(foreign(repr(yielded)))
        except StopIteration as stop:
            return stop.value
        except RuntimeError as exc:
            if "no running event loop" in str(exc):  # asyncio.sleep() and friends
                raise foreign("an asyncio operation") from exc
            raise

    # --- operations the context offers ---------------------------------------------------

    def call_step(self, sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.wdef.is_async:
            return _Op(lambda: self.step(sdef, args, kwargs))
        return self.step(sdef, args, kwargs)

    def step(self, sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        attempt = 1
        retry_at: float | None = None
        if self.replaying:
            first = self._expect(ev.STEP_EVENTS, sdef.name, "step")
            pos = first.pos if first.pos is not None else first.seq
            last: Event = first
            while self.cursor < len(self.events):
                e = self.events[self.cursor]
                if e.type not in ev.STEP_EVENTS or e.pos != pos:
                    break
                self.cursor += 1
                self.now = e.at
                last = e
                if e.type == ev.STEP_COMPLETED:
                    return codec.adapt(e.data.get("result"), sdef.return_hint)
            if last.data.get("final"):
                raise codec.rebuild_error(last.data.get("error") or {})
            attempt = (last.attempt or 1) + 1
            retry_at = last.data.get("retry_at")
        else:
            pos = self.next_seq
        key = f"{self.workflow_id}:{pos}"
        while True:
            if retry_at is not None:
                self._wait_until(retry_at)
            self._boundary()
            outcome: StepOutcome = self._park(RunStep(sdef, args, kwargs, key))
            if outcome.ok:
                try:
                    raw = codec.dumps({"result": outcome.value},
                                      f"the result of step {sdef.name!r}")
                except InvalidInput as exc:
                    outcome = StepOutcome(False, error=exc)
                else:
                    self._append(ev.STEP_COMPLETED, name=sdef.name, pos=pos, attempt=attempt,
                                 data={"result": outcome.value}, raw=raw)
                    self._commit()
                    return outcome.value
            error = outcome.error
            assert error is not None
            decision = decide(sdef.retry, attempt, error)
            if isinstance(error, InvalidInput):
                decision = decide(sdef.retry, sdef.retry.max_attempts, error)
            retry_at = self.clock.now() + decision.delay if decision.retry else None
            data: dict[str, Any] = {"error": codec.encode_error(error),
                                    "final": not decision.retry}
            if retry_at is not None:
                data["retry_at"] = retry_at
            self._append(ev.STEP_FAILED, name=sdef.name, pos=pos, attempt=attempt, data=data)
            self._commit()
            if not decision.retry:
                raise error
            attempt += 1

    def _wait_until(self, when: float) -> None:
        remaining = when - self.clock.now()
        if remaining <= 0:
            return
        self._boundary()  # a cancelled or overdue run does not start waiting
        if remaining > INMEMORY_WAIT:
            raise Suspend(when)
        self._park(WaitUntil(when))

    def sleep(self, secs: float, name: str) -> None:
        if self.replaying:
            started = self._expect(ev.TIMER_STARTED, name, "timer")
            self.cursor += 1
            self.now = started.at
            fire_at = float(started.data["fire_at"])
            if self.replaying:
                e = self.events[self.cursor]
                if e.type == ev.TIMER_FIRED and e.pos == started.seq:
                    self.cursor += 1
                    self.now = e.at
                    return
            pos = started.seq
        else:
            self._boundary()
            fire_at = self.clock.now() + max(secs, 0.0)
            pos = self.next_seq
            self._append(ev.TIMER_STARTED, name=name, pos=pos,
                         data={"fire_at": fire_at, "duration": secs})
        self._wait_until(fire_at)
        self._boundary()
        self._append(ev.TIMER_FIRED, name=name, pos=pos)

    def patched(self, patch_id: str) -> bool:
        if patch_id in self.patches:
            return self.patches[patch_id]
        if self.replaying:
            e = self.events[self.cursor]
            value = e.type == ev.PATCH_MARKER and e.name == patch_id
            if value:
                self.cursor += 1
        else:
            self._append(ev.PATCH_MARKER, name=patch_id)
            value = True
        self.patches[patch_id] = value
        return value

    def interrupt(self, status: str, reason: str) -> None:
        """Ask the run to stop at its next boundary (the hub also wakes in-memory waits)."""
        if self.cancel is None:
            self.cancel = (status, reason)


class ReplayAwareLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that stays silent while the workflow replays recorded history."""

    def __init__(self, task: Task) -> None:
        super().__init__(logging.getLogger(f"legato.workflow.{task.wdef.name}"),
                         {"workflow_id": task.workflow_id})
        self._task = task

    def isEnabledFor(self, level: int) -> bool:
        return not self._task.replaying and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self._task.replaying:
            return
        super().log(level, msg, *args, **kwargs)
