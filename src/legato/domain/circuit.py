"""Circuit breakers: the pure state machine. Storage and sharing live in the store/worker.

CLOSED --(failure_threshold consecutive failures, or failure_rate over the window)--> OPEN
OPEN --(reset_timeout passed)--> HALF_OPEN (up to half_open_max_calls probes at a time)
HALF_OPEN --(a probe succeeds)--> CLOSED ; HALF_OPEN --(a probe fails)--> OPEN again
any state --(an operator resets it: engine.reset_circuit)--> CLOSED, failures cleared
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Literal

CLOSED: Final = "CLOSED"
OPEN: Final = "OPEN"
HALF_OPEN: Final = "HALF_OPEN"


@dataclass(frozen=True)
class CircuitBreaker:
    """A breaker shared by every step that names it, in every workflow and worker.

    >>> payments = legato.CircuitBreaker("payments", failure_threshold=5, reset_timeout=30)
    >>> @legato.step(circuit=payments)
    ... def charge(order_id: str) -> dict: ...

    While open, a step waits durably (without using up attempts) until the breaker lets a
    probe through; with ``fail_fast=True`` it raises :class:`legato.CircuitOpen` at once.
    ``failure_rate`` (0..1) additionally opens the breaker when that share of the last
    ``window`` calls failed (once at least ``window`` calls were seen).
    """

    name: str
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    half_open_max_calls: int = 1
    fail_fast: bool = False
    failure_rate: float | None = None
    window: int = 20

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a CircuitBreaker needs a name")
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if self.reset_timeout < 0:
            raise ValueError("reset_timeout must be >= 0")
        if self.half_open_max_calls < 1:
            raise ValueError("half_open_max_calls must be >= 1")
        if self.failure_rate is not None and not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.window < 1:
            raise ValueError("window must be >= 1")


@dataclass(frozen=True)
class CircuitState:
    """What the store keeps for one breaker. ``version`` guards concurrent updates."""

    name: str
    state: str = CLOSED
    failures: int = 0  # consecutive failures (CLOSED) or failed probes
    opened_at: float | None = None
    next_probe_at: float | None = None
    probes: int = 0  # probes in flight while HALF_OPEN
    recent: str = ""  # last calls, "1" failure / "0" success, newest last (for failure_rate)
    version: int = 0
    reason: str = field(default="", compare=False)  # why the last transition happened


Verdict = Literal["call", "wait", "reject"]


def _open(s: CircuitState, cb: CircuitBreaker, now: float, reason: str) -> CircuitState:
    return replace(s, state=OPEN, opened_at=now, next_probe_at=now + cb.reset_timeout,
                   probes=0, reason=reason)


def admit(s: CircuitState, cb: CircuitBreaker, now: float
          ) -> tuple[Verdict, CircuitState | None]:
    """May a call go through now? Returns the verdict and the new state if it changed."""
    if s.state == CLOSED:
        return "call", None
    if s.state == OPEN:
        if s.next_probe_at is not None and now >= s.next_probe_at:
            return "call", replace(s, state=HALF_OPEN, probes=1, reason="reset timeout passed")
        return ("reject" if cb.fail_fast else "wait"), None
    if s.probes < cb.half_open_max_calls:  # HALF_OPEN
        return "call", replace(s, probes=s.probes + 1, reason="probe")
    return ("reject" if cb.fail_fast else "wait"), None


def record(s: CircuitState, cb: CircuitBreaker, ok: bool, now: float) -> CircuitState | None:
    """The outcome of a call that was admitted; the new state, or None if unchanged."""
    recent = s.recent
    if cb.failure_rate is not None:
        recent = (recent + ("0" if ok else "1"))[-cb.window:]
    if s.state == HALF_OPEN:
        if ok:
            return CircuitState(s.name, CLOSED, version=s.version, reason="probe succeeded")
        return _open(replace(s, failures=s.failures + 1, recent=recent), cb, now,
                     "probe failed")
    if s.state == OPEN:  # a call admitted before the breaker opened finished late
        return None if recent == s.recent else replace(s, recent=recent, reason="")
    if ok:
        if s.failures == 0 and recent == s.recent:
            return None
        return replace(s, failures=0, recent=recent, reason="")
    failures = s.failures + 1
    if failures >= cb.failure_threshold:
        return _open(replace(s, failures=failures, recent=recent), cb, now,
                     f"{failures} consecutive failures")
    if cb.failure_rate is not None and len(recent) >= cb.window:
        rate = recent.count("1") / len(recent)
        if rate >= cb.failure_rate:
            return _open(replace(s, failures=failures, recent=recent), cb, now,
                         f"failure rate {rate:.0%} over the last {len(recent)} calls")
    return replace(s, failures=failures, recent=recent, reason="")


def reset(s: CircuitState, reason: str) -> CircuitState | None:
    """An operator closes the breaker: CLOSED with no failures, probes or recent outcomes
    (a ``failure_rate`` starts counting afresh). None if it is so already."""
    if s.state == CLOSED and s.failures == 0 and s.probes == 0 and not s.recent:
        return None
    return CircuitState(s.name, CLOSED, version=s.version, reason=reason)
