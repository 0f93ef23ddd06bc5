"""The circuit-breaker state machine, exhaustively over short call sequences."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from legato.domain.circuit import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    CircuitState,
    admit,
    record,
)

CB = CircuitBreaker("svc", failure_threshold=3, reset_timeout=10, half_open_max_calls=1)


def run(s: CircuitState, ok: bool, now: float, cb: CircuitBreaker = CB) -> CircuitState:
    verdict, admitted = admit(s, cb, now)
    assert verdict == "call"
    s = admitted or s
    return record(s, cb, ok, now) or s


def test_opens_after_consecutive_failures_and_success_resets() -> None:
    s = CircuitState("svc")
    s = run(s, False, 0)
    s = run(s, False, 1)
    s = run(s, True, 2)
    assert s.state == CLOSED and s.failures == 0
    for t in range(3):
        s = run(s, False, 3 + t)
    assert s.state == OPEN and s.next_probe_at == 15


def test_open_waits_or_rejects_then_half_opens_one_probe() -> None:
    s = CircuitState("svc", state=OPEN, opened_at=0, next_probe_at=10)
    assert admit(s, CB, 5) == ("wait", None)
    fast = CircuitBreaker("svc", failure_threshold=3, reset_timeout=10, fail_fast=True)
    assert admit(s, fast, 5) == ("reject", None)
    verdict, probe = admit(s, CB, 10)
    assert verdict == "call" and probe is not None and probe.state == HALF_OPEN
    assert admit(probe, CB, 10)[0] == "wait"  # only one probe at a time
    closed = record(probe, CB, True, 11)
    assert closed is not None and closed.state == CLOSED
    reopened = record(probe, CB, False, 11)
    assert reopened is not None and reopened.state == OPEN and reopened.next_probe_at == 21


def test_success_while_closed_and_clean_writes_nothing() -> None:
    assert record(CircuitState("svc"), CB, True, 0) is None


def test_failure_rate_over_window_opens() -> None:
    cb = CircuitBreaker("svc", failure_threshold=100, failure_rate=0.5, window=4)
    s = CircuitState("svc")
    for ok in (True, False, True, False):
        s = run(s, ok, 0, cb)
    assert s.state == OPEN


@given(hs.lists(hs.booleans(), max_size=30))
def test_never_open_without_enough_failures(outcomes: list[bool]) -> None:
    s = CircuitState("svc")
    streak = 0
    for t, ok in enumerate(outcomes):
        verdict, admitted = admit(s, CB, float(t))
        if verdict != "call":
            assert s.state in (OPEN, HALF_OPEN)
            continue
        s = record(admitted or s, CB, ok, float(t)) or (admitted or s)
        streak = 0 if ok else streak + 1
        if s.state == OPEN and s.reason.endswith("consecutive failures"):
            assert streak >= CB.failure_threshold


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("")
    with pytest.raises(ValueError):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker("x", failure_rate=2.0)
