"""The wall-clock run is what it says: ``--legato-clock-ahead``/``--legato-clock-at`` moved
the wall clock of this process (an xdist worker starts its own travel), monotonic time not."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import time_machine

pytestmark = pytest.mark.wallclock

DAY = 86400.0


def _real_time() -> float:
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.time.time()
    return time.time()


def test_the_wall_clock_is_where_the_options_put_it(pytestconfig: pytest.Config) -> None:
    real = _real_time()
    days: int = pytestconfig.getoption("--legato-clock-ahead")
    at: str | None = pytestconfig.getoption("--legato-clock-at")
    now, dt_now = time.time(), datetime.now(UTC).timestamp()
    if days:
        assert now > real + days * DAY - DAY
        assert dt_now > real + days * DAY - DAY
    elif at is not None:
        start = datetime.fromisoformat(at).timestamp()
        assert start <= now < start + DAY  # it ticks on from there (a run is shorter than a day)
        assert start <= dt_now < start + DAY
    else:
        assert not time_machine.escape_hatch.is_travelling()
        assert abs(now - real) < 1.0


def test_monotonic_time_is_the_real_one() -> None:
    # what a shifted wall clock must not touch: timeouts and sleeps
    assert abs(time.monotonic() - time.clock_gettime(time.CLOCK_MONOTONIC)) < 1.0
    t0, w0 = time.monotonic(), time.time()
    time.sleep(0.05)
    assert 0.04 < time.monotonic() - t0 < 5.0
    assert 0.04 < time.time() - w0 < 5.0  # a shifted wall clock ticks at the real rate
