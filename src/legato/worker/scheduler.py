"""Fires durable cron schedules: every worker runs one; each tick runs exactly once (the
store advances a schedule and creates its runs in one transaction, guarded by the tick)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from legato.clock import Clock
from legato.domain import events as ev
from legato.domain.events import Event
from legato.domain.schedule import due_ticks
from legato.runtime import codec
from legato.store.base import NewWorkflow, ScheduleRow, Store

log = logging.getLogger("legato.schedules")
IDLE = 5.0  # re-read the schedules at least this often (others may add or change them)


def run_id(schedule: str, tick: float) -> str:
    """The id of a schedule's run for one tick: the same on every worker."""
    return f"{schedule}@{datetime.fromtimestamp(tick, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


class Scheduler:
    def __init__(self, store: Store, clock: Clock, on_runs: Callable[[], None]) -> None:
        self.store = store
        self.clock = clock
        self.on_runs = on_runs
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="legato-scheduler",
                                        daemon=True)

    def start(self) -> None:
        self.clock.add_listener(self.poke)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self.clock.remove_listener(self.poke)
        self._wake.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop:
            wait = IDLE
            try:
                self.fire_due()
                nxt = self.store.next_schedule_tick()
                if nxt is not None:
                    wait = min(IDLE, max(nxt - self.clock.now(), 0.0))
            except Exception as exc:
                log.warning("legato: firing schedules failed (will retry): %s", exc)
            self._wake.wait(max(wait, 0.001))
            self._wake.clear()

    def fire_due(self) -> int:
        """Create the runs of every due schedule; returns how many were created."""
        now = self.clock.now()
        created = 0
        for s in self.store.due_schedules(now):
            try:
                ticks, nxt = due_ticks(s.cron, s.timezone, s.catch_up, s.next_tick, now)
            except (ValueError, KeyError) as exc:  # stored before crons were checked
                log.error("legato: schedule %s has a cron that cannot run (%r: %s: %s); it is"
                          " paused, the others go on: create it again with a valid cron",
                          s.name, s.cron, type(exc).__name__, exc)
                self.store.set_schedule_paused(s.name, True, None, now)
                continue
            runs = [self._run(s, t, now) for t in ticks]
            if self.store.advance_schedule(s.name, s.next_tick, nxt,
                                           ticks[-1] if ticks else None, runs, now):
                created += len(runs)
                if len(ticks) > 1 or (ticks and not runs):
                    log.info("legato: schedule %s caught up %d tick(s)", s.name, len(ticks))
        if created:
            self.on_runs()
        return created

    @staticmethod
    def _run(s: ScheduleRow, tick: float, now: float) -> tuple[NewWorkflow, Event]:
        wid = run_id(s.name, tick)
        data = {"input": s.args, "schedule": s.name, "tick": tick}
        return (NewWorkflow(id=wid, name=s.workflow, input=codec.dumps(s.args), now=now),
                Event(1, ev.WORKFLOW_STARTED, now, name=s.workflow, data=data))

