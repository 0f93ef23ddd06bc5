"""Named fault points, so tests can crash the process at exact places without mocks.

Arm a point with the environment variable ``LEGATO_FAULTS`` (read at import) or with
:func:`arm`. ``LEGATO_FAULTS="after_step:3"`` kills the process with SIGKILL the third time
the point ``after_step`` is reached; ``"hub_turn:3:raise"`` raises :class:`InjectedFault`
there instead (a defect in legato's own code); several points are comma-separated.

Points: ``before_step`` (a step is about to run), ``in_step`` (inside the step's thread,
before user code), ``after_step`` (the step returned, its result not yet committed),
``before_commit`` / ``after_commit`` (around a group commit), ``suspend`` (a workflow
is about to suspend for a timer), ``after_take`` (an event or signal was taken for a wait
but the workflow has not journaled it yet), ``hub_turn`` (each turn of a worker's hub loop),
``worker_start`` (a worker registered, before its threads start).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

_lock = threading.Lock()
_armed: dict[str, tuple[int, Callable[[], None]]] = {}
_hits: dict[str, int] = {}
#: any point armed at all: hot paths test this before calling :func:`hit`
ARMED = False


class InjectedFault(RuntimeError):
    """Raised at an armed point whose action is ``raise``: stands for a bug in legato."""


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def raise_fault(point: str) -> Callable[[], None]:
    """An action that raises :class:`InjectedFault` naming ``point``."""
    def action() -> None:
        raise InjectedFault(f"fault injected at {point}")

    return action


def arm(point: str, nth: int = 1, action: Callable[[], None] = _kill) -> None:
    """Run ``action`` (default: SIGKILL this process) the ``nth`` time ``point`` is hit."""
    global ARMED
    with _lock:
        _armed[point] = (nth, action)
        _hits[point] = 0
        ARMED = True


def disarm(point: str | None = None) -> None:
    global ARMED
    with _lock:
        if point is None:
            _armed.clear()
            _hits.clear()
        else:
            _armed.pop(point, None)
        ARMED = bool(_armed)


def hit(point: str) -> None:
    """Mark that execution reached ``point``; fire its action if armed for this hit."""
    if not _armed:
        return
    with _lock:
        entry = _armed.get(point)
        if entry is None:
            return
        _hits[point] = n = _hits.get(point, 0) + 1
        if n != entry[0]:
            return
    entry[1]()


def _from_env() -> None:
    spec = os.environ.get("LEGATO_FAULTS", "")
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, rest = part.partition(":")
        count, _, how = rest.partition(":")
        arm(name, int(count) if count else 1, raise_fault(name) if how == "raise" else _kill)


_from_env()
