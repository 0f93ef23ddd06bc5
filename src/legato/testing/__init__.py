"""Helpers for testing workflows: a virtual clock that jumps."""

from __future__ import annotations

from legato.clock import ManualClock


class VirtualClock(ManualClock):
    """A clock for tests: time stands still until ``advance()`` or ``set()`` moves it.

    >>> clock = VirtualClock()
    >>> engine = legato.Engine("sqlite:///t.db", clock=clock)
    >>> # ... start a workflow that sleeps a week, then:
    >>> clock.advance(timedelta(days=7))   # the worker wakes it at once
    """


__all__ = ["VirtualClock"]
