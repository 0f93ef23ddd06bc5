"""Events correlated by business key, signals, wait_any and queries (issue #5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]


@pytest.mark.wallclock
def test_event_published_before_the_wait_is_consumed_once(
        make_engine: Make, clock: VirtualClock, unique_name) -> None:
    @legato.workflow(name=unique_name("payment"))
    def wait_payment(ctx: legato.WorkflowContext, order: str) -> object:
        return ctx.wait_event("payment.settled", key=order, timeout=timedelta(days=3))

    engine = make_engine(clock=clock).launch()
    r = engine.publish("payment.settled", key="o-1", data={"amount": 10})
    assert r.buffered and not r.delivered_to
    first = engine.start(wait_payment, "o-1")
    assert first.result(timeout=10) == {"amount": 10}
    second = engine.start(wait_payment, "o-1")
    second.wait_status("WAITING")  # the buffered event was consumed by the first wait only
    clock.advance(timedelta(days=3, seconds=1))
    with pytest.raises(legato.WorkflowFailed) as info:
        second.result(timeout=10)
    assert info.value.error["type"] == "legato.errors.WaitTimeout"


def test_fan_out_to_every_waiting_workflow_and_not_buffered(
        make_engine: Make, clock: VirtualClock, unique_name) -> None:
    @legato.workflow(name=unique_name("fan"))
    def waiter(ctx: legato.WorkflowContext, key: str) -> object:
        return ctx.wait_event("shipped", key=key)

    engine = make_engine(clock=clock).launch()
    a, b = engine.start(waiter, "k"), engine.start(waiter, "k")
    other = engine.start(waiter, "other-key")
    for h in (a, b, other):
        h.wait_status("WAITING")
    r = engine.publish("shipped", key="k", data="parcel")
    assert sorted(r.delivered_to) == sorted([a.workflow_id, b.workflow_id])
    assert not r.buffered
    assert a.result(timeout=10) == "parcel" and b.result(timeout=10) == "parcel"
    late = engine.start(waiter, "k")  # delivered events are not buffered for later waiters
    late.wait_status("WAITING")
    assert other.status == "WAITING"


def test_publish_is_idempotent_by_event_id(engine: legato.Engine, unique_name) -> None:
    @legato.workflow(name=unique_name("idem_ev"))
    def two(ctx: legato.WorkflowContext) -> list[object]:
        return [ctx.wait_event("tick", key="x"), ctx.wait_event("tick", key="x", timeout=0.2)]

    engine.publish("tick", key="x", data=1, event_id="ev-1")
    dup = engine.publish("tick", key="x", data=1, event_id="ev-1")
    assert dup.duplicate
    with pytest.raises(legato.WorkflowFailed) as info:
        engine.start(two).result(timeout=10)
    assert info.value.error["type"] == "legato.errors.WaitTimeout"


def test_signals_queue_in_order_before_the_wait(make_engine: Make, clock: VirtualClock,
                                                unique_name) -> None:
    @legato.workflow(name=unique_name("sig"))
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        ctx.sleep(60)
        return [ctx.wait_signal("add"), ctx.wait_signal("add"), ctx.wait_signal("add")]

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    h.signal("add", 1)
    h.signal("add", 2)
    clock.advance(61)
    h.wait_status("WAITING")
    h.signal("add", 3)
    assert h.result(timeout=10) == [1, 2, 3]


@pytest.mark.wallclock
def test_wait_any_returns_the_first(make_engine: Make, clock: VirtualClock,
                                    unique_name) -> None:
    @legato.workflow(name=unique_name("any"))
    def wf(ctx: legato.WorkflowContext, key: str) -> list[object]:
        got = ctx.wait_any([ctx.event("paid", key=key), ctx.signal("cancel"), ctx.timer(60)])
        return list(got)

    engine = make_engine(clock=clock).launch()
    paid, cancelled, timed = (engine.start(wf, k) for k in ("a", "b", "c"))
    for h in (paid, cancelled, timed):
        h.wait_status("WAITING")
    engine.publish("paid", key="a", data={"ok": True})
    cancelled.signal("cancel", "customer asked")
    assert paid.result(timeout=10) == [0, {"ok": True}]
    assert cancelled.result(timeout=10) == [1, "customer asked"]
    clock.advance(61)
    assert timed.result(timeout=10) == [2, None]


def test_query_reads_state_while_suspended(make_engine: Make, clock: VirtualClock,
                                           unique_name) -> None:
    @legato.workflow(name=unique_name("query"))
    def wf(ctx: legato.WorkflowContext) -> str:
        ctx.set_state("stage", "waiting for approval")
        ctx.wait_signal("go")
        ctx.set_state("stage", "done")
        return "ok"

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    assert h.query("stage") == "waiting for approval"
    assert h.query("missing") is None
    h.signal("go")
    assert h.result(timeout=10) == "ok"
    assert h.query("stage") == "done"


def test_delivery_while_no_worker_runs_is_not_lost(make_engine: Make, clock: VirtualClock,
                                                   unique_name) -> None:
    name = unique_name("offline")

    @legato.workflow(name=name)
    def wf(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_event("done", key="job-1")

    first = make_engine(clock=clock).launch()
    h = first.start(wf)
    h.wait_status("WAITING")
    first.shutdown()
    client = make_engine(clock=clock)  # no workers: the delivery waits in the store
    assert client.publish("done", key="job-1", data=42).delivered_to == [h.workflow_id]
    second = make_engine(clock=clock).launch()
    assert second.handle(h.workflow_id).result(timeout=10) == 42


@pytest.mark.wallclock
def test_buffered_events_expire_after_their_ttl(make_engine: Make, clock: VirtualClock,
                                                unique_name) -> None:
    @legato.workflow(name=unique_name("late"))
    def late(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_event("offer", key="k", timeout=60)

    engine = make_engine(clock=clock).launch()
    engine.publish("offer", key="k", data="stale", ttl=30)
    clock.advance(31)
    assert engine.store.expire_events(clock.now()) == 1
    h = engine.start(late)
    h.wait_status("WAITING")  # the expired event is not consumed
    engine.publish("offer", key="k", data="fresh")
    assert h.result(timeout=10) == "fresh"
