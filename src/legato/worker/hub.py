"""The hub: one thread that runs many workflow bodies as greenlets and group-commits.

Each turn of the loop: take messages from other threads (finished steps, new work, cancels),
fire due timers, claim due workflows while there is room, resume every ready workflow until
it parks, then write everything they recorded in *one* transaction and resume the ones that
waited for it. The commit rate of the store, not the number of workflows, sets the pace.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import queue
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, assert_never

import greenlet

from legato.clock import Clock
from legato.domain import status as st
from legato.domain.events import WORKFLOW_CANCELLED, Event
from legato.errors import HeartbeatTimeout, StepTimeout
from legato.runtime import codec, faults
from legato.runtime.attempt import RunStep, StepOutcome, run_step_fn
from legato.runtime.control import Blocked, Cancelled, LeaseLost, NotInline, Suspend
from legato.runtime.parallel import after_branch, begin
from legato.runtime.protocol import (
    COMMIT,
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
from legato.runtime.registry import Registry
from legato.runtime.run import Fiber, Run
from legato.store.base import Claimed, NewWorkflow, Store, Write
from legato.worker.circuits import CircuitGate, guard_async, guard_sync
from legato.worker.commands import (
    POKE,
    Adopt,
    Cancel,
    Drop,
    DropAll,
    HubMessage,
    Idle,
    Poke,
    StepEnded,
    Stop,
)
from legato.worker.commit import commit_batch, release_run
from legato.worker.escalation import task_op
from legato.worker.inline import COLLECTIONS, InlinePolicy
from legato.worker.pool import AsyncRunner, StepPool

log = logging.getLogger("legato.worker")
ops = logging.getLogger("legato.worker.runs")

POLL_MIN = 0.005
POLL_MAX = 0.1
#: how long after a claim the hub may wait before it reads the next wake-up again: the
#: claimed runs' first steps usually end sooner, and their results are not kept waiting
#: behind that read (a round trip on PostgreSQL)
WAKE_READ_DELAY = 0.005
RETRY_MAX = 2.0
#: group commits in a row before the hub reads its inbox, fires timers and claims again
FAIR_TURNS = 32
_DEADLINE = 0
_WAIT = 1
_TIMEOUT = 0
_HEARTBEAT = 1


class Hub:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        clock: Clock,
        worker_id: str,
        *,
        concurrency: int,
        pool: StepPool,
        async_runner: AsyncRunner,
        on_done: Callable[[str, str], None],
        names: Callable[[], Sequence[str]] | None = None,
        inline: InlinePolicy | None = None,
        on_completed: Callable[[str, str, str | None], None] | None = None,
        history_limit: int = Run.history_limit,
        max_payload: int = Run.max_payload,
    ) -> None:
        self.store = store
        self.history_limit = history_limit
        self.max_payload = max_payload
        #: the run whose body runs on this thread now, and since when (perf_counter): the
        #: watchdog (Worker) reads it to catch a body that never parks
        self.running: tuple[Run, float] | None = None
        self.registry = registry
        self.clock = clock
        self.worker_id = worker_id
        self.concurrency = concurrency
        self.pool = pool
        self.async_runner = async_runner
        self.inline = inline or InlinePolicy(False)
        #: the step running on this thread now, and since when (perf_counter): a step that
        #: blocks here holds up every run of this worker, which the heartbeat reports
        self.inline_step: tuple[str, float] | None = None
        self.on_done = on_done
        self.on_completed = on_completed  # (id, workflow name, result JSON) of COMPLETED runs
        self._names = names or registry.names
        self.circuit_gate = CircuitGate(store, clock)
        self.inbox: queue.SimpleQueue[HubMessage] = queue.SimpleQueue()
        self.runs: dict[str, Run] = {}
        self.ready: deque[tuple[Fiber, Any, BaseException | None]] = deque()
        self.commit_waiters: list[Fiber] = []
        self.finals: list[tuple[Run, Final]] = []
        # child workflows to create in the next commit, with the parent fiber that waits
        self.creates: list[tuple[NewWorkflow, Event, Fiber]] = []
        # (due, token, workflow id, kind): ids, not runs, so a finished run is not kept alive
        self._clock_timers: list[tuple[float, int, str, int]] = []
        self._mono_timers: list[tuple[float, int, Fiber, int, Callable[[], None]]] = []
        self._waiting: dict[int, Fiber] = {}  # wait token -> fiber parked on WaitUntil
        self._seq = itertools.count()
        self._dirty = True
        self._next_due: float | None = None
        self._wake_stale = False  # _next_due must be read again before the hub idles
        self._stale_at = 0.0  # ... once time.monotonic() has reached this
        self._token: int | None = None
        self._poll = POLL_MIN
        self._next_poll = 0.0
        self._stopping = False
        self._stop_deadline = 0.0
        self.stopped = False
        self.g: greenlet.greenlet | None = None

    # --- called from other threads -------------------------------------------------------

    def post(self, msg: HubMessage) -> None:
        self.inbox.put(msg)

    def poke(self) -> None:
        self.inbox.put(POKE)

    @property
    def room(self) -> int:
        return self.concurrency - len(self.runs) - len(self.creates)

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        self.g = greenlet.getcurrent()
        sources = getattr(self.clock, "add_timer_source", None)  # a test clock
        if sources is not None:
            sources(self)
        try:
            while True:
                if faults.ARMED:
                    faults.hit("hub_turn")
                if self._wake_stale and time.monotonic() >= self._stale_at and not (
                        self.ready or self.commit_waiters or self.finals or self.creates):
                    self._refresh_next_due()
                self._drain(self._block_time())
                if self._stopping and (not self.runs or time.monotonic() > self._stop_deadline):
                    break
                self._fire_timers()
                if not self._stopping:
                    self._maybe_poll()
                    if self._dirty and self.room > 0:
                        self._claim()
                turns = 0
                while self.ready or self.commit_waiters or self.finals or self.creates:
                    while self.ready:
                        fiber, value, exc = self.ready.popleft()
                        self._resume(fiber, value, exc)
                    self._flush()
                    turns += 1
                    if turns >= FAIR_TURNS:  # runs that keep coming back ready (quick
                        break  # inline steps) must not keep out messages, timers and claims
        finally:
            self.stopped = True  # the worker reports why (Worker._run_hub)
            if sources is not None:
                self.clock.remove_timer_source(self)  # type: ignore[attr-defined]

    def _block_time(self) -> float:
        if self.ready or self.commit_waiters or self.finals or self.creates:
            return 0.0
        if self._dirty and self.room > 0 and not self._stopping:
            return 0.0  # more is known to be claimable: take it now, not at the next poll
        t = self._poll
        now = self.clock.now()
        if self._clock_timers:
            t = min(t, self._clock_timers[0][0] - now)
        if self._next_due is not None and self.room > 0:
            t = min(t, self._next_due - now)
        if self._wake_stale:
            t = min(t, self._stale_at - time.monotonic())
        if self._mono_timers:
            t = min(t, self._mono_timers[0][0] - time.monotonic())
        return max(t, 0.0)

    def _drain(self, timeout: float) -> None:
        try:
            msg = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(msg)
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _handle(self, msg: HubMessage) -> None:
        match msg:
            case StepEnded(fiber=fiber, token=token, outcome=outcome):
                self._step_ended(fiber, token, outcome)
            case Poke():
                self._dirty = True
                self._poll = POLL_MIN
            case Adopt(claimed=claimed):  # born owned by this worker (started in this process
                # or handed over by an engine with worker processes: Worker.send read it)
                if claimed is None:
                    log.error("legato: hub %s was handed %s without its row", self.worker_id,
                              msg.workflow_id)
                elif self._stopping or self.room <= 0:  # given back, to be claimed when
                    self._finish_now(claimed.row.id, claimed.row.epoch)  # there is room
                else:
                    self._start(claimed)
            case Cancel(workflow_id=wid):
                self._interrupt(wid, st.CANCELLED, "cancel requested")
            case Drop(workflow_id=wid):
                self._drop(wid)
            case DropAll():
                for wid in list(self.runs):
                    self._drop(wid)
            case Stop(grace=grace):
                self._begin_stop(grace)
            case Idle(reply=reply):
                reply.put(self._idle_until())
            case _:
                assert_never(msg)

    def _step_ended(self, fiber: Fiber, token: int, outcome: StepOutcome) -> None:
        """A step attempt ended (in the pool, on the loop or inline): resume its fiber."""
        if not fiber.step_ended(token):
            return  # abandoned (timed out): the retry has its own token
        run = fiber.owner
        if run.dropped:
            self.ready.append((fiber, None, LeaseLost()))
            return
        if outcome.ok:
            # journaled here; committed with whatever the run does next (the next step waits
            # for it, the end or a suspension carries it); not JSON: the body fails it
            run.record_success(fiber, outcome)
        self.ready.append((fiber, outcome, None))

    # --- timers --------------------------------------------------------------------------

    def idle_until(self, timeout: float = 1.0) -> float | None:
        """For a test clock (``legato.testing.run_to_completion``), from another thread:
        when nothing of this hub can progress before a timer, the earliest of its in-memory
        timers on the engine's clock (``math.inf``: none); None while it has work (a run to
        resume, a commit, a step running — real time a virtual clock never skips — or
        work to claim), or gave no answer within ``timeout`` seconds."""
        if self.stopped:
            return math.inf
        reply: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self.inbox.put(Idle(reply))
        try:
            return reply.get(timeout=timeout)
        except queue.Empty:
            return None

    def steps_in_flight(self, workflow_id: str) -> list[tuple[str, int, float, float | None]]:
        """(step name, attempt, dispatched at, timeout) of each attempt in flight for the
        run, read from another thread (what ``handle.describe()`` shows it waits on): the
        hub's structures are only read, each read atomic under the GIL."""
        run = self.runs.get(workflow_id)
        if run is None:
            return []
        out = []
        for fiber in list(run.fibers):
            req = fiber.parked
            if isinstance(req, RunStep) and fiber.step_token is not None:
                out.append((req.sdef.name, req.attempt, req.since, req.sdef.timeout))
        return out

    def _idle_until(self) -> float | None:
        if self.ready or self.commit_waiters or self.finals or self.creates \
                or self._stopping or not self.inbox.empty() \
                or (self._dirty and self.room > 0):
            return None
        for run in self.runs.values():
            if any(f.step_token is not None for f in run.fibers):
                return None
        due = math.inf
        for when, token, wid, kind in self._clock_timers:
            if wid in self.runs and (kind == _DEADLINE or token in self._waiting):
                due = min(due, when)
        return due

    def _fire_timers(self) -> None:
        now = self.clock.now()
        while self._clock_timers and self._clock_timers[0][0] <= now:
            _, token, wid, kind = heapq.heappop(self._clock_timers)
            run = self.runs.get(wid)
            if run is None:
                continue
            if kind == _DEADLINE:
                self._interrupt(wid, st.TIMED_OUT, "deadline exceeded")
            else:
                self._wake_waiter(token)
        mono = time.monotonic()
        while self._mono_timers and self._mono_timers[0][0] <= mono:
            _, token, fiber, kind, abandon = heapq.heappop(self._mono_timers)
            req = fiber.parked
            if not isinstance(req, RunStep) or not fiber.awaits_step(token):
                continue
            sdef = req.sdef
            err: StepTimeout
            if kind == _HEARTBEAT:
                assert sdef.heartbeat_timeout is not None
                due = req.beat + sdef.heartbeat_timeout
                if due > mono:  # it beat meanwhile: check again later
                    heapq.heappush(self._mono_timers, (due, token, fiber, kind, abandon))
                    continue
                err = HeartbeatTimeout(f"step {sdef.name!r} sent no heartbeat for "
                                       f"{sdef.heartbeat_timeout:g}s")
            else:
                err = StepTimeout(f"step {sdef.name!r} ran longer than its timeout of "
                                  f"{sdef.timeout:g}s")
            fiber.step_ended(token)
            abandon()
            outcome = StepOutcome(False, error=err, heartbeat=req.details)
            self.ready.append((fiber, outcome, None))

    def _wake_waiter(self, token: int) -> None:
        fiber = self._waiting.pop(token, None)
        if fiber is not None and fiber.timer_fired(token):
            exc: BaseException | None = LeaseLost() if fiber.owner.dropped else None
            self.ready.append((fiber, None, exc))

    def _wake_all(self, run: Run) -> None:
        for fiber in list(run.fibers):
            if fiber.wait_token is not None:
                self._wake_waiter(fiber.wait_token)

    def _interrupt(self, wid: str, status: str, reason: str) -> None:
        run = self.runs.get(wid)
        if run is None:
            return
        run.interrupt(status, reason)
        self._wake_all(run)

    def _drop(self, wid: str) -> None:
        run = self.runs.get(wid)
        if run is None:
            return
        run.drop()
        self._wake_all(run)

    # --- polling and claiming ------------------------------------------------------------

    def _maybe_poll(self) -> None:
        now = self.clock.now()
        if self._next_due is not None and self._next_due <= now:
            self._dirty = True
        mono = time.monotonic()
        if mono < self._next_poll:
            return
        try:
            token = self.store.change_token()
        except Exception as exc:
            log.warning("legato: polling the store failed: %s", exc)
            token = None
        if token is None or token != self._token:
            self._token = token
            self._dirty = True
            self._poll = POLL_MIN
            if self.runs:
                self._check_cancels()
        else:
            self._poll = min(self._poll * 2, POLL_MAX)
        self._next_poll = mono + self._poll

    def _check_cancels(self) -> None:
        try:
            for wid in self.store.owned_cancels(self.worker_id):
                self._interrupt(wid, st.CANCELLED, "cancel requested")
        except Exception as exc:
            log.warning("legato: reading cancel requests failed: %s", exc)

    def _claim(self) -> None:
        names = list(self._names())
        room = self.room
        try:
            claimed = self.store.claim(self.worker_id, names, self.clock.now(), room)
        except Exception as exc:
            log.warning("legato: claiming work failed (will retry): %s", exc)
            self._poll = min(max(self._poll * 2, 0.05), RETRY_MAX)
            return
        for c in claimed:
            self._start(c)
        self._dirty = len(claimed) >= room
        self._next_due = None
        self._wake_stale = len(claimed) < room
        self._stale_at = time.monotonic() + WAKE_READ_DELAY
        if not claimed:
            self._refresh_next_due(after_empty_claim=True)
        # else: the next wake-up is read once the claimed runs have gone as far as they can
        # and WAKE_READ_DELAY has passed (a timer due meanwhile fires that much later)

    def _refresh_next_due(self, after_empty_claim: bool = False) -> None:
        self._wake_stale = False
        try:
            nxt = self.store.next_wake(list(self._names()))
        except Exception as exc:
            log.warning("legato: reading the next wake-up failed (will retry): %s", exc)
            self._wake_stale = True
            self._stale_at = time.monotonic() + min(max(self._poll, 0.05), RETRY_MAX)
            return
        self._next_due = nxt
        if nxt is None or nxt > self.clock.now():
            return
        if not after_empty_claim:
            self._dirty = True  # became due while we were busy: claim it
            return
        # due but not ours to take yet (a queue at its limit, a row locked for a moment):
        # look again in a quarter of a second of real time (the engine's clock may be a
        # frozen test clock); a run of ours ending, or another process's commit, sooner
        self._next_due = None
        self._token = None  # makes the next poll claim
        self._next_poll = min(self._next_poll, time.monotonic() + 0.25)

    def _start(self, c: Claimed) -> None:
        row = c.row
        old = self.runs.get(row.id)
        if old is not None:
            # claimed again (our lease was lost and the row released): the old run is
            # fenced by the new epoch; drop it and run the new claim
            self._drop(row.id)
        wdef = self.registry.find(row.name)
        if wdef is None:  # unregistered here; give it back
            self._finish_now(row.id, row.epoch)
            return
        start = c.journal[0] if c.journal else None
        run = Run(wdef, row.id, row.args(), c.journal, row.epoch, self.clock, row.deadline,
                  row.cancel_requested, inbox=c.inbox,
                  wakes_others=row.queue is not None or (
                      start is not None and "parent_id" in start.data),
                  history_limit=self.history_limit, max_payload=self.max_payload)
        self.runs[row.id] = run
        main = run.start(self.g)
        if row.deadline is not None:
            token = next(self._seq)
            heapq.heappush(self._clock_timers, (row.deadline, token, row.id, _DEADLINE))
        self.ready.append((main, None, None))

    def _finish_now(self, wid: str, epoch: int) -> None:
        release_run(self.store, wid, epoch, self.clock.now())
        self._dirty = True  # claimable now: by us too, once we have room

    # --- running workflows ---------------------------------------------------------------

    def _resume(self, fiber: Fiber, value: Any, exc: BaseException | None) -> None:
        run = fiber.owner
        self.running = (run, time.perf_counter())
        try:
            req = fiber.throw(exc) if exc is not None else fiber.switch(value)
        except BaseException as bug:  # the run catches everything; this is a legato bug
            log.exception("legato: workflow %s crashed the runtime", run.workflow_id)
            req = Final(st.FAILED, error=codec.encode_error(bug), detail="internal error")
        self.running = None
        if run.blocked and fiber is run.greenlet and not fiber.dead:
            self.ready.append((fiber, None, Blocked(run.blocked)))  # the watchdog caught it
            return
        if fiber.dead:
            run.fiber_ended(fiber)
            if fiber is run.greenlet:
                if isinstance(req, Final) and req.status == st.WAITING:
                    faults.hit("suspend")
                self.finals.append((run, req))
            else:  # a parallel branch ended
                self.ready.extend((f, None, None) for f in after_branch(fiber))
        elif (run.pending and req is not COMMIT and not isinstance(req, StartChild)
              and run.must_commit()):
            # what the run recorded (a step's result, say) becomes durable before it acts
            # on the world again; a run that ends or suspends writes it with its final state
            fiber.defer(req)
            self.commit_waiters.append(fiber)
        else:
            self._dispatch(fiber, req)

    def _dispatch(self, fiber: Fiber, req: Request) -> None:
        """Carry out what a parked fiber asked for (runtime/protocol.py: every kind)."""
        run = fiber.owner
        match req:
            case RunStep():
                self._run_step(fiber, req)
            case Commit():
                self.commit_waiters.append(fiber)
            case WaitUntil(when=when):
                if self._stopping:
                    self.ready.append((fiber, None, Suspend(when)))
                    return
                token = next(self._seq)
                fiber.await_timer(token)
                self._waiting[token] = fiber
                heapq.heappush(self._clock_timers, (when, token, run.workflow_id, _WAIT))
            case StartChild(new=new, started=started):
                local = self.room > 0 and self.registry.find(new.name) is not None
                new.owner = self.worker_id if local else None
                self.creates.append((new, started, fiber))
            case Take():
                try:
                    got = self.store.take(run.workflow_id, req.pos, req.conditions,
                                          self.clock.now(), req.register)
                except Exception as exc:  # suspend; a retry or the next wake-up asks again
                    log.warning("legato: reading deliveries for %s failed: %s",
                                run.workflow_id, exc)
                    got = None
                if got is not None:
                    faults.hit("after_take")  # delivered and taken, not yet journaled
                self.ready.append((fiber, got, None))
            case TaskOp():
                self.ready.append((fiber, task_op(self.store, self.clock.now(), req), None))
            case AwaitChild(child_id=child_id):
                try:
                    row = self.store.get(child_id)
                except Exception as exc:  # suspend; the child's end (or a retry) wakes us
                    log.warning("legato: reading child %s failed: %s", child_id, exc)
                    row = None
                ended = row is not None and row.status in st.TERMINAL
                self.ready.append((fiber, row if ended else None, None))
            case StartBranches(group=group):
                self.ready.extend((f, None, None) for f in begin(group, fiber))
            case _:  # pragma: no cover - the union is closed: mypy proves this unreachable
                assert_never(req)

    def _run_step(self, fiber: Fiber, req: RunStep) -> None:
        if faults.ARMED:
            faults.hit("before_step")
        token = next(self._seq)
        fiber.await_step(token)
        req.since = self.clock.now()
        sdef = req.sdef
        fn = sdef.fn
        abandon: Callable[[], None] | None = None
        if sdef.is_async:  # the loop enforces its timeout; heartbeats are checked here
            if sdef.circuit is not None:
                fn = guard_async(self.circuit_gate, sdef.circuit, sdef.retry, fn)
            abandon = self.async_runner.submit(fn, req, sdef.timeout, self._step_done,
                                               (fiber, token))
        elif not sdef.watched:  # nothing to watch: on this thread if it is quick (not for
            # an async workflow: its awaited sync steps run in the pool, as documented)
            if self.inline.runs_inline(sdef) and not fiber.owner.wdef.is_async:
                self._run_inline(fiber, token, req)
            else:
                self.pool.submit(fn, req, self._step_done, (fiber, token))
            return
        else:
            abandon = self._submit_watched(fiber, token, req)
            if sdef.timeout is not None:
                heapq.heappush(self._mono_timers,
                               (time.monotonic() + sdef.timeout, token, fiber, _TIMEOUT,
                                abandon))
        if sdef.heartbeat_timeout is not None:
            req.beat = now = time.monotonic()
            heapq.heappush(self._mono_timers, (now + sdef.heartbeat_timeout,
                                               token, fiber, _HEARTBEAT, abandon))

    def _run_inline(self, fiber: Fiber, token: int, req: RunStep) -> None:
        """Run a quick step here, on the hub's thread (legato.worker.inline)."""
        sdef = req.sdef
        req.inline = True
        collections = COLLECTIONS.runs
        began = time.perf_counter()
        self.inline_step = (sdef.name, began)
        try:
            out = StepOutcome(True, run_step_fn(sdef.fn, req))
        except NotInline:  # it waits on legato: run it again where it may wait
            self.inline_step = None
            req.inline = False
            self.inline.refused(sdef)
            log.info("legato: step %r waits on legato inside; it runs in the step pool",
                     sdef.name)
            self.pool.submit(sdef.fn, req, self._step_done, (fiber, token))
            return
        except BaseException as exc:
            out = StepOutcome(False, error=exc, heartbeat=req.details)
        self.inline_step = None
        req.inline = False
        took = time.perf_counter() - began
        if took >= self.inline.quick:
            self.inline.ran_inline(sdef, took, collections)
        if faults.ARMED:
            faults.hit("after_step")
        self._step_ended(fiber, token, out)

    def _submit_watched(self, fiber: Fiber, token: int, req: RunStep) -> Callable[[], None]:
        """Submit a sync step with a timeout, heartbeats or a circuit breaker; returns how to
        abandon it."""
        sdef = req.sdef
        fn = sdef.fn
        gone: list[bool] = []
        if sdef.circuit is not None:
            fn = guard_sync(self.circuit_gate, sdef.circuit, sdef.retry, fn,
                            lambda: bool(gone))
        self.pool.submit(fn, req, self._step_done, (fiber, token))

        def abandon() -> None:
            gone.append(True)
            self.pool.abandon(req)
            if sdef.circuit is not None:  # an overrun counts against the dependency
                self.circuit_gate.record(sdef.circuit, False)

        return abandon

    def _step_done(self, tag: tuple[Fiber, int], outcome: StepOutcome) -> None:
        """Called in the step's thread when it returned or raised."""
        if faults.ARMED:
            faults.hit("after_step")
        self.inbox.put(StepEnded(tag[0], tag[1], outcome))

    def _flush(self) -> None:
        if not self.commit_waiters and not self.finals and not self.creates:
            return
        creates, self.creates = self.creates, []
        writes: list[Write] = []
        seen: set[str] = set()
        fibers = self.commit_waiters
        if creates:
            fibers = [*fibers, *(f for _, _, f in creates)]
        for fiber in fibers:
            run = fiber.owner
            wid = run.workflow_id
            if wid not in seen:
                seen.add(wid)
                writes.append(Write(wid, run.epoch, run.take_pending()))
        finals = [(t, f) for t, f in self.finals if f.status is not None]
        for run, f in finals:
            if f.status == st.CANCELLED and run.cancel == (st.CANCELLED, "cancel requested"):
                self._name_canceller(run)
            writes.append(Write(run.workflow_id, run.epoch, run.take_pending(), status=f.status,
                                result=f.result, error=f.error, detail=f.detail,
                                wake_at=f.wake_at, release=True,
                                await_children=f.await_children,
                                await_positions=f.await_positions))
        done = commit_batch(self.store, self.clock, writes,
                            [(n, e, f.owner.workflow_id) for n, e, f in creates],
                            self._failure_write)
        result = done.result
        if done.failed:  # ended in the store: unwind them here without writing more
            result.fenced |= done.failed.keys()
        for new, started, parent in creates:
            if parent.owner.workflow_id in result.fenced:
                self.ready.append((parent, None, LeaseLost()))
                continue
            row, created = result.created[new.id]
            if created and row.owner == self.worker_id:
                self._start(Claimed(row, [started]))
            elif created:
                self._dirty = True  # queued (or no room): claim it the normal way
            self.ready.append((parent, (row, created), None))
        waiters, self.commit_waiters = self.commit_waiters, []
        all_finals, self.finals = self.finals, []
        fenced, cancels = result.fenced, result.cancel_requested
        ready, dispatch = self.ready, self._dispatch
        for fiber in waiters:
            run = fiber.owner
            req = fiber.take_deferred()
            if fenced and run.workflow_id in fenced:
                ready.append((fiber, None, LeaseLost()))
                continue
            if cancels and run.workflow_id in cancels:
                run.interrupt(st.CANCELLED, "cancel requested")
            if req is not None:  # what it asked for while its records were not yet durable
                dispatch(fiber, req)
            else:  # it asked for the commit itself
                ready.append((fiber, None, None))
        for run, f in all_finals:
            if self.runs.get(run.workflow_id) is run:
                del self.runs[run.workflow_id]
            run.dispose()
            if f.status is not None and run.workflow_id not in result.fenced:
                if f.status == st.WAITING and f.wake_at is not None:
                    # our own commit does not show in change_token: remember the wake-up
                    due = self._next_due
                    self._next_due = f.wake_at if due is None else min(due, f.wake_at)
                if f.status == st.COMPLETED and self.on_completed is not None:
                    self.on_completed(run.workflow_id, run.wdef.name, f.result)
                elif f.status == st.FAILED:
                    err = f.error or {}
                    ops.info("legato: run %s (%s) failed: %s: %s", run.workflow_id,
                             run.wdef.name, err.get("type"), err.get("message"))
                self.on_done(run.workflow_id, f.status)
                if f.status in st.TERMINAL and run.wakes_others:
                    self._dirty = True  # its parent was woken, or a queue slot freed
        for wid in done.failed:
            self.on_done(wid, st.FAILED)

    def _name_canceller(self, run: Run) -> None:
        """Who asked for the run's cancel (``engine.cancel(actor=...)``, kept on its row)
        goes into its WorkflowCancelled event, about to be written. Not a CancelRequested
        event when it was asked: the journal is the owner's alone to append to while the run
        is live (a write from outside would take a position the owner is about to use)."""
        try:
            actor = self.store.cancel_actor(run.workflow_id)
        except Exception as exc:  # the event goes without it; the cancel itself stands
            log.warning("legato: reading who cancelled %s failed: %s", run.workflow_id, exc)
            return
        if actor is None:
            return
        for e in reversed(run.pending):
            if e.type == WORKFLOW_CANCELLED:
                e.data = {**e.data, "actor": actor}
                e.raw = None
                return

    def _failure_write(self, w: Write, refused: BaseException) -> Write:
        """What ends a run whose write the store refuses: FAILED, with what it said."""
        # the status alone: writing to the journal may be exactly what the store refuses
        err = {"type": "legato.errors.RecordRefused",
               "message": f"legato could not record this run's progress: {refused}"}
        return Write(w.workflow_id, w.epoch, [], status=st.FAILED, error=err,
                     detail="internal error", release=True)

    # --- stopping ------------------------------------------------------------------------

    def _begin_stop(self, grace: float) -> None:
        self._stopping = True
        self._stop_deadline = time.monotonic() + grace
        for run in list(self.runs.values()):
            run.release()
            for fiber in list(run.fibers):
                token = fiber.wait_token
                if token is not None and fiber.timer_fired(token):
                    self._waiting.pop(token, None)
                    when = fiber.parked.when if isinstance(fiber.parked, WaitUntil) else None
                    self.ready.append((fiber, None, Suspend(when)))


__all__ = ["Cancelled", "Hub"]
