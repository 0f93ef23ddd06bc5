"""Retry policy and the pure retry decision."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True)
class RetryPolicy:
    """How a failing step is retried.

    ``max_attempts`` counts every attempt (1 = no retry). The delay before attempt ``n+1`` is
    ``initial_interval * backoff**(n-1)`` capped at ``max_interval``, with "equal jitter"
    (uniform in [delay/2, delay]) unless ``jitter=False``. Exceptions that are instances of
    ``non_retryable`` fail the step at once.

    >>> RetryPolicy(max_attempts=3, initial_interval=1.0, backoff=2.0, jitter=False).delay(2)
    2.0
    """

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff: float = 2.0
    max_interval: float = 60.0
    non_retryable: tuple[type[BaseException], ...] = field(default=())
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be >= 1")
        if self.initial_interval < 0 or self.max_interval < 0:
            raise ValueError("RetryPolicy intervals must be >= 0")
        if self.backoff < 1.0:
            raise ValueError("RetryPolicy.backoff must be >= 1.0")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay in seconds after failed attempt number ``attempt`` (1-based)."""
        base = min(self.initial_interval * self.backoff ** max(attempt - 1, 0), self.max_interval)
        if not self.jitter or base == 0:
            return base
        r = (rng or _rng).random()
        return base / 2 + r * base / 2


_rng: Final = random.Random()

#: the default for steps declared without a policy
DEFAULT_RETRY: Final = RetryPolicy()
NO_RETRY: Final = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay: float
    reason: str


def decide(
    policy: RetryPolicy,
    attempt: int,
    error: BaseException | None,
    *,
    error_type_names: tuple[str, ...] = (),
    rng: random.Random | None = None,
) -> RetryDecision:
    """Decide what happens after failed attempt ``attempt`` (1-based) raised ``error``.

    ``error`` may be ``None`` on replay, where only the type names (``error_type_names``,
    the MRO of the original type) are known.
    """
    if error is not None and policy.non_retryable and isinstance(error, policy.non_retryable):
        return RetryDecision(False, 0.0, f"{type(error).__name__} is not retryable")
    if error is None and error_type_names:
        names = {f"{t.__module__}.{t.__qualname__}" for t in policy.non_retryable}
        if names.intersection(error_type_names):
            return RetryDecision(False, 0.0, "error type is not retryable")
    if attempt >= policy.max_attempts:
        return RetryDecision(False, 0.0, f"gave up after {attempt} attempt(s)")
    return RetryDecision(True, policy.delay(attempt, rng), "retrying")
