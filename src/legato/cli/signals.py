"""Waiting in the main thread for SIGINT/SIGTERM, safely.

A Python signal handler runs in the main thread between two bytecodes, possibly while that
thread holds a lock. One that calls ``threading.Event.set()`` while the main thread waits in
``Event.wait()`` can meet the Event's own lock already held (the wait takes it back when its
timeout ends) and block for ever: the process then ignores SIGTERM until it is killed. So the
handler here only appends to a list and, on a second signal, writes with ``os.write`` and
leaves with ``os._exit``; the main thread polls the list between short sleeps (a signal cuts
a sleep short only to run the handler, so a stop is seen within one poll).
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import time
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """``with StopSignals() as stop: ...; stop.wait()`` — the first SIGINT/SIGTERM asks the
    main thread to stop; with ``second_exit`` set, a second one ends the process at once with
    that exit code (after writing ``second_message`` to stderr). Handlers are restored on exit.
    """

    def __init__(self, second_exit: int | None = None, second_message: str = "",
                 signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.seen: list[int] = []
        self.second_exit = second_exit
        self.second_message = second_message.encode()
        self.signals = signals
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.seen.append(signum)  # no lock: list.append is one bytecode's work
        if self.second_exit is not None and len(self.seen) > 1:
            if self.second_message:
                os.write(2, self.second_message)
            os._exit(self.second_exit)

    def __enter__(self) -> StopSignals:
        for s in self.signals:
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return bool(self.seen)

    @property
    def name(self) -> str:
        """The name of the first signal received ("signal" if none was)."""
        return signal.Signals(self.seen[0]).name if self.seen else "signal"

    def wait(self, poll: float = 0.1) -> int:
        """Sleep until a stop signal has been received; returns its number."""
        while not self.seen:
            time.sleep(poll)
        return self.seen[0]


@contextlib.contextmanager
def stacks_on_request(sig: signal.Signals = signal.SIGUSR1) -> Iterator[None]:
    """While inside, ``kill -USR1 <pid>`` prints every thread's stack to stderr (faulthandler,
    which writes from C without taking any lock) and the process carries on."""
    faulthandler.register(sig, all_threads=True)
    try:
        yield
    finally:
        faulthandler.unregister(sig)


__all__ = ["STOP_SIGNALS", "StopSignals", "stacks_on_request"]
