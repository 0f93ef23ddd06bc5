"""A worker: registers itself under a lease, runs a hub, heartbeats and reaps dead peers."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import assert_never

from legato.clock import Clock
from legato.domain import status as st
from legato.domain.events import Event
from legato.domain.queue import QUEUES
from legato.domain.schedule import next_tick
from legato.runtime import faults
from legato.runtime.registry import Registry
from legato.runtime.run import Run
from legato.store.base import (
    HOST,
    Claimed,
    NewWorkflow,
    ScheduleRow,
    Store,
    WorkerInfo,
    WorkflowRow,
)
from legato.worker.commands import (
    DROP_ALL,
    Adopt,
    Cancel,
    Drop,
    DropAll,
    Poke,
    PokeScheduler,
    Stop,
    WorkerCommand,
)
from legato.worker.commit import release_run
from legato.worker.hub import Hub
from legato.worker.inline import InlinePolicy
from legato.worker.pool import AsyncRunner, StepPool
from legato.worker.scheduler import Scheduler
from legato.worker.settings import DEFAULTS, WorkerSettings

log = logging.getLogger("legato.worker")
#: taking over dead workers' runs, one line each time
recovery = logging.getLogger("legato.worker.recovery")
EXPIRY_EVERY = 60.0  # seconds between sweeps of expired buffered events
PURGE_EVERY = 600.0  # seconds between retention sweeps (one batch per heartbeat while behind)
PURGE_BATCH = 500  # ended runs deleted per transaction
BLOCKED_WARNING = 1.0  # seconds a step may hold the hub's thread before it is reported


class Worker:
    """Owns the threads that execute workflows for one engine in one process: the engine's
    :class:`~legato.worker.workers.Workers` when they run in its own process."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        clock: Clock,
        settings: WorkerSettings = DEFAULTS,
        *,
        on_done: Callable[[str, str], None] = lambda wid, status: None,
        on_completed: Callable[[str, str, str | None], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.settings = settings
        #: seconds a workflow body may hold the hub's thread without parking (None: no limit)
        self.watchdog = settings.watchdog
        self.retention = settings.retention  # ended runs older than this are purged
        self.store = store
        self.registry = registry
        self.clock = clock
        self.lease = settings.lease
        self.id = f"{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        inline_steps = settings.inline_steps
        inline = InlinePolicy(inline_steps)
        self.pool = StepPool(settings.step_threads,
                             observe=inline.ran_in_pool if inline_steps else None)
        self.async_runner = AsyncRunner()
        self.hub = Hub(store, registry, clock, self.id, concurrency=settings.concurrency,
                       pool=self.pool, async_runner=self.async_runner, on_done=on_done,
                       on_completed=on_completed, inline=inline,
                       history_limit=settings.history_limit, max_payload=settings.max_payload)
        self._stop = threading.Event()
        self._hub_thread = threading.Thread(target=self._run_hub, name="legato-hub",
                                            daemon=True)
        #: why the hub died (a defect in legato: user code cannot kill it); None while fine
        self.failure: BaseException | None = None
        self._on_failure = on_failure
        self._hb_thread = threading.Thread(target=self._heartbeat, name="legato-heartbeat",
                                           daemon=True)
        self._info: WorkerInfo | None = None
        self.scheduler = Scheduler(store, clock, self.hub.poke)
        self.started = False

    @property
    def hub_alive(self) -> bool:
        return self.started and self._hub_thread.is_alive() and not self.hub.stopped

    def _run_hub(self) -> None:
        try:
            self.hub.run()
        except BaseException as exc:
            self._hub_died(exc)

    def _hub_died(self, exc: BaseException) -> None:
        """A dead hub holds no lease: stop renewing at once, give every run back for other
        workers to take over, stop the step threads, and tell the owner (an engine stops
        and reports itself unhealthy, ``legato worker`` exits non-zero, a worker process is
        replaced)."""
        self.failure = exc
        log.critical("legato: worker %s stopped: its hub died of an internal error (a bug in"
                     " legato, not in your code); its runs are released to other workers",
                     self.id, exc_info=exc)
        self._stop.set()  # the heartbeat renews nothing from now on
        self._quiesce()
        self._deregister()  # if it fails, its lease runs out and another worker reaps it
        if self._on_failure is not None:
            try:
                self._on_failure(exc)
            except Exception:
                log.exception("legato: reporting the failure of worker %s failed", self.id)

    def _quiesce(self) -> None:
        """Stop everything that feeds the hub (callable from any thread, the hub's too)."""
        self._unhook()
        self.scheduler.stop()

    def _unhook(self) -> None:
        """Stop hearing the clock and the store's wake-ups."""
        self.clock.remove_listener(self.hub.poke)
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()

    def _deregister(self) -> None:
        """Remove this worker's row, releasing (fenced) whatever it still owns."""
        try:
            self.store.remove_worker(self.id, self.clock.now())
        except Exception as exc:
            log.warning("legato: deregistering worker %s failed: %s", self.id, exc)

    def adopt(self, workflow_id: str) -> None:
        """Run a workflow born owned by this worker in another process (an engine with
        worker processes hands its starts over so); the hub gives it back for any worker to
        claim if it has no room."""
        row = self.store.get(workflow_id)
        if row is None or row.owner != self.id or row.status not in st.ACTIVE:
            return
        if not self.hub_alive:
            release_run(self.store, row.id, row.epoch, self.clock.now())
            return
        self.hub.post(Adopt(workflow_id, Claimed(row, self.store.journal(workflow_id))))

    # --- the engine's Workers ------------------------------------------------------------

    @property
    def worker_id(self) -> str:
        return self.id

    @property
    def ids(self) -> list[str]:
        return [self.id]

    @property
    def pids(self) -> list[int]:
        return []  # no worker processes: it runs in this one

    #: every run it ends is reported to the engine as it commits (a call, not a message)
    reports_every_end = True

    def steps_in_flight(self, workflow_id: str) -> list[tuple[str, int, float, float | None]]:
        return self.hub.steps_in_flight(workflow_id)

    def send(self, command: WorkerCommand) -> None:
        """Carry out ``command`` (from any thread): hub commands go to its inbox."""
        match command:
            case Adopt(claimed=None):  # handed over by id (over a worker process's pipe)
                self.adopt(command.workflow_id)
            case Adopt() | Drop() | DropAll():
                self.hub.post(command)
            case Poke():
                self.hub.poke()
            case Cancel():
                self.hub.post(command)
                self.hub.poke()  # a suspended run is woken to be cancelled: claim it now
            case PokeScheduler():
                self.scheduler.poke()
            case _:
                assert_never(command)

    def owner_for_new_run(self, given: int) -> str | None:
        """This worker while its hub has room (a run started in its process is born owned by
        it and handed straight to the hub: no claim round trip)."""
        return self.id if self.hub.room > given and self.hub_alive else None

    def hand_over(self, runs: Sequence[tuple[NewWorkflow, Event]],
                  results: Sequence[tuple[WorkflowRow, bool]]) -> bool:
        """Hand the hub the created runs born owned by this worker; True if others were
        created (left to claim)."""
        others = False
        post = self.hub.post
        for (new, started), (row, created) in zip(runs, results, strict=True):
            if created and new.owner is not None:
                post(Adopt(row.id, Claimed(row, [started])))
            elif created:
                others = True
        return others

    def _new_info(self) -> WorkerInfo:
        now = time.time()
        return WorkerInfo(self.id, HOST, os.getpid(), now, now + self.lease)

    def _reap(self) -> int:
        """Release the runs of dead workers for any worker to take over (fenced); says in the
        log how many, and whose. Returns how many."""
        dead: list[WorkerInfo] = []
        freed = self.store.reap(self.id, time.time(), self.clock.now(), on_reaped=dead.append)
        if freed or dead:
            whose = ", ".join(f"{w.id} (pid {w.pid} on {w.host})" for w in dead) or \
                "workers no longer registered"
            recovery.info("legato: %d run(s) of dead worker(s) %s released by worker %s for"
                          " any worker to take over", freed, whose, self.id)
        return freed

    def start(self) -> None:
        """Register, recover what dead workers left, declare schedules and queues, start the
        threads. A failure on the way undoes what was done (no worker row, no thread is left
        behind) and is raised."""
        self._info = self._new_info()
        self.store.register_worker(self._info)
        try:
            self.store.record_names(self.registry.names(), time.time())
            # recover what dead workers left behind
            self._reap()
            self._declare_schedules()
            self._declare_queues()
            if faults.ARMED:
                faults.hit("worker_start")
            self.clock.add_listener(self.hub.poke)
            self._unsubscribe = self.store.subscribe(self.hub.poke)
            self._hub_thread.start()
            self._hb_thread.start()
            self.scheduler.start()
        except BaseException:
            self._undo_start()
            raise
        self.started = True

    def _undo_start(self) -> None:
        self._unhook()  # the scheduler is the last thing started: nothing to stop there
        if self._hub_thread.is_alive():
            self.hub.post(Stop(0.0))
            self._hub_thread.join(5)
        self._stop.set()
        if self._hb_thread.is_alive():
            self._hb_thread.join(5)
        self._deregister()
        self.pool.shutdown(wait=5.0)  # nothing ran on them: they end at once
        self.async_runner.shutdown()

    def _declare_queues(self) -> None:
        for q in list(QUEUES.values()):
            self.store.put_queue(q.name, q.concurrency, q.rate, q.per_key_concurrency,
                                 self.clock.now())

    def _declare_schedules(self) -> None:
        """Schedules declared on ``@legato.workflow(schedule=...)`` are stored (and updated
        when the code changes them)."""
        for wdef in self.registry.defs():
            s = wdef.schedule
            if s is not None:
                row = ScheduleRow(name=s.name or wdef.name, workflow=wdef.name, cron=s.cron,
                                  timezone=s.timezone, catch_up=s.catch_up, args=list(s.args),
                                  paused=False,
                                  next_tick=next_tick(s.cron, s.timezone, self.clock.now()))
                self.store.put_schedule(row, self.clock.now())

    def _purge_old(self) -> bool:
        """One batch of the retention sweep; True if there may be more."""
        assert self.retention is not None
        try:
            gone = self.store.purge(self.clock.now() - self.retention, sorted(st.TERMINAL),
                                    PURGE_BATCH)
        except Exception as exc:
            log.warning("legato: purging old runs failed (will retry): %s", exc)
            return False
        if gone:
            log.info("legato: purged %d runs that ended over %gs ago", len(gone),
                     self.retention)
        return len(gone) == PURGE_BATCH

    def _check_inline_step(self, warned: tuple[str, float] | None) -> tuple[str, float] | None:
        """Warn (once per run) about a step blocking the hub's thread for a second or more;
        returns the run warned about."""
        running = self.hub.inline_step
        if running is None or running == warned:
            return warned
        took = time.perf_counter() - running[1]
        if took < BLOCKED_WARNING:
            return warned
        log.warning("legato: step %r has been running on worker %s's own thread for %.1fs:"
                    " no other run of this worker progresses meanwhile; a step that can"
                    " block needs a timeout or @legato.step(inline=False)", running[0],
                    self.id, took)
        return running

    def _check_blocked(self, caught: Run | None) -> Run | None:
        """The watchdog: a workflow body that has held the hub's thread past the limit
        without parking (a busy loop, a long computation) cannot be preempted, so the
        worker's other runs are handed to other workers, and the run fails when it parks.
        Returns the run caught (each is acted on once)."""
        running = self.hub.running
        if running is None or self.watchdog is None or running[0] is caught:
            return caught
        run, began = running
        took = time.perf_counter() - began
        if took < self.watchdog or run.replaying:  # a long replay is not a busy loop
            return caught
        frame = sys._current_frames().get(self._hub_thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
        log.error("legato: workflow %s (%s) has run %.1fs on worker %s without parking at a"
                  " step or a wait; its other runs go to other workers and it fails when it"
                  " parks. Its stack:\n%s", run.workflow_id, run.wdef.name, took, self.id,
                  stack)
        run.caught_blocking(took)
        try:
            released = self.store.release_all_but(self.id, run.workflow_id, self.clock.now())
        except Exception as exc:
            log.warning("legato: releasing the runs held up by %s failed: %s",
                        run.workflow_id, exc)
            released = []
        for wid in released:
            self.hub.post(Drop(wid))  # fenced already; the hub forgets them when it can
        return run

    def _heartbeat(self) -> None:
        interval = self.lease / 3
        tick = interval if self.watchdog is None else min(interval, self.watchdog / 2)
        next_renew = 0.0
        next_expiry = 0.0
        next_purge = 0.0
        warned: tuple[str, float] | None = None
        caught: Run | None = None
        while not self._stop.wait(tick):
            if not self._hub_thread.is_alive():
                return  # never renew the lease of a hub that is gone
            caught = self._check_blocked(caught)
            if time.monotonic() < next_renew:
                continue
            next_renew = time.monotonic() + interval - tick / 2
            warned = self._check_inline_step(warned)
            if time.monotonic() >= next_expiry:  # buffered events past their time-to-live
                next_expiry = time.monotonic() + EXPIRY_EVERY
                try:
                    self.store.expire_events(self.clock.now())
                except Exception as exc:
                    log.warning("legato: expiring old events failed: %s", exc)
            try:
                if not self.store.renew_worker(self.id, time.time() + self.lease):
                    log.warning("legato: worker %s was declared dead; re-registering", self.id)
                    self.hub.post(DROP_ALL)
                    self.store.register_worker(self._new_info())
                if self._reap():
                    self.hub.poke()
            except Exception as exc:
                log.warning("legato: heartbeat failed (will retry): %s", exc)
            # after the lease is renewed, so that a long sweep cannot cost it; on the engine's
            # clock, as the age of a run is (a test clock that jumps a day makes it due at once)
            if self.retention is not None and self.clock.now() >= next_purge:
                more = self._purge_old()
                # a short retention is kept to as closely (a sweep per heartbeat at most)
                pause = min(PURGE_EVERY, self.retention)
                next_purge = self.clock.now() + (0.0 if more else pause)

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming; let running steps finish (up to ``grace`` s, default the settings'
        ``grace``); release the rest."""
        if not self.started:
            return
        self.started = False
        grace = self.settings.grace if grace is None else grace
        if self.failure is None:
            self._quiesce()
        self.hub.post(Stop(grace))
        self._hub_thread.join(grace + 5)
        self._stop.set()
        self._hb_thread.join(5)
        self._deregister()
        self.pool.shutdown()
        self.async_runner.shutdown()
