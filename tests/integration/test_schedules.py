"""Durable cron schedules (issue #5)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

import legato
from legato.domain.schedule import due_ticks, next_tick
from legato.testing import VirtualClock

#: their subject is calendar time: make test runs them again with the wall clock ahead
pytestmark = pytest.mark.wallclock

Make = Callable[..., legato.Engine]
MONDAY_9 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC).timestamp()  # a Monday


def _runs(engine: legato.Engine, name: str, n: int, timeout: float = 10.0) -> list[str]:
    end = time.monotonic() + timeout
    while True:
        ids = sorted(h.workflow_id for h in engine.list(name=name))
        if len(ids) >= n or time.monotonic() > end:
            return ids
        time.sleep(0.01)


def test_decorated_schedule_fires_once_per_tick(make_engine: Make, unique_name) -> None:
    clock = VirtualClock(start=MONDAY_9 - 30)
    name = unique_name("report")

    @legato.workflow(name=name, schedule="*/5 * * * *")
    def report(ctx: legato.WorkflowContext) -> str:
        return "sent"

    engines = [make_engine(clock=clock).launch() for _ in range(3)]  # three workers
    clock.advance(31)
    assert _runs(engines[0], name, 1) == [f"{name}@2027-01-04T09:00:00Z"]
    clock.advance(300)
    ids = _runs(engines[0], name, 2)
    assert ids == [f"{name}@2027-01-04T09:00:00Z", f"{name}@2027-01-04T09:05:00Z"]
    time.sleep(0.2)
    assert len(engines[0].list(name=name)) == 2  # no duplicates from the other workers
    for wid in ids:
        assert engines[0].handle(wid).result(timeout=10) == "sent"


@pytest.mark.parametrize(("catch_up", "expected"), [("all", 4), ("once", 1), ("skip", 0)])
def test_catch_up_after_downtime(make_engine: Make, unique_name, catch_up: str,
                                 expected: int) -> None:
    clock = VirtualClock(start=MONDAY_9 + 1)
    name = unique_name("hourly")

    @legato.workflow(name=name)
    def job(ctx: legato.WorkflowContext, n: int) -> int:
        return n

    client = make_engine(clock=clock)
    client.schedules.create(name, job, "0 * * * *", catch_up=catch_up, args=[7])
    clock.advance(4 * 3600 + 600)  # 4 ticks pass while no worker runs
    worker = make_engine(clock=clock).launch()
    end = time.monotonic() + 10
    moved_on = datetime.fromtimestamp(MONDAY_9 + 5 * 3600, UTC).isoformat()
    while worker.schedules.get(name)["next_tick"] != moved_on:
        assert time.monotonic() < end, "the schedule never moved on"
        time.sleep(0.01)
    ids = _runs(worker, name, expected)
    assert len(ids) == expected
    for wid in ids:
        assert worker.handle(wid).result(timeout=10) == 7


def test_pause_resume_and_list(make_engine: Make, unique_name) -> None:
    clock = VirtualClock(start=MONDAY_9 + 1)
    name = unique_name("paused")

    @legato.workflow(name=name)
    def job(ctx: legato.WorkflowContext) -> None:
        return None

    engine = make_engine(clock=clock).launch()
    engine.schedules.create(name, job, "0 * * * *", timezone="Europe/Paris")
    engine.schedules.pause(name)
    clock.advance(3 * 3600)
    time.sleep(0.2)
    assert engine.list(name=name) == []
    engine.schedules.resume(name)
    clock.advance(3600)
    assert len(_runs(engine, name, 1)) == 1
    (listed,) = [s for s in engine.schedules.list() if s["name"] == name]
    assert listed["timezone"] == "Europe/Paris" and not listed["paused"]
    with pytest.raises(legato.InvalidInput, match="cron"):
        engine.schedules.create("bad", job, "every day at 9")
    with pytest.raises(legato.InvalidInput, match="timezone"):
        engine.schedules.create("bad", job, "0 9 * * *", timezone="Mars/Olympus")


def test_daylight_saving_follows_the_timezone() -> None:
    paris = "Europe/Paris"
    # 2027-03-28: clocks jump from 02:00 to 03:00 in Paris; 02:30 does not exist that day
    before = datetime(2027, 3, 27, 12, 0, tzinfo=UTC).timestamp()
    t1 = next_tick("30 2 * * *", paris, before)
    t2 = next_tick("30 2 * * *", paris, t1)
    assert datetime.fromtimestamp(t1, UTC) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(t2, UTC) == datetime(2027, 3, 29, 0, 30, tzinfo=UTC)
    # 09:00 Paris is 08:00 UTC in winter and 07:00 UTC in summer
    w = next_tick("0 9 * * *", paris, datetime(2027, 3, 1, tzinfo=UTC).timestamp())
    s = next_tick("0 9 * * *", paris, datetime(2027, 4, 1, tzinfo=UTC).timestamp())
    assert datetime.fromtimestamp(w, UTC).hour == 8
    assert datetime.fromtimestamp(s, UTC).hour == 7


def test_due_ticks_policies() -> None:
    start = MONDAY_9
    assert due_ticks("0 * * * *", "UTC", "all", start, start + 7200) == (
        [start, start + 3600, start + 7200], start + 10800)
    assert due_ticks("0 * * * *", "UTC", "once", start, start + 7300)[0] == [start + 7200]
    assert due_ticks("0 * * * *", "UTC", "skip", start, start + 7230)[0] == [start + 7200]
    assert due_ticks("0 * * * *", "UTC", "skip", start, start + 7300)[0] == []


def test_bad_schedule_on_the_decorator_is_a_registration_error() -> None:
    with pytest.raises(legato.RegistrationError, match="cron"):
        @legato.workflow(name="never_registered_sched", schedule="nope")
        def bad(ctx: legato.WorkflowContext) -> None:
            return None
