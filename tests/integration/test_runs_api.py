"""Runs as an API reads them (SQLite and PostgreSQL): business keys, pages with keyset
cursors, counts by status, the changes feed, and who did what (actors in histories).

Each test is written as the report of what a user of the HTTP API (or of the engine) would
see go wrong: a page that skips or repeats runs while new ones arrive, a count that leaves
out a status, a live page that misses a change, a history that does not say who cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def _wf(unique_name: Callable[[str], str], base: str = "runs") -> object:
    @legato.workflow(name=unique_name(base))
    def wf(ctx: legato.WorkflowContext, x: int = 0) -> int:
        return x

    return wf


# --- business keys ---------------------------------------------------------------------------


def test_a_business_key_is_stored_shown_and_filtered_on(make_engine: Make,
                                                        unique_name) -> None:
    wf = _wf(unique_name)
    engine = make_engine()  # a client: the runs stay PENDING
    a = engine.start(wf, 1, key="claim-7")
    b = engine.start(wf, 2, key="claim-7")  # a key is no id: runs may share it
    engine.start(wf, 3, key="claim-8")
    engine.start(wf, 4)
    assert a.describe()["key"] == "claim-7"
    assert engine.handle(engine.list(limit=1)[0].workflow_id).describe()["key"] is None
    assert {h.workflow_id for h in engine.list(key="claim-7")} == {a.workflow_id,
                                                                    b.workflow_id}
    assert [h.describe()["input"] for h in engine.list(key="claim-8")] == [[3]]
    assert engine.list(key="nobody") == []
    page = engine.runs(key="claim-7")
    assert {d["workflow_id"] for d in page.items} == {a.workflow_id, b.workflow_id}
    assert all(d["key"] == "claim-7" for d in page.items)


def test_a_key_can_be_an_int_and_is_checked_like_any_key(make_engine: Make,
                                                         unique_name) -> None:
    wf = _wf(unique_name)
    engine = make_engine()
    assert engine.start(wf, key=42).describe()["key"] == "42"
    for bad in ("", "a\x00b", "x" * 300, 1.5, ["k"]):
        with pytest.raises(legato.InvalidInput, match="key"):
            engine.start(wf, key=bad)
    assert engine.list(key="42")


def test_keys_on_start_many_by_name_and_async(make_engine: Make, unique_name) -> None:
    wf = _wf(unique_name)
    name = wf.__legato_workflow__.name  # type: ignore[attr-defined]
    engine = make_engine()
    batch = engine.start_many(wf, [(1,), (2,)], key="batch-1")
    assert [h.describe()["key"] for h in batch] == ["batch-1", "batch-1"]
    each = engine.start_many(name, [(1,), (2,)], keys=["c-1", "c-2"])
    assert [h.describe()["key"] for h in each] == ["c-1", "c-2"]
    with pytest.raises(legato.InvalidInput, match="keys"):
        engine.start_many(wf, [(1,), (2,)], keys=["only-one"])
    with pytest.raises(legato.InvalidInput, match="key"):
        engine.start_many(wf, [(1,)], key="k", keys=["k"])
    assert engine.start(name, 5, key="by-name").describe()["key"] == "by-name"

    import asyncio

    h = asyncio.run(engine.start_async(wf, 6, key="async-key"))
    assert h.describe()["key"] == "async-key"
    assert len(engine.list(key="batch-1")) == 2


def test_a_run_that_runs_keeps_its_key(make_engine: Make, unique_name) -> None:
    wf = _wf(unique_name)
    engine = make_engine().launch()
    h = engine.start(wf, 9, key="order-9")
    assert h.result(timeout=30) == 9
    assert h.describe()["key"] == "order-9"
    assert [x.workflow_id for x in engine.list(status="COMPLETED", key="order-9")] == [
        h.workflow_id]


def test_children_may_take_a_key(make_engine: Make, unique_name) -> None:
    @legato.workflow(name=unique_name("kid"))
    def kid(ctx: legato.WorkflowContext, n: int) -> int:
        return n

    @legato.workflow(name=unique_name("parent"))
    def parent(ctx: legato.WorkflowContext) -> int:
        ctx.start_child(kid, 2, workflow_id="detached-kid", key="claim-9")
        return ctx.child(kid, 1, workflow_id="kid-1", key="claim-9")

    engine = make_engine().launch()
    h = engine.start(parent, key="claim-9")
    assert h.result(timeout=30) == 1
    assert engine.handle("kid-1").describe()["key"] == "claim-9"
    assert {x.workflow_id for x in engine.list(key="claim-9")} == {
        h.workflow_id, "kid-1", "detached-kid"}
    started = engine.handle("kid-1").history()[0]
    assert started["key"] == "claim-9" and started["parent_id"] == h.workflow_id


# --- pages and counts ------------------------------------------------------------------------


def test_pages_are_newest_first_and_stable_while_runs_arrive(make_engine: Make,
                                                             unique_name) -> None:
    wf = _wf(unique_name)
    clock = VirtualClock(start=T0)
    engine = make_engine(clock=clock)
    ids = []
    for i in range(7):
        clock.advance(1)
        ids.append(engine.start(wf, i, workflow_id=f"r{i}").workflow_id)
    first = engine.runs(limit=3)
    assert [d["workflow_id"] for d in first.items] == ["r6", "r5", "r4"]
    assert first.next_cursor is not None
    clock.advance(1)
    engine.start(wf, 99, workflow_id="late")  # arrives between two pages
    second = engine.runs(limit=3, cursor=first.next_cursor)
    assert [d["workflow_id"] for d in second.items] == ["r3", "r2", "r1"]
    third = engine.runs(limit=3, cursor=second.next_cursor)
    assert [d["workflow_id"] for d in third.items] == ["r0"]
    assert third.next_cursor is None
    assert engine.runs(limit=1).items[0]["workflow_id"] == "late"
    item = first.items[0]
    assert item == engine.handle("r6").describe()
    assert item["created_at"] == datetime.fromtimestamp(T0 + 7, UTC).isoformat()
    assert "history" not in item


def test_runs_created_at_the_same_instant_page_by_id(make_engine: Make,
                                                     unique_name) -> None:
    wf = _wf(unique_name)
    engine = make_engine(clock=VirtualClock(start=T0))  # time stands still
    for wid in ("b", "d", "a", "c", "e"):
        engine.start(wf, workflow_id=wid)
    seen: list[str] = []
    cursor = None
    while True:
        page = engine.runs(limit=2, cursor=cursor)
        seen += [d["workflow_id"] for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["e", "d", "c", "b", "a"]


def test_runs_filter_by_status_name_key_and_creation_time(make_engine: Make,
                                                          unique_name) -> None:
    wf, other = _wf(unique_name), _wf(unique_name, "other")
    clock = VirtualClock(start=T0)
    engine = make_engine(clock=clock)
    engine.start(wf, workflow_id="old")
    clock.advance(3600)
    engine.start(wf, workflow_id="mid", key="k")
    engine.start(other, workflow_id="other")
    clock.advance(3600)
    engine.start(wf, workflow_id="new")
    engine.terminate("mid", "not needed")

    def ids(**kw: object) -> list[str]:
        return [d["workflow_id"] for d in engine.runs(**kw).items]  # type: ignore[arg-type]

    assert ids(status="CANCELLED") == ["mid"]
    assert ids(status="pending,cancelled") == ["new", "other", "mid", "old"]
    assert ids(status=["CANCELLED", "PENDING"], name=wf.__legato_workflow__.name) == [
        "new", "mid", "old"]
    assert ids(key="k") == ["mid"]
    hour = datetime.fromtimestamp(T0 + 3600, UTC)
    assert ids(since=hour) == ["new", "other", "mid"]
    assert ids(until=hour) == ["old"]
    assert ids(since=hour.isoformat(), until=T0 + 7200) == ["other", "mid"]
    assert ids(since="2027-01-15T09:00:00Z", until=hour + timedelta(hours=1)) == [
        "other", "mid"]
    paris = timezone(timedelta(hours=1))
    assert ids(since=hour.astimezone(paris)) == ["new", "other", "mid"]


@pytest.mark.parametrize(("kwargs", "names"), [
    ({"status": "DONE"}, "status"),
    ({"status": ["PENDING", 3]}, "status"),
    ({"status": ""}, "status"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"limit": True}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "W10"}, "cursor"),
    ({"cursor": 7}, "cursor"),
    ({"since": datetime(2027, 1, 15)}, "since"),  # naive: which zone?
    ({"since": "yesterday"}, "since"),
    ({"until": "2027-01-15T09:00:00"}, "until"),
    ({"until": float("nan")}, "until"),
    ({"since": True}, "since"),
    ({"key": ""}, "key"),
])
def test_bad_page_arguments_are_one_clear_error(make_engine: Make, kwargs: dict,
                                                names: str) -> None:
    engine = make_engine()
    with pytest.raises(legato.InvalidInput, match=names):
        engine.runs(**kwargs)


def test_counts_give_every_status_zeros_included(make_engine: Make, unique_name) -> None:
    wf, other = _wf(unique_name), _wf(unique_name, "other")
    engine = make_engine()
    assert engine.counts() == {s: 0 for s in ("PENDING", "RUNNING", "WAITING", "COMPLETED",
                                              "FAILED", "CANCELLED", "TIMED_OUT")}
    engine.start(wf, workflow_id="a")
    engine.start(wf, workflow_id="b")
    engine.start(other, workflow_id="c")
    engine.terminate("b")
    counts = engine.counts()
    assert list(counts) == ["PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED",
                            "CANCELLED", "TIMED_OUT"]
    assert counts["PENDING"] == 2 and counts["CANCELLED"] == 1 and sum(counts.values()) == 3
    assert engine.counts(name=other.__legato_workflow__.name)["PENDING"] == 1
    assert engine.counts(name="no-such-workflow")["PENDING"] == 0


# --- the changes feed -------------------------------------------------------------------------


def test_changes_from_now_then_each_change_once(make_engine: Make, unique_name) -> None:
    wf = _wf(unique_name)
    clock = VirtualClock(start=T0)
    engine = make_engine(clock=clock)
    engine.start(wf, workflow_id="before")
    items, pos = engine.run_changes()
    assert items == [] and isinstance(pos, str)
    again, pos2 = engine.run_changes(pos)
    assert again == []
    clock.advance(1)
    engine.start(wf, workflow_id="a", key="k-a")
    clock.advance(1)
    engine.terminate("before")
    items, pos3 = engine.run_changes(pos2)
    assert [(i["workflow_id"], i["status"]) for i in items] == [("a", "PENDING"),
                                                                ("before", "CANCELLED")]
    assert items[0] == {"workflow_id": "a", "name": wf.__legato_workflow__.name,
                        "status": "PENDING", "key": "k-a",
                        "updated_at": datetime.fromtimestamp(T0 + 1, UTC).isoformat()}
    assert engine.run_changes(pos3)[0] == []  # nothing new: nothing again


def test_changes_committed_late_with_an_older_time_are_not_missed(
        make_engine: Make, unique_name, db_url: str) -> None:
    """Two processes whose clocks disagree (or whose commits cross): a change stamped a
    second before one already reported still comes through."""
    wf = _wf(unique_name)
    fast = make_engine(clock=VirtualClock(start=T0 + 10))
    slow = make_engine(clock=VirtualClock(start=T0 + 9))  # a second behind
    _, pos = fast.run_changes()
    fast.start(wf, workflow_id="fast")
    items, pos = fast.run_changes(pos)
    assert [i["workflow_id"] for i in items] == ["fast"]
    slow.start(wf, workflow_id="slow")  # committed after, stamped before
    items, pos = fast.run_changes(pos)
    assert [i["workflow_id"] for i in items] == ["slow"]
    assert fast.run_changes(pos)[0] == []


def test_changes_at_one_instant_page_through_all_of_them(make_engine: Make,
                                                         unique_name) -> None:
    """A frozen clock stamps every change alike: the feed still gets through them, in small
    pages, each once."""
    wf = _wf(unique_name)
    engine = make_engine(clock=VirtualClock(start=T0))
    _, pos = engine.run_changes()
    engine.start_many(wf, [(i,) for i in range(250)],
                      workflow_ids=[f"w{i:03}" for i in range(250)])
    got: list[str] = []
    for _ in range(20):
        items, pos = engine.run_changes(pos, limit=40)
        got += [i["workflow_id"] for i in items]
        if not items:
            break
    assert sorted(got) == [f"w{i:03}" for i in range(250)]
    assert len(got) == 250


def test_a_bad_position_is_one_clear_error(make_engine: Make) -> None:
    engine = make_engine()
    for bad in ("nope", "", 5, "A" * 5000):
        with pytest.raises(legato.InvalidInput, match="after"):
            engine.run_changes(bad)  # type: ignore[arg-type]
    with pytest.raises(legato.InvalidInput, match="limit"):
        engine.run_changes(None, limit=0)


# --- actors ---------------------------------------------------------------------------------


def _event(h: legato.WorkflowHandle, kind: str) -> dict:
    return next(e for e in h.history() if e["type"] == kind)


def test_who_started_terminated_and_retried_is_in_the_history(make_engine: Make,
                                                              unique_name) -> None:
    calls = {"n": 0}

    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("down")
        return "ok"

    @legato.workflow(name=unique_name("who"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return flaky()

    engine = make_engine().launch()
    h = engine.start(wf, actor="alice")
    assert _event(h, "WorkflowStarted")["actor"] == {"user": "alice"}
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=30)
    h.retry(actor=legato.Actor("bob", token_id="tok_1"))
    assert _event(h, "WorkflowRedriven")["actor"] == {"user": "bob", "token_id": "tok_1"}
    assert h.result(timeout=30) == "ok"

    plain = engine.start(wf)
    assert "actor" not in _event(plain, "WorkflowStarted")

    @legato.workflow(name=unique_name("waits"))
    def waits(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_signal("never")

    t = engine.start(waits, workflow_id="to-stop")
    t.terminate("duplicate", actor="carol")
    assert _event(t, "WorkflowTerminated")["actor"] == {"user": "carol"}
    assert _event(t, "WorkflowTerminated")["reason"] == "duplicate"


def test_who_signalled_and_who_cancelled_is_in_the_history(make_engine: Make,
                                                           unique_name) -> None:
    @legato.workflow(name=unique_name("signals"))
    def wf(ctx: legato.WorkflowContext) -> object:
        first = ctx.wait_signal("go")
        ctx.wait_signal("never")
        return first

    engine = make_engine().launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    h.signal("go", {"n": 1}, actor="dave")
    engine.signal(h.workflow_id, "early", actor="erin")  # queued: nobody waits for it
    done = _wait_for_event(h, "WaitCompleted")
    assert done["actor"] == {"user": "dave"} and done["value"] == {"n": 1}
    h.wait_status("WAITING")
    engine.cancel(h.workflow_id, actor=legato.Actor("frank", "tok_9"))
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=30)
    assert _event(h, "WorkflowCancelled")["actor"] == {"user": "frank", "token_id": "tok_9"}

    other = engine.start(wf)
    other.wait_status("WAITING")
    other.cancel()
    with pytest.raises(legato.WorkflowFailed):
        other.result(timeout=30)
    assert "actor" not in _event(other, "WorkflowCancelled")


def _wait_for_event(h: legato.WorkflowHandle, kind: str, timeout: float = 30.0) -> dict:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = [e for e in h.history() if e["type"] == kind]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no {kind} in {h.history()}")


def test_a_queued_signal_keeps_its_sender(make_engine: Make, unique_name) -> None:
    @legato.workflow(name=unique_name("queued"))
    def wf(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_signal("go")

    client = make_engine()
    h = client.start(wf)
    h.signal("go", 5, actor="gina")  # before any worker ran it
    worker = make_engine().launch()
    assert worker.handle(h.workflow_id).result(timeout=30) == 5
    assert _event(h, "WaitCompleted")["actor"] == {"user": "gina"}


def test_a_bad_actor_is_refused_before_anything_happens(make_engine: Make,
                                                        unique_name) -> None:
    wf = _wf(unique_name)
    engine = make_engine()
    h = engine.start(wf)
    for call in (lambda a: engine.start(wf, actor=a), lambda a: h.cancel(actor=a),
                 lambda a: h.terminate(actor=a), lambda a: h.signal("s", actor=a),
                 lambda a: engine.start_many(wf, [(1,)], actor=a)):
        for bad in ("", 7, legato.Actor("")):
            with pytest.raises(legato.InvalidInput, match="actor"):
                call(bad)
    assert h.status == "PENDING"
    assert len(engine.list()) == 1
