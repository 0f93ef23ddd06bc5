"""Buffered events: what was published that no wait consumed yet (issue 17).

A user's report: "I published payment.settled for order o-7 and the workflow never moved. Was
the event there? Had it expired? Nothing said so." ``engine.buffered_events()`` and ``legato
events list`` show what waits in the buffer, and an event that expires unconsumed is a
WARNING log line naming it, written once, by the process that drops it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cli_support import cli

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@pytest.mark.wallclock
def test_lists_only_what_no_wait_consumed_oldest_first(
        make_engine: Make, clock: VirtualClock, unique_name: Callable[[str], str]) -> None:
    @legato.workflow(name=unique_name("buf_waiter"))
    def waiter(ctx: legato.WorkflowContext, key: str) -> object:
        return ctx.wait_event("paid", key=key)

    engine = make_engine(clock=clock).launch()
    t0 = clock.now()
    early = engine.handle(engine.start(waiter, "o-0").workflow_id)
    early.wait_status("WAITING")
    engine.publish("paid", key="o-0", data=0, event_id="delivered")  # handed to a waiter
    engine.publish("paid", key="o-1", data={"amount": 1}, event_id="e1", ttl=60)
    clock.advance(1)
    engine.publish("paid", key="o-2", data=2, event_id="e2")  # the default ttl: 24 h
    clock.advance(1)
    engine.publish("shipped", key="o-1", event_id="e3", ttl=timedelta(hours=2))
    engine.publish("nokey", event_id="e4", ttl=60)
    assert early.result(timeout=10) == 0

    listed = engine.buffered_events()
    assert [e["event_id"] for e in listed] == ["e1", "e2", "e3", "e4"]
    assert listed[0] == {"event_id": "e1", "type": "paid", "key": "o-1",
                         "data": {"amount": 1}, "published_at": iso(t0),
                         "expires_at": iso(t0 + 60)}
    assert listed[1]["expires_at"] == iso(t0 + 1 + 86400)
    assert listed[2]["data"] is None and listed[3]["key"] is None  # published without a key

    assert [e["event_id"] for e in engine.buffered_events(type="paid")] == ["e1", "e2"]
    assert [e["event_id"] for e in engine.buffered_events(key="o-1")] == ["e1", "e3"]
    assert [e["event_id"] for e in engine.buffered_events("paid", "o-1")] == ["e1"]
    assert [e["event_id"] for e in engine.buffered_events(limit=2)] == ["e1", "e2"]
    assert engine.buffered_events(type="nothing") == []

    # consumed by the first wait for it: no longer buffered
    assert engine.start(waiter, "o-1").result(timeout=10) == {"amount": 1}
    assert [e["event_id"] for e in engine.buffered_events()] == ["e2", "e3", "e4"]
    # past its ttl (before any sweep dropped it): no wait can take it, so not listed
    clock.advance(60)
    assert [e["event_id"] for e in engine.buffered_events()] == ["e2", "e3"]


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"type": ""}, "event type"),
    ({"type": 7}, "event type"),
    ({"key": "a\x00b"}, "key"),
    ({"limit": -1}, "limit"),
    ({"limit": "ten"}, "limit"),
])
def test_bad_filters_are_one_clear_error(engine: legato.Engine, kwargs: dict[str, object],
                                         words: str) -> None:
    with pytest.raises(legato.InvalidInput, match=words):
        engine.buffered_events(**kwargs)  # type: ignore[arg-type]


@pytest.mark.wallclock
def test_an_event_expiring_unconsumed_is_a_warning_once(
        make_engine: Make, clock: VirtualClock, unique_name: Callable[[str], str],
        caplog: pytest.LogCaptureFixture) -> None:
    @legato.workflow(name=unique_name("buf_taker"))
    def taker(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_event("offer", key="taken")

    engine = make_engine(clock=clock).launch()
    other = make_engine(clock=clock)  # another process on the same database
    engine.publish("offer", key="stale", data="x", event_id="evt-stale", ttl=30)
    engine.publish("offer", key="taken", data="y", event_id="evt-taken", ttl=30)
    assert engine.start(taker).result(timeout=10) == "y"
    clock.advance(90)
    caplog.set_level(logging.WARNING, logger="legato")
    caplog.clear()
    assert engine.store.expire_events(clock.now()) == 2  # both rows are dropped ...
    assert other.store.expire_events(clock.now()) == 0
    assert engine.store.expire_events(clock.now()) == 0
    warned = [r for r in caplog.records if "expired unconsumed" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in warned]  # ... one was never consumed
    (line,) = warned
    assert line.levelno == logging.WARNING
    text = line.getMessage()
    for words in ("evt-stale", "'offer'", "'stale'", "1m 30s"):
        assert words in text, (words, text)
    assert "evt-taken" not in text


@pytest.mark.wallclock
def test_concurrent_sweeps_warn_once_per_event(make_engine: Make, clock: VirtualClock,
                                               caplog: pytest.LogCaptureFixture) -> None:
    engines = [make_engine(clock=clock) for _ in range(3)]
    for i in range(40):
        engines[0].publish("ping", key=f"k{i}", event_id=f"ev-{i}", ttl=10)
    clock.advance(11)
    caplog.set_level(logging.WARNING, logger="legato")
    caplog.clear()
    start = threading.Barrier(len(engines))
    dropped: list[int] = []

    def sweep(e: legato.Engine) -> None:
        start.wait()
        dropped.append(e.store.expire_events(clock.now()))

    threads = [threading.Thread(target=sweep, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(dropped) == 40
    warned = sorted(r.getMessage().split("'")[1] for r in caplog.records
                    if "expired unconsumed" in r.getMessage())
    assert warned == sorted(f"ev-{i}" for i in range(40))


@pytest.mark.wallclock
def test_cli_events_list(make_engine: Make, db_url: str,
                         capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine()  # the wall clock, as the CLI's: a virtual one's events would
    # look expired (or not yet published) to it on some day
    before = time.time()
    engine.publish("payment.settled", key="o-7", data={"amount": 4999}, event_id="evt-1")
    after = time.time()
    engine.publish("refund", key="o-8", event_id="evt-2")
    rc, out, err = cli(capsys, "events", "list", "--db", db_url)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert any("evt-1" in ln and "payment.settled" in ln and "o-7" in ln for ln in lines), out
    assert any("evt-2" in ln and "refund" in ln for ln in lines), out

    rc, out, err = cli(capsys, "events", "list", "--type", "payment.settled", "--json",
                       "--db", db_url)
    assert rc == 0, err
    (only,) = json.loads(out)
    assert only["event_id"] == "evt-1" and only["data"] == {"amount": 4999}
    published = datetime.fromisoformat(only["published_at"]).timestamp()
    assert before <= published <= after and only["published_at"].endswith("+00:00")
    rc, out, err = cli(capsys, "events", "list", "--key", "o-8", "--json", "--db", db_url)
    assert [e["event_id"] for e in json.loads(out)] == ["evt-2"]

    rc, out, err = cli(capsys, "events", "list", "--type", "none", "--db", db_url)
    assert (rc, out) == (0, "") and "no buffered events" in err
    rc, out, err = cli(capsys, "events", "list", "--limit", "0", "--db", db_url)
    assert rc == 0
    rc, out, err = cli(capsys, "events", "list", "--limit", "-3", "--db", db_url)
    assert rc == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("error:") and "limit" in line and "Traceback" not in err
    # publishing stays where it was
    rc, out, err = cli(capsys, "publish", "refund", "--key", "o-9", "--db", db_url)
    assert rc == 0 and "buffered" in out
