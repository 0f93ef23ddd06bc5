"""One workflow run against its journal: the replay cursor and the live path.

A :class:`Run` runs the workflow body in a greenlet whose parent is the worker's hub. When
the body needs the outside world (run a step, wait for a commit, wait in memory) the run
*parks*: it switches to the hub with a request, and the hub resumes it with the answer. The
body itself never touches the store; everything it records goes into ``pending`` and the hub
commits it. Replay is the same code path reading recorded events instead of running steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from typing import Any, cast, overload

import greenlet

from legato.clock import Clock
from legato.domain import codec, inputs
from legato.domain import events as ev
from legato.domain import status as st
from legato.domain.events import Event
from legato.domain.journal import Journal
from legato.domain.records import Condition, Delivered, Delivery, NewWorkflow
from legato.domain.retry import decide
from legato.errors import (
    CircuitOpen,
    HistoryLimitExceeded,
    InvalidInput,
    LegatoError,
    NondeterminismError,
    WorkflowBlocked,
)
from legato.runtime import faults
from legato.runtime.attempt import RunStep, StepOutcome
from legato.runtime.control import (
    PASS_THROUGH,
    Blocked,
    Cancelled,
    HistoryFull,
    LeaseLost,
    Suspend,
)
from legato.runtime.protocol import (
    COMMIT,
    AwaitChild,
    Final,
    StartChild,
    Take,
    TaskOp,
    WaitUntil,
)
from legato.runtime.registry import StepDef, WorkflowDef

log = logging.getLogger("legato.worker")
#: operational lines an operator acts on, one per event, each naming the run
ops = logging.getLogger("legato.worker.runs")

#: waits shorter than this stay in memory (the workflow keeps its slot); longer ones suspend
INMEMORY_WAIT = 1.0
_WAIT_ENDS = frozenset({ev.WAIT_COMPLETED, ev.WAIT_TIMED_OUT})

# --- the requests a run parks with: runtime/protocol.py ---------------------------------


class Lane:
    """A ``ctx.branches`` branch: its own journal cursor, time and patch markers, so that it
    replays the same whatever order its events interleaved with its siblings' in."""

    __slots__ = ("journal", "now", "patches", "path")

    def __init__(self, path: str, journal: Journal, now: float) -> None:
        self.path = path
        self.journal = journal
        self.now = now
        self.patches: dict[str, bool] = {}


class Fiber(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet running part of a task: its body, or one parallel branch."""

    owner: Run  # the run it belongs to, set by Run.new_fiber (greenlet keeps .run for its body)
    group: Any = None  # the BranchGroup of a branch fiber
    lane: Lane | None = None  # the ctx.branches branch it runs in (None: the body's)
    parked: object | None = None  # what the fiber waits for, while parked
    step_token: int | None = None  # the step attempt whose outcome is awaited
    wait_token: int | None = None  # the in-memory timer the fiber waits on
    after_commit: Any = None  # the request to carry out once its records are committed

    # the hub changes a fiber through these, never its fields

    def await_step(self, token: int) -> None:
        self.step_token = token

    def awaits_step(self, token: int) -> bool:
        return self.step_token == token

    def step_ended(self, token: int) -> bool:
        """Attempt ``token`` ended: True if the fiber still awaits it (else it was abandoned,
        and a retry has its own token)."""
        if self.step_token != token:
            return False
        self.step_token = None
        return True

    def await_timer(self, token: int) -> None:
        self.wait_token = token

    def timer_fired(self, token: int) -> bool:
        """In-memory timer ``token`` fired: True if the fiber still waits on it."""
        if self.wait_token != token:
            return False
        self.wait_token = None
        return True

    def defer(self, request: Any) -> None:
        """Carry ``request`` out once what the run recorded is committed."""
        self.after_commit = request

    def take_deferred(self) -> Any:
        request, self.after_commit = self.after_commit, None
        return request



def current_run() -> Run | None:
    return getattr(greenlet.getcurrent(), "owner", None)


class _Op:
    """Awaitable used by async workflows: runs the parked operation synchronously."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __await__(self) -> Generator[Any, None, Any]:
        return self.fn()
        yield  # pragma: no cover - makes this a generator


@dataclass(slots=True)
class Captured:
    """A step call captured (not run) while ``ctx.parallel`` learns its branches."""

    sdef: StepDef
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Run:
    """The state of one workflow run inside a worker."""

    #: events a run may record (Engine(history_limit=)); a warning is logged at a fifth
    history_limit = 50_000
    _check_at = 10_000  # the next event count at which _history_check has work to do
    #: the watchdog caught the body holding the hub's thread this long (seconds), or 0
    blocked = 0.0
    #: most bytes of JSON a result, child input or state value may take (Engine(max_payload))
    max_payload = inputs.DEFAULT_MAX_PAYLOAD
    #: the code asked for something other than the journal holds (set even if it caught it)
    diverged: NondeterminismError | None = None
    #: replayed without knowing the run's id (legato.testing.replay) ...
    id_unknown = False
    id_read = False  # ... and the code read ctx.workflow_id

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
        *,
        inbox: dict[int, Delivered] | None = None,
        wakes_others: bool = False,
        history_limit: int | None = None,
        max_payload: int | None = None,
        id_unknown: bool = False,
    ) -> None:
        self.wdef = wdef
        self.workflow_id = workflow_id
        self.args = args
        self._journal = Journal(journal)
        self.next_seq = self._journal.next_seq
        self.lanes = 0  # ctx.branches branches running: until then no fiber has a lane
        self.pending: list[Event] = []
        self.epoch = epoch
        self.clock = clock
        self.deadline = deadline
        self.cancel: tuple[str, str] | None = (
            (st.CANCELLED, "cancel requested") if cancel_requested else None
        )
        start = self._journal.start
        self._now = start.at if start else clock.now()
        self._patches: dict[str, bool] = {}
        self.dropped = False  # terminated or fenced: unwind without writing
        self.releasing = False  # the worker stops: suspend at the next boundary
        self.shield = 0  # > 0 while compensating: cancellation and deadlines wait
        self.detail: str | None = None  # e.g. "compensated", written with the final status
        self.capturing = False  # ctx.parallel is learning which steps its branches call
        self.wakes_others = wakes_others  # its end may make other runs due (a parent, a queue)
        # deliveries read with the claim, by wait position
        self.prefetched: dict[int, Delivered] = dict(inbox) if inbox else {}
        self.fibers: set[Fiber] = set()  # every live fiber (main and branches)
        self.greenlet: Fiber | None = None
        self._hub: greenlet.greenlet | None = None
        if history_limit is not None and history_limit != Run.history_limit:
            self.limit_history(history_limit)
        if max_payload is not None:
            self.max_payload = max_payload
        if id_unknown:
            self.id_unknown = True

    # --- what the hub (and the watchdog) may change ----------------------------------------

    def drop(self) -> None:
        """Terminated or fenced: every fiber unwinds at its next boundary, writing nothing."""
        self.dropped = True

    def release(self) -> None:
        """The worker stops: suspend at the next boundary, to be claimed again later."""
        self.releasing = True

    def caught_blocking(self, seconds: float) -> None:
        """The watchdog saw the body hold the hub's thread this long without parking."""
        self.blocked = seconds

    def take_pending(self) -> list[Event]:
        """The events recorded since the last commit, handed to a write (and forgotten)."""
        pending, self.pending = self.pending, []
        return pending

    def fiber_ended(self, fiber: Fiber) -> None:
        self.fibers.discard(fiber)

    # --- plumbing ------------------------------------------------------------------------

    def lane(self) -> Lane | None:
        """The ctx.branches branch the current fiber runs in, if any."""
        if not self.lanes:  # no branch runs: the body's (the usual case, kept cheap)
            return None
        lane: Lane | None = getattr(greenlet.getcurrent(), "lane", None)
        return lane

    @property
    def journal(self) -> Journal:
        """The replay cursor of the current fiber: the body's, or its branch's."""
        lane = self.lane()
        return self._journal if lane is None else lane.journal

    @property
    def now(self) -> float:
        """The journal time of the current fiber (a branch keeps its own)."""
        lane = self.lane()
        return self._now if lane is None else lane.now

    @now.setter
    def now(self, value: float) -> None:
        lane = self.lane()
        if lane is None:
            self._now = value
        else:
            lane.now = value

    @property
    def patches(self) -> dict[str, bool]:
        lane = self.lane()
        return self._patches if lane is None else lane.patches

    @property
    def replaying(self) -> bool:
        return not self.journal.done and self.journal.peek() is not None

    def start(self, hub: greenlet.greenlet) -> Fiber:
        self._hub = hub
        self.greenlet = self.new_fiber(self._run)
        return self.greenlet

    def new_fiber(self, body: Callable[..., Any], group: Any = None) -> Fiber:
        g = Fiber(body, parent=self._hub)
        g.owner = self
        g.group = group
        g.lane = getattr(getattr(group, "parent", None), "lane", None)  # a branch's branches
        self.fibers.add(g)
        return g

    def _park(self, request: object) -> Any:
        assert self._hub is not None
        me: Fiber = greenlet.getcurrent()
        me.parked = request
        try:
            return self._hub.switch(request)
        finally:
            me.parked = None

    def _append(self, type_: str, *, name: str | None = None, pos: int | None = None,
                attempt: int | None = None, data: dict[str, Any] | None = None,
                raw: str | None = None, at: float | None = None) -> Event:
        now = self.clock.now() if at is None else at
        lane = self.lane()
        if lane is not None:  # recorded in a ctx.branches branch: say which
            data = {**(data or {}), ev.BRANCH: lane.path}
            if raw is not None:
                raw = codec.dumps(data)
        if self.next_seq >= self._check_at:
            self._history_check(type_)
        e = Event(self.next_seq, type_, now, name, pos, attempt, data or {}, raw)
        self.next_seq += 1
        self.pending.append(e)
        self.now = now
        return e

    def limit_history(self, limit: int) -> None:
        self.history_limit = limit
        self._check_at = max(1, limit // 5)

    def _history_check(self, type_: str) -> None:
        """Warn once at a fifth of the history limit; at the limit refuse every event but the
        run's end, so the run fails with HistoryLimitExceeded however its code reacts."""
        limit = self.history_limit
        if self.next_seq < limit:
            log.warning("legato: workflow %s has recorded %d events (the limit is %d); a run"
                        " that goes on for ever fails there: continue in a child or a new"
                        " run", self.workflow_id, self.next_seq, limit)
            self._check_at = limit
        elif type_ not in ev.TERMINAL_EVENTS:
            raise HistoryFull

    def _over_limit(self) -> Final:
        return self._failed(HistoryLimitExceeded(
            f"workflow {self.workflow_id!r} reached its history limit of {self.history_limit}"
            " events (Engine(history_limit=...)): a run that loops for ever fails here;"
            " continue long work in child workflows or a new run"))

    def record_success(self, fiber: Fiber, outcome: StepOutcome) -> bool:
        """Journal the success of the step ``fiber`` waits for on the hub's side (saves a
        round trip into the body); False if the result is not JSON, which the body then
        handles as a failure."""
        req = cast(RunStep, fiber.parked)
        lane = fiber.lane
        data = {"result": outcome.value} if lane is None else \
            {"result": outcome.value, ev.BRANCH: lane.path}
        try:
            raw = codec.dumps(data, limit=self.max_payload, max_depth=inputs.MAX_DEPTH)
        except InvalidInput:
            return False
        now = self.clock.now()
        if lane is None:
            self._now = now
        else:
            lane.now = now
        self.pending.append(Event(self.next_seq, ev.STEP_COMPLETED, now, req.sdef.name, req.pos,
                                  req.attempt, data, raw))
        self.next_seq += 1
        outcome.recorded = True
        return True

    def must_commit(self) -> bool:
        """Whether what the run recorded must be durable before it acts on the world again.

        Not when all of it is wait completions: each is rebuilt exactly (data, source and
        time) from a delivery the store keeps until the run ends, so a run that crashes
        before they are written takes the same deliveries on replay and records the same
        events. A woken run thus starts its next step at once; the completion is written with
        that step's result.
        """
        return any(e.type != ev.WAIT_COMPLETED for e in self.pending)

    def _commit(self) -> None:
        if self.pending:
            self._park(COMMIT)

    def _boundary(self) -> None:
        if self.releasing:
            raise Suspend(self.clock.now())
        if self.shield:
            return
        if self.cancel is not None:
            raise Cancelled(*self.cancel)
        if self.deadline is not None and self.clock.now() >= self.deadline:
            raise Cancelled(st.TIMED_OUT, "deadline exceeded")
        if len(self.fibers) > 1:  # parallel branches run: is this one's group cancelled?
            group = getattr(greenlet.getcurrent(), "group", None)
            if group is not None and group.cancelled:
                raise Cancelled(st.CANCELLED, "a sibling branch failed")

    @overload
    def _replayed(self, kind: frozenset[str] | str, name: str, what: str) -> Event: ...

    @overload
    def _replayed(self, kind: frozenset[str] | str, name: str | None = None,
                  what: None = None, *, pos: int | None = None) -> Event | None: ...

    def _replayed(self, kind: frozenset[str] | str, name: str | None = None,
                  what: str | None = None, *, pos: int | None = None) -> Event | None:
        """Replay one recorded event: consume it and move the run's time to it, as recording
        it did (:meth:`_append`). Every operation replays through here (steps, whose
        attempts are read by position, set the time of each), so none can forget a part.

        With ``what`` the code asks for that operation: the next recorded event must be
        ``kind`` named ``name``, else :class:`NondeterminismError` names the position and
        both. Without, the event is optional (the end of the operation at ``pos``, a patch
        marker named ``name``): consumed if the next recorded event is one, else None.
        """
        if what is not None:
            assert name is not None
            e: Event | None = self.expect(kind, name, what)
        else:
            e = self.journal.peek()
            if e is None or not (e.type in kind if isinstance(kind, frozenset)
                                 else e.type == kind) \
                    or (name is not None and e.name != name) \
                    or (pos is not None and e.pos != pos):
                return None
        assert e is not None
        self.journal.advance()
        self.now = e.at
        return e

    def expect(self, types: frozenset[str] | str, name: str, what: str) -> Event:
        """The next recorded event, which must be ``types`` named ``name``."""
        e = self.journal.peek()
        assert e is not None
        ok = e.type in types if isinstance(types, frozenset) else e.type == types
        if not ok or e.name != name:
            self.diverged = NondeterminismError(
                f"workflow {self.workflow_id!r}: at journal position {e.seq} the code asks for "
                f"{what} {name!r} but the journal holds {e.type} {e.name!r}; the workflow code "
                "changed under a running workflow (guard the change with ctx.patched())"
            )
            raise self.diverged
        return e

    # --- the body ------------------------------------------------------------------------

    def dispose(self) -> None:
        """The run is over in this worker: drop the links from the run to its fibers (each
        fiber points back at its run), so that its objects are freed at once rather than
        left as cyclic garbage to the collector."""
        self.fibers.clear()
        self.greenlet = None

    def _run(self, *_: Any) -> Final:
        from legato.runtime.context import WorkflowContext

        try:
            args = self.wdef.adapt_args(self.args)
            ctx = WorkflowContext(self)  # not kept on the task: no cycle task <-> context
            if self.wdef.is_async:
                value = self._drive(self.wdef.fn(ctx, *args))
            else:
                value = self.wdef.fn(ctx, *args)
            rest = self.journal.peek()
            if rest is not None:
                raise NondeterminismError(
                    f"workflow {self.workflow_id!r} returned, but its journal holds more: "
                    f"{rest.type} {rest.name!r} at position {rest.seq}"
                )
            if self.next_seq >= self.history_limit:  # it caught HistoryFull, and returned
                return self._over_limit()
            try:
                result = codec.dumps(value, "the workflow's result", limit=self.max_payload,
                                     max_depth=inputs.MAX_DEPTH)
            except InvalidInput as exc:
                return self._failed(exc)
            self._append(ev.WORKFLOW_COMPLETED, data={"result": value})
            return Final(st.COMPLETED, result=result)
        except Suspend as s:
            wake = s.wake_at
            if self.deadline is not None:
                wake = self.deadline if wake is None else min(wake, self.deadline)
            return Final(st.WAITING, wake_at=wake, await_children=s.children,
                         await_positions=s.positions)
        except Cancelled as c:
            kind = ev.WORKFLOW_TIMED_OUT if c.status == st.TIMED_OUT else ev.WORKFLOW_CANCELLED
            self._append(kind, data={"reason": c.reason, "detail": self.detail})
            kind_name = "TimedOut" if c.status == st.TIMED_OUT else "Cancelled"
            return Final(c.status, detail=self.detail or c.reason,
                         error={"type": kind_name, "message": c.reason})
        except LeaseLost:
            return Final(None)
        except HistoryFull:
            return self._over_limit()
        except Blocked as b:
            return self._failed(WorkflowBlocked(
                f"workflow {self.workflow_id!r} ran {b.seconds:.1f}s without parking at a step"
                " or a wait (the watchdog's limit is Engine(watchdog=...)): its worker's other"
                " runs went to other workers; move long computations into steps"))
        except PASS_THROUGH:
            raise
        except BaseException as exc:  # SystemExit, KeyboardInterrupt ... from user code too
            return self._failed(exc)

    def _failed(self, exc: BaseException) -> Final:
        err = codec.encode_error(exc)
        detail = "nondeterminism" if isinstance(exc, NondeterminismError) else self.detail
        self._append(ev.WORKFLOW_FAILED, data={"error": err, "detail": detail})
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
        if self.capturing:
            return Captured(sdef, args, kwargs)
        if self.wdef.is_async:
            return _Op(lambda: self.step(sdef, args, kwargs))
        return self.step(sdef, args, kwargs)

    def step(self, sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any],
             pos: int | None = None) -> Any:
        """Run (or replay) one step. ``pos`` is given for parallel branches (scheduled)."""
        attempt = 1
        base = 0  # attempts made before a retry(): the step's retry budget starts again after it
        retry_at: float | None = None
        beat: Any = None  # heartbeat details of the previous attempt
        recorded: Sequence[Event] = ()
        journal = self.journal
        if pos is None and not journal.done and journal.peek() is not None:  # replaying
            first = self.expect(ev.STEP_EVENTS, sdef.name, "step")
            pos = first.pos if first.pos is not None else first.seq
            recorded = journal.step_events(pos) or [journal.advance()]
        elif pos is not None:
            recorded = journal.step_events(pos)
        elif journal.resume is not None and \
                (resume := journal.take_resume(sdef.name)) is not None:
            pos, base, attempt = resume.pos, resume.base, resume.base + 1
        else:
            pos = self.next_seq
        if recorded:
            last = recorded[-1]
            for e in recorded:
                self.now = e.at
                if e.type == ev.STEP_COMPLETED:
                    return codec.adapt(e.data.get("result"), sdef.return_hint)
            if last.data.get("final"):
                raise codec.rebuild_error(last.data.get("error") or {})
            attempt = (last.attempt or 1) + 1
            retry_at = last.data.get("retry_at")
            beat = last.data.get("heartbeat")
        key = f"{self.workflow_id}:{pos}"
        while True:
            if retry_at is not None:
                self._wait_until(retry_at)
            if self.releasing or self.cancel is not None or self.deadline is not None \
                    or len(self.fibers) > 1:
                self._boundary()
            if self.next_seq >= self._check_at:  # its result is recorded by the hub
                self._history_check(ev.STEP_COMPLETED)
            outcome: StepOutcome = self._park(RunStep(sdef, args, kwargs, key, pos, attempt,
                                                      beat))
            if outcome.recorded:
                return outcome.value
            if outcome.ok:
                try:
                    raw = codec.dumps({"result": outcome.value},
                                      f"the result of step {sdef.name!r}",
                                      limit=self.max_payload, max_depth=inputs.MAX_DEPTH)
                except InvalidInput as exc:
                    outcome = StepOutcome(False, error=exc)
                else:
                    self._append(ev.STEP_COMPLETED, name=sdef.name, pos=pos, attempt=attempt,
                                 data={"result": outcome.value}, raw=raw)
                    self._commit()
                    return outcome.value
            error = outcome.error
            assert error is not None
            until = getattr(error, "circuit_wait_until", None)
            if until is not None:  # the breaker is open: wait, without using an attempt
                retry_at = until
                continue
            counted = sdef.retry.max_attempts if isinstance(error, InvalidInput | CircuitOpen) \
                else attempt - base
            decision = decide(sdef.retry, counted, error)
            retry_at = self.clock.now() + decision.delay if decision.retry else None
            data: dict[str, Any] = {"error": codec.encode_error(error),
                                    "final": not decision.retry}
            if retry_at is not None:
                data["retry_at"] = retry_at
            if outcome.heartbeat is not None:
                data["heartbeat"] = beat = outcome.heartbeat
            self._append(ev.STEP_FAILED, name=sdef.name, pos=pos, attempt=attempt, data=data)
            self._commit()
            if not decision.retry:  # recorded (and live: a replay raises it above)
                ops.info("legato: run %s: step %r failed for good at attempt %d (%s): %s: %s",
                         self.workflow_id, sdef.name, attempt, decision.reason,
                         type(error).__name__, error)
                raise error
            attempt += 1

    def _wait_until(self, when: float) -> None:
        while True:
            remaining = when - self.clock.now()
            if remaining <= 0:
                return
            self._boundary()  # a cancelled or overdue run stops waiting (unless shielded)
            if remaining > INMEMORY_WAIT:
                raise Suspend(when)
            self._park(WaitUntil(when))

    def sleep(self, secs: float, name: str) -> None:
        if self.replaying:
            started = self._replayed(ev.TIMER_STARTED, name, "timer")
            fire_at = float(started.data["fire_at"])
            if self._replayed(ev.TIMER_FIRED, pos=started.seq) is not None:
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
        if self.replaying:  # a marker here: the run passed this point after the change
            value = self._replayed(ev.PATCH_MARKER, patch_id) is not None
        else:
            self._append(ev.PATCH_MARKER, name=patch_id)
            value = True
        self.patches[patch_id] = value
        return value

    def parallel_steps(self, calls: list[tuple[StepDef, tuple[Any, ...], dict[str, Any]]],
                       limit: int, fail_fast: bool, return_exceptions: bool = False
                       ) -> list[Any]:
        from legato.runtime.parallel import run_parallel

        return run_parallel(self, calls, limit, fail_fast, return_exceptions)

    def child(self, wdef: WorkflowDef, args: tuple[Any, ...], workflow_id: str | None,
              wait: bool = True, timeout: float | None = None,
              key: str | None = None) -> Any:
        """Start (or find, on replay) a child workflow and wait durably for its result; with
        ``wait=False`` start it detached (no link to this run) and return its id. A
        ``timeout`` (seconds) bounds the child's deadline; ``key`` is its business key."""
        from legato.errors import WorkflowFailed

        if self.replaying:
            started = self._replayed(ev.CHILD_STARTED, wdef.name, "child workflow")
            child_id, pos = str(started.data["child_id"]), started.seq
            if not wait:
                return child_id
            end = self._replayed(ev.CHILD_ENDED, pos=pos)
            if end is not None:
                return self._child_outcome(wdef, child_id, end.data)
        else:
            self._boundary()
            pos = self.next_seq
            child_id = workflow_id or f"{self.workflow_id}:{pos}"
            input_json = codec.dumps(list(args), f"the input of child workflow {wdef.name!r}",
                                     limit=self.max_payload, max_depth=inputs.MAX_DEPTH)
            now = self.clock.now()
            deadline = None if wdef.deadline is None else now + wdef.deadline
            if timeout is not None:
                deadline = now + timeout if deadline is None else min(deadline, now + timeout)
            if self.deadline is not None and wait:  # a child never outlives its parent
                deadline = self.deadline if deadline is None else min(deadline, self.deadline)
            self._append(ev.CHILD_STARTED, name=wdef.name, pos=pos,
                         data={"child_id": child_id, "input": list(args), "detached": not wait})
            parent = self.workflow_id if wait else None
            new = NewWorkflow(id=child_id, name=wdef.name, input=input_json, now=now,
                              deadline=deadline, parent_id=parent, business_key=key)
            data: dict[str, Any] = {"input": list(args)}
            if key is not None:
                data["key"] = key
            if parent is not None:
                data["parent_id"] = parent
            else:
                data["started_by"] = self.workflow_id
            if deadline is not None:
                data["deadline"] = deadline
            row, created = self._park(StartChild(
                new, Event(1, ev.WORKFLOW_STARTED, now, name=wdef.name, data=data)))
            if not created and (row.name != wdef.name or row.input != input_json):
                raise WorkflowFailed(child_id, "FAILED", {
                    "type": "legato.errors.WorkflowConflict",
                    "message": f"workflow id {child_id!r} exists already as {row.name}"})
            if not wait:
                return child_id
        while True:
            self._boundary()
            row = self._park(AwaitChild(child_id))
            if row is not None:
                break
            raise Suspend(None, await_child=child_id)
        outcome = {"status": row.status, "result": codec.loads(row.result), "error": row.error}
        self._append(ev.CHILD_ENDED, name=wdef.name, pos=pos,
                     data={"child_id": child_id, **outcome})
        return self._child_outcome(wdef, child_id, outcome)

    @staticmethod
    def _child_outcome(wdef: WorkflowDef, child_id: str, data: dict[str, Any]) -> Any:
        from legato.errors import WorkflowFailed

        if data.get("status") == st.COMPLETED:
            return codec.adapt(data.get("result"), wdef.return_hint)
        raise WorkflowFailed(child_id, str(data.get("status")), data.get("error"))

    def wait_for(self, conditions: list[Any], timeout_at: float | None,
                 what: str) -> tuple[int, Any]:
        """Wait durably for the first of ``conditions`` (events, signals) or ``timeout_at``.

        Returns ``(index, data)``; ``(-1, None)`` when the timeout came first.
        """
        described = [[c.kind, c.name, c.key] for c in conditions]
        if self.replaying:
            started = self._replayed(ev.WAIT_STARTED, what, "wait")
            pos = started.seq
            timeout_at = started.data.get("timeout_at")
            end = self._replayed(_WAIT_ENDS, pos=pos)
            if end is not None:
                if end.type == ev.WAIT_TIMED_OUT:
                    return -1, None
                return int(end.data["index"]), end.data.get("value")
        else:
            self._boundary()
            pos = self.next_seq
            self._append(ev.WAIT_STARTED, name=what, pos=pos,
                         data={"conditions": described, "timeout_at": timeout_at})
        while True:
            self._boundary()
            got = self._prefetched(pos, conditions) or self._park(Take(pos, conditions, True))
            if got is None and timeout_at is not None and self.clock.now() >= timeout_at:
                got = self._park(Take(pos, conditions, False))  # give up, atomically
                if got is None:
                    self._append(ev.WAIT_TIMED_OUT, name=what, pos=pos)
                    return -1, None
            if got is not None:
                # all of it from the stored delivery, its time too (not before the wait
                # began, should clocks of two hosts disagree): a replay that takes the same
                # delivery again records the same event, see :meth:`must_commit`
                value = codec.loads(got.data)
                done: dict[str, Any] = {"index": got.index, "value": value,
                                        "source": got.source}
                if got.actor is not None:  # who sent the signal (engine.signal(actor=...))
                    done["actor"] = codec.loads(got.actor)
                self._append(ev.WAIT_COMPLETED, name=what, pos=pos, data=done,
                             at=max(self.now, got.at))
                return got.index, value  # committed with whatever the run does next
            raise Suspend(timeout_at, await_pos=pos)

    def human_task(self, spec: Any, due_in: float | None, escalation_due: float | None = None,
                   on_escalate: StepDef | None = None) -> dict[str, Any]:
        """Create a human task and wait durably for a person's decision (see the context).

        Past its due time the task is escalated (or expired) and ``HumanTaskEscalated``
        records how it stands (its ``due`` then: ``escalation_due`` seconds later); then
        ``on_escalate`` runs as a step of this run, with the escalated task, and the wait
        goes on. Past the escalated task's due it expires, recorded by a second
        ``HumanTaskEscalated``. Each recorded event replays without asking the store again.
        """
        from dataclasses import replace

        from legato.domain import tasks as ht

        if self.replaying:
            created = self._replayed(ev.TASK_CREATED, spec.name, "human task")
            task_id, due_at = str(created.data["task_id"]), created.data.get("due")
            pos = created.seq
        else:
            self._boundary()
            pos = self.next_seq
            task_id = f"{self.workflow_id}:{pos}"
            due_at = None if due_in is None else self.clock.now() + due_in
            self._park(TaskOp(task_id, replace(spec, id=task_id, workflow_id=self.workflow_id,
                                               due=due_at)))
            self._append(ev.TASK_CREATED, name=spec.name, pos=pos,
                         data={"task_id": task_id, "assignee": spec.assignee,
                               "group": spec.group, "due": due_at})
        escalated = False
        while True:
            index, value = self.wait_for([Condition("task", task_id)], due_at,
                                         f"task:{spec.name}")
            if index >= 0:
                return dict(value)
            recorded = self._replayed(ev.TASK_ESCALATED, pos=pos)
            if recorded is not None:
                outcome = recorded.data
            else:
                # the escalated task's due from now; a task escalated already (its worker
                # died before journaling it) keeps the due it got, which is recorded
                row = self._park(TaskOp(task_id, expire=True) if escalated else TaskOp(
                    task_id, escalation_due=None if escalation_due is None
                    else self.clock.now() + escalation_due))
                outcome = {"status": row.status, "group": row.group, "result": row.result}
                if not escalated and row.escalated and row.due is not None:
                    outcome["due"] = row.due
                self._append(ev.TASK_ESCALATED, name=spec.name, pos=pos, data=outcome)
            if outcome["status"] in (ht.COMPLETED, ht.REJECTED):
                return dict(outcome["result"])
            if escalated or outcome["status"] not in ht.ACTIVE:
                raise ht.TaskExpired(f"human task {spec.name!r} ({task_id}) expired unanswered")
            escalated = True  # now it waits for the escalation group, until its own due
            due_at = outcome.get("due")
            if on_escalate is not None:
                self.step(on_escalate, (ht.escalated_task(spec, task_id, self.workflow_id,
                                                          outcome),), {})

    def _prefetched(self, pos: int, conditions: list[Any]) -> Any:
        """What woke the run, if the claim brought it along (saves asking the store)."""

        got = self.prefetched.pop(pos, None)
        if got is None:
            return None
        kind, name, key, data, source, at, actor = got
        for i, c in enumerate(conditions):
            if (c.kind, c.name, c.key) == (kind, name, key):
                faults.hit("after_take")  # taken for the wait, not yet journaled
                return Delivery(i, data, source, at, actor)
        return None  # the code waits for something else now: let the store decide

    def set_state(self, key: str, value: Any) -> None:
        if self.replaying:
            self._replayed(ev.STATE_UPDATED, key, "state update")
            return
        raw = codec.dumps({"value": value}, f"the value of state {key!r}",
                          limit=self.max_payload, max_depth=inputs.MAX_DEPTH)
        self._append(ev.STATE_UPDATED, name=key, data={"value": value}, raw=raw)

    def interrupt(self, status: str, reason: str) -> None:
        """Ask the run to stop at its next boundary (the hub also wakes in-memory waits)."""
        if self.cancel is None:
            self.cancel = (status, reason)


class ReplayAwareLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that stays silent while the workflow replays recorded history."""

    def __init__(self, run: Run) -> None:
        super().__init__(logging.getLogger(f"legato.workflow.{run.wdef.name}"),
                         {"workflow_id": run.workflow_id})
        self._run = run

    def isEnabledFor(self, level: int) -> bool:
        return not self._run.replaying and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self._run.replaying:
            return
        super().log(level, msg, *args, **kwargs)
