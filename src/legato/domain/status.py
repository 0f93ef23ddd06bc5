"""Workflow statuses and their legal transitions."""

from __future__ import annotations

from typing import Final

PENDING: Final = "PENDING"
RUNNING: Final = "RUNNING"
WAITING: Final = "WAITING"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
CANCELLED: Final = "CANCELLED"
TIMED_OUT: Final = "TIMED_OUT"

ALL: Final = (PENDING, RUNNING, WAITING, COMPLETED, FAILED, CANCELLED, TIMED_OUT)
ACTIVE: Final = frozenset({PENDING, RUNNING, WAITING})
TERMINAL: Final = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})

# from -> allowed targets. A terminal workflow never changes again (retry, a later
# capability, re-opens FAILED explicitly).
_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({RUNNING, WAITING, CANCELLED, TIMED_OUT, FAILED, COMPLETED}),
    RUNNING: frozenset({RUNNING, WAITING, COMPLETED, FAILED, CANCELLED, TIMED_OUT, PENDING}),
    WAITING: frozenset({RUNNING, CANCELLED, TIMED_OUT, FAILED, PENDING}),
    COMPLETED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
    TIMED_OUT: frozenset(),
}


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def can_transition(src: str, dst: str) -> bool:
    """True when a workflow in ``src`` may move to ``dst``."""
    return dst in _TRANSITIONS.get(src, frozenset())


def validate(status: str) -> str:
    """Return ``status`` normalised to upper case, or raise ``ValueError`` naming the choices."""
    s = status.upper()
    if s not in ALL:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(ALL)}")
    return s
