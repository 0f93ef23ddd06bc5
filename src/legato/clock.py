"""Clocks. The engine reads time only through one, so tests can jump it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class TimerSource(Protocol):
    """Something that keeps timers on a clock in memory (a worker's hub)."""

    def idle_until(self, timeout: float) -> float | None:
        """When nothing of it can progress before a timer: the earliest of its timers
        (``math.inf``: none); None while it has work to do (or gave no answer in
        ``timeout`` seconds of real time)."""
        ...


class Clock(Protocol):
    """Wall-clock seconds since the epoch, plus a way to learn that time jumped."""

    def now(self) -> float: ...

    def add_listener(self, callback: Callable[[], None]) -> None: ...

    def remove_listener(self, callback: Callable[[], None]) -> None: ...


class SystemClock:
    """The real clock (``time.time``)."""

    def now(self) -> float:
        return time.time()

    def add_listener(self, callback: Callable[[], None]) -> None:
        return None

    def remove_listener(self, callback: Callable[[], None]) -> None:
        return None


class ManualClock:
    """A clock that only moves when told to; listeners hear every jump.

    The workers using it register as *timer sources* (their in-memory timers: retry
    backoffs, short sleeps, deadlines of runs in memory), so that a test driver
    (``legato.testing.run_to_completion``) can tell when nothing can progress before the
    next timer, and jump to it.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._sources: list[TimerSource] = []

    def now(self) -> float:
        return self._now

    def add_listener(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def add_timer_source(self, source: TimerSource) -> None:
        with self._lock:
            self._sources.append(source)

    def remove_timer_source(self, source: TimerSource) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def timer_sources(self) -> list[TimerSource]:
        """The workers keeping timers on this clock in memory now."""
        with self._lock:
            return list(self._sources)

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (a ``timedelta`` works too) and wake the engine."""
        secs = seconds.total_seconds() if hasattr(seconds, "total_seconds") else float(seconds)
        if secs < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += secs
            listeners = list(self._listeners)
        for cb in listeners:
            cb()
        return self._now

    def set(self, when: float) -> None:
        """Jump to the absolute time ``when`` (never backwards)."""
        self.advance(max(0.0, when - self._now))
