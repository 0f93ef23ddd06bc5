"""Helpers for testing workflows: a virtual clock that jumps, and a driver that skips waits."""

from __future__ import annotations

import time
from typing import Any

from legato.clock import ManualClock
from legato.domain import status as st
from legato.handle import WorkflowHandle


class VirtualClock(ManualClock):
    """A clock for tests: time stands still until ``advance()`` or ``set()`` moves it.

    >>> clock = VirtualClock()
    >>> engine = legato.Engine("sqlite:///t.db", clock=clock)
    >>> # ... start a workflow that sleeps a week, then:
    >>> clock.advance(timedelta(days=7))   # the worker wakes it at once
    """


def run_to_completion(handle: WorkflowHandle, clock: ManualClock,
                      timeout: float = 10.0) -> Any:
    """Run a workflow to its end, jumping ``clock`` to each durable wait's wake-up time.

    While the run waits without a time of its own (for a child workflow, say), the clock
    jumps to the next durable timer of any run instead, so a child's sleep passes too.
    Returns the result (or raises like ``handle.result``). ``timeout`` bounds real time.
    """
    engine = handle._engine
    end = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < end:
        row = engine.store.get(handle.workflow_id)
        if row is not None and row.status in st.TERMINAL:
            return handle.result(timeout=0.1)
        if row is not None and row.status == st.WAITING and row.owner is None:
            due = row.wake_at
            if due is None:
                due = engine.store.next_wake(engine.registry.names())
            if due is not None and due > clock.now():
                clock.set(due)
                delay = 0.001
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return handle.result(timeout=0.1)


from legato.testing.replay import ReplayResult, replay  # noqa: E402

__all__ = ["ReplayResult", "VirtualClock", "replay", "run_to_completion"]
