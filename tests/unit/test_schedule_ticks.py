"""Cron ticks at the edges of the calendar, on fixed instants (not today's date)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from legato.domain.schedule import MAX_CATCH_UP, due_ticks, next_tick

pytestmark = pytest.mark.wallclock

PARIS = "Europe/Paris"


def _ticks(cron: str, start: datetime, n: int, zone: str = PARIS) -> list[str]:
    out, t = [], start.timestamp()
    for _ in range(n):
        t = next_tick(cron, zone, t)
        out.append(datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%MZ"))
    return out


def test_a_fixed_hour_in_the_repeated_hour_fires_once_when_clocks_go_back() -> None:
    # 2027-10-31 03:00 CEST -> 02:00 CET: 02:30 local happens at 00:30Z and at 01:30Z
    start = datetime(2027, 10, 30, 12, tzinfo=UTC)
    assert _ticks("30 2 * * *", start, 3) == ["10-31 00:30Z", "11-01 01:30Z", "11-02 01:30Z"]
    assert _ticks("@daily", start, 2) == ["10-30 22:00Z", "10-31 23:00Z"]


def test_an_hourly_schedule_fires_in_both_repeated_hours() -> None:
    start = datetime(2027, 10, 30, 23, 45, tzinfo=UTC)
    assert _ticks("30 * * * *", start, 4) == ["10-31 00:30Z", "10-31 01:30Z",
                                              "10-31 02:30Z", "10-31 03:30Z"]


def test_a_tick_in_the_skipped_hour_runs_once_when_clocks_go_forward() -> None:
    # 2027-03-28 02:00 CET -> 03:00 CEST: 02:30 local does not exist that night
    start = datetime(2027, 3, 27, 12, tzinfo=UTC)
    ticks = _ticks("30 2 * * *", start, 3)
    assert len(set(ticks)) == 3 and ticks[0].startswith("03-28")


def test_a_long_outage_skips_ahead_at_once() -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    now = start + 30 * 86400  # 30 days of a schedule every minute missed
    ticks, nxt = due_ticks("* * * * *", "UTC", "all", start, now)
    assert len(ticks) == MAX_CATCH_UP and ticks[0] == start
    assert nxt == next_tick("* * * * *", "UTC", now) and now < nxt <= now + 60
    once, nxt_once = due_ticks("* * * * *", "UTC", "once", start, now)
    assert len(once) == 1 and nxt_once == nxt


def test_leap_day_and_new_year() -> None:
    start = datetime(2027, 12, 31, 23, 0, tzinfo=UTC)
    assert _ticks("0 0 29 2 *", start, 1, "UTC") == ["02-29 00:00Z"]  # 2028 is a leap year
    assert _ticks("0 0 1 1 *", start, 1, "UTC") == ["01-01 00:00Z"]
    assert datetime.fromtimestamp(next_tick("0 0 29 2 *", "UTC", start.timestamp()),
                                  ZoneInfo("UTC")).year == 2028
