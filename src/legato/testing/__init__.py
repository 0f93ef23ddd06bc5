"""Helpers for testing workflows: a virtual clock that jumps, and a driver that skips waits."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from legato.clock import ManualClock
from legato.domain import status as st
from legato.handle import WorkflowHandle

if TYPE_CHECKING:
    from legato.engine import Engine


class VirtualClock(ManualClock):
    """A clock for tests: time stands still until ``advance()`` or ``set()`` moves it.

    >>> clock = VirtualClock()
    >>> engine = legato.Engine("sqlite:///t.db", clock=clock)
    >>> # ... start a workflow that sleeps a week, then:
    >>> clock.advance(timedelta(days=7))   # the worker wakes it at once
    """


def run_to_completion(handle: WorkflowHandle, clock: ManualClock,
                      timeout: float = 10.0) -> Any:
    """Run a workflow to its end, jumping ``clock`` to the next timer whenever nothing else
    can progress.

    A timer is anything due at a time of the engine's clock: a retry backoff, a sleep, a
    wait's timeout, a deadline, a human task's due date — kept in memory by a worker (a
    second or less) or written to the store by a suspended run, of this run or any other
    (a child's sleep passes while its parent waits for it). "Nothing else can progress"
    means every worker on ``clock`` is idle (no run to resume, no commit, no step running,
    no work to claim) and no stored wake-up is due. A step that runs is real time: the
    clock never jumps meanwhile, and its ``timeout`` and ``heartbeat_timeout`` count real
    seconds. Returns the result (or raises like ``handle.result``). ``timeout`` bounds real
    time.
    """
    engine = handle._engine
    end = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < end:
        row = engine.store.get(handle.workflow_id)
        if row is not None and row.status in st.TERMINAL:
            return handle.result(timeout=0.1)
        due = next_timer(engine, clock)
        if due is not None and due > clock.now():
            clock.set(due)
            delay = 0.001
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return handle.result(timeout=0.1)


def next_timer(engine: Engine, clock: ManualClock) -> float | None:
    """The time of the next timer when nothing can progress before it, else None (something
    is running or due now, or there is no timer at all)."""
    timers: list[float] = []
    for source in clock.timer_sources():  # the workers on this clock: in-memory timers
        t = source.idle_until(1.0)
        if t is None:
            return None  # busy
        timers.append(t)
    # read after the workers: what they suspended or ended meanwhile is in the store
    durable = engine.store.next_wake(engine.registry.names())
    if durable is not None:
        timers.append(durable)
    due = min(timers, default=math.inf)
    return None if due == math.inf else due


from legato.testing.replay import ReplayResult, export_history, replay  # noqa: E402

__all__ = ["ReplayResult", "VirtualClock", "export_history", "replay", "run_to_completion"]
