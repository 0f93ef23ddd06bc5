"""Retry and Catch: which error names match, and how long to wait before the next attempt.

Pure functions. AWS's rules: ``States.ALL`` matches every error; ``States.TaskFailed`` every
error but ``States.Timeout``; and ``States.Runtime`` is never caught or retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from legato.asl import errors
from legato.asl.model import Catcher, Retrier

_TERMINAL = frozenset({errors.RUNTIME})


def matches(names: Sequence[str], error: str | None) -> bool:
    if error in _TERMINAL:
        return False
    for name in names:
        if name == error:
            return True
        if name == errors.ALL:
            return True
        if name == errors.TASK_FAILED and error != errors.TIMEOUT:
            return True
    return False


def find_retrier(retriers: Sequence[Retrier], error: str | None) -> int | None:
    for i, r in enumerate(retriers):
        if matches(r.error_equals, error):
            return i
    return None


def find_catcher(catchers: Sequence[Catcher], error: str | None) -> Catcher | None:
    for c in catchers:
        if matches(c.error_equals, error):
            return c
    return None


def delay(retrier: Retrier, retries_done: int, rng: Callable[[], float]) -> float:
    """Seconds before the next attempt, after ``retries_done`` retries by this retrier."""
    seconds = retrier.interval_seconds * retrier.backoff_rate ** retries_done
    if retrier.max_delay_seconds is not None:
        seconds = min(seconds, float(retrier.max_delay_seconds))
    if retrier.jitter_strategy == "FULL":
        seconds = rng() * seconds
    return float(seconds)
