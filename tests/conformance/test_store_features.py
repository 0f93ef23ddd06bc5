"""The Store contract for events, signals, workflow state, circuit breakers, users and human
tasks, on every backend. Plus the races PostgreSQL must close that SQLite cannot have."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest
from conformance_helpers import (
    T0,
    new,
    parent_waiting_for_child,
    started,
    step_event,
    suspend_on,
)

from legato.domain.circuit import CircuitState
from legato.domain.events import Event
from legato.domain.tasks import Task
from legato.store import NewWorkflow, Store, Write
from legato.store.base import Condition, ScheduleRow

OpenStores = Callable[[], Store]


# --- events and signals --------------------------------------------------------------------


def test_an_event_nobody_waits_for_is_buffered_and_taken_once(store: Store) -> None:
    res = store.publish("e1", "paid", "o-1", '{"amount":5}', T0, ttl=60)
    assert (res.delivered_to, res.buffered, res.duplicate) == ([], True, False)
    assert store.publish("e1", "paid", "o-1", "{}", T0, ttl=60).duplicate
    new(store, "a")
    new(store, "b")
    cond = [Condition("signal", "nope"), Condition("event", "paid", "o-1")]
    got = store.take("a", 2, cond, T0 + 1, register=True)
    assert got is not None and (got.index, got.data, got.source) == (1, '{"amount":5}', "e1")
    # taken again at the same position (a replay): the same delivery
    again = store.take("a", 2, cond, T0 + 2, register=True)
    assert again is not None and again.source == "e1"
    assert store.take("b", 2, cond, T0 + 1, register=True) is None  # consumed by "a"


@pytest.mark.wallclock
def test_an_expired_event_is_not_taken(store: Store) -> None:
    store.publish("e1", "paid", "k", None, T0, ttl=10)
    new(store, "a")
    assert store.take("a", 2, [Condition("event", "paid", "k")], T0 + 11, register=False) is None
    assert store.expire_events(T0 + 11) == 1
    assert store.expire_events(T0 + 11) == 0


def test_publishing_delivers_to_a_suspended_wait_and_wakes_it(store: Store) -> None:
    new(store, "a")
    cond = [Condition("event", "paid", "o-1")]
    suspend_on(store, "a", 2, cond)
    row = store.get("a")
    assert row is not None and (row.status, row.wake_at) == ("WAITING", None)
    res = store.publish("e1", "paid", "o-1", "1", T0 + 5, ttl=60)
    assert (res.delivered_to, res.buffered) == (["a"], False)
    row = store.get("a")
    assert row is not None and row.wake_at == T0 + 5
    assert len(store.claim("w2", ["wf"], T0 + 5, 1)) == 1
    got = store.take("a", 2, cond, T0 + 6, register=True)
    assert got is not None and (got.index, got.data, got.source) == (0, "1", "e1")
    other = store.publish("e2", "paid", "o-1", "2", T0 + 7, ttl=60)
    assert other.buffered  # the wait was satisfied: nobody waits any more


def test_a_delivery_before_the_suspend_commit_wakes_at_once(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    cond = [Condition("event", "paid", "k")]
    assert store.take("a", 2, cond, T0, register=True) is None
    store.publish("e1", "paid", "k", "1", T0 + 1, ttl=60)  # arrives while still running
    store.commit([Write("a", c.row.epoch, [], status="WAITING", release=True, await_pos=2)],
                 T0 + 2)
    row = store.get("a")
    assert row is not None and (row.status, row.wake_at) == ("WAITING", T0 + 2)


def test_a_run_waiting_in_several_branches_wakes_for_any_of_them(store: Store) -> None:
    """Concurrent branches suspend one run on several waits and children at once: any that
    was satisfied before the suspension is written wakes it at once."""
    cond = [Condition("event", "paid", "k2")]
    for wid, status in (("a", "delivered"), ("b", "ended"), ("c", "neither")):
        new(store, wid)
        [c] = [x for x in store.claim("w1", ["wf"], T0, 10) if x.row.id == wid]
        if wid == "b":
            store.commit([], T0, [(NewWorkflow("b-kid", "kid", "[]", T0, parent_id="b"),
                                   started("kid"))])
            [k] = store.claim("w2", ["kid"], T0, 1)
            store.commit([Write("b-kid", k.row.epoch, [], status="COMPLETED", result="1",
                                release=True)], T0)
        assert store.take(wid, 3, [Condition("event", "paid", "k1")], T0, register=True) is None
        assert store.take(wid, 5, cond, T0, register=True) is None
        if wid == "a":  # the second branch's event arrives while the run still runs
            store.publish("e-a", "paid", "k2", "1", T0 + 1, ttl=60)
        store.commit([Write(wid, c.row.epoch, [], status="WAITING", release=True,
                            await_positions=(3, 5), await_children=("x-kid", f"{wid}-kid"))],
                     T0 + 2)
        row = store.get(wid)
        assert row is not None and row.status == "WAITING", (wid, status)
        assert row.wake_at == (None if status == "neither" else T0 + 2), (wid, status)


def test_signals_queue_in_order_or_go_to_a_waiting_wait(store: Store) -> None:
    new(store, "a")
    assert not store.send_signal("a", "go", '"first"', T0)
    assert not store.send_signal("a", "go", '"second"', T0)
    got = store.take("a", 2, [Condition("signal", "go")], T0, register=True)
    assert got is not None and got.data == '"first"'
    got = store.take("a", 3, [Condition("signal", "go")], T0, register=True)
    assert got is not None and got.data == '"second"'
    suspend_on(store, "a", 4, [Condition("signal", "go")])
    assert store.send_signal("a", "go", '"third"', T0 + 1)
    row = store.get("a")
    assert row is not None and row.wake_at == T0 + 1


def test_state_updates_are_queryable(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    assert store.query_state("a", "progress") == (False, None)
    store.commit([Write("a", c.row.epoch, [
        Event(2, "StateUpdated", T0, name="progress", data={"value": 1}),
        Event(3, "StateUpdated", T0, name="progress", data={"value": {"done": 2}})])], T0)
    assert store.query_state("a", "progress") == (True, '{"done":2}')


def test_an_ended_workflow_forgets_its_waits(store: Store) -> None:
    new(store, "a")
    suspend_on(store, "a", 2, [Condition("event", "paid", "k")])
    store.terminate("a", "stop", T0 + 1)
    assert store.publish("e1", "paid", "k", None, T0 + 2, ttl=60).buffered


# --- child workflows -----------------------------------------------------------------------


def test_a_child_ending_wakes_its_waiting_parent(store: Store) -> None:
    parent_waiting_for_child(store)
    row = store.get("parent")
    assert row is not None and row.wake_at is None
    [k] = store.claim("w2", ["wf"], T0 + 1, 1)
    assert k.row.id == "child"
    store.commit([Write("child", k.row.epoch, [], status="COMPLETED", result="1",
                        release=True)], T0 + 3)
    row = store.get("parent")
    assert row is not None and row.wake_at == T0 + 3


def test_cancelling_a_parent_cancels_its_children(store: Store) -> None:
    new(store, "parent")
    store.commit([], T0, [(NewWorkflow("child", "wf", "[]", T0, parent_id="parent"),
                           started("wf"))])
    store.terminate("parent", "stop", T0 + 1)
    child = store.get("child")
    assert child is not None and child.cancel_requested and child.wake_at == T0 + 1


# --- circuit breakers ----------------------------------------------------------------------


def test_circuit_state_is_saved_with_optimistic_concurrency(store: Store) -> None:
    assert store.circuit_load("pay") is None
    opened = CircuitState("pay", "OPEN", failures=2, opened_at=T0, next_probe_at=T0 + 30,
                          reason="2 consecutive failures")
    assert store.circuit_save(opened, 0, T0, "CLOSED")
    assert not store.circuit_save(opened, 0, T0, "CLOSED")  # lost the race: exists already
    got = store.circuit_load("pay")
    assert got is not None and (got.state, got.failures, got.version) == ("OPEN", 2, 1)
    assert not store.circuit_save(dataclasses.replace(got, state="HALF_OPEN"), 5, T0, "OPEN")
    assert store.circuit_save(dataclasses.replace(got, probes=1), 1, T0 + 1, "OPEN")
    assert [c.name for c in store.circuits()] == ["pay"]
    moves = store.circuit_transitions("pay", 10)
    assert [(m["source"], m["target"]) for m in moves] == [("CLOSED", "OPEN")]
    assert store.circuit_transitions(None, 10) == moves


# --- users and human tasks -----------------------------------------------------------------


def test_users_and_groups(store: Store) -> None:
    assert store.user_groups("ann") is None
    store.add_user("ann", ["ops", "finance"], T0)
    store.add_user("ann", ["ops"], T0)
    store.add_user("bob", [], T0)
    assert store.user_groups("ann") == frozenset({"ops", "finance"})
    assert store.user_groups("bob") == frozenset()
    assert store.list_users() == [("ann", ["finance", "ops"]), ("bob", [])]


def test_tasks_are_versioned_audited_and_delivered(store: Store) -> None:
    new(store, "a")
    task = Task(id="t1", workflow_id="a", name="approve", group="ops", data={"n": 1})
    made = store.create_task(task, T0)
    assert (made.status, made.version, made.data) == ("OPEN", 1, {"n": 1})
    assert store.create_task(dataclasses.replace(task, name="other"), T0).name == "approve"
    assert [t.id for t in store.list_tasks(None, ["ops"], "OPEN", 10)] == ["t1"]
    assert store.list_tasks(None, [], None, 10) == []
    assert store.list_tasks("zed", None, None, 10) == []
    suspend_on(store, "a", 2, [Condition("task", "t1")])
    done = dataclasses.replace(made, status="COMPLETED", result={"ok": True})
    assert not store.save_task(done, 7, T0 + 1, "ann", "completed", None, deliver=True)
    assert store.save_task(done, 1, T0 + 1, "ann", "completed", {"why": "fine"}, deliver=True)
    got = store.get_task("t1")
    assert got is not None and (got.status, got.version, got.result) == ("COMPLETED", 2,
                                                                        {"ok": True})
    assert [h["action"] for h in store.task_history("t1")] == ["created", "completed"]
    row = store.get("a")
    assert row is not None and row.wake_at == T0 + 1
    delivered = store.take("a", 2, [Condition("task", "t1")], T0 + 2, register=True)
    assert delivered is not None and delivered.data == '{"ok":true}'


def test_a_task_decided_before_its_wait_is_registered_is_taken_by_the_wait(
        store: Store) -> None:
    # a bug report: a manager completed an escalated task in the instant between the
    # escalation and the run waiting again; the decision reached no wait and the run hung
    new(store, "a")
    made = store.create_task(Task(id="t1", workflow_id="a", name="approve"), T0)
    done = dataclasses.replace(made, status="COMPLETED", result={"by": ["boss"]})
    assert store.save_task(done, 1, T0 + 1, "boss", "completed", None, deliver=True)
    got = store.take("a", 3, [Condition("signal", "x"), Condition("task", "t1")], T0 + 2,
                     register=True)
    assert got is not None and got.index == 1 and got.data == '{"by":["boss"]}'
    assert got.source == "task:t1"
    # a task still open is waited for as before
    store.create_task(Task(id="t2", workflow_id="a", name="approve"), T0)
    assert store.take("a", 5, [Condition("task", "t2")], T0 + 3, register=True) is None


def test_an_ended_workflow_cancels_its_open_tasks(store: Store) -> None:
    new(store, "a")
    store.create_task(Task(id="t1", workflow_id="a", name="approve"), T0)
    store.terminate("a", "stop", T0 + 1)
    got = store.get_task("t1")
    assert got is not None and (got.status, got.version) == ("CANCELLED", 2)
    assert [h["action"] for h in store.task_history("t1")] == ["created", "cancelled"]


# --- races ---------------------------------------------------------------------------------


def test_a_publish_racing_a_new_wait_is_never_lost(open_stores: OpenStores) -> None:
    """Either the wait takes the buffered event or the publisher delivers to the wait."""
    waiter, publisher = open_stores(), open_stores()
    n = 40
    for i in range(n):
        new(waiter, f"r{i}")
    taken: dict[int, bool] = {}
    delivered: dict[int, bool] = {}
    barrier = threading.Barrier(2)

    def wait_all() -> None:
        barrier.wait()
        for i in range(n):
            got = waiter.take(f"r{i}", 2, [Condition("event", "go", str(i))], T0, register=True)
            taken[i] = got is not None

    def publish_all() -> None:
        barrier.wait()
        for i in range(n):
            res = publisher.publish(f"e{i}", "go", str(i), None, T0, ttl=60)
            delivered[i] = bool(res.delivered_to)

    threads = [threading.Thread(target=wait_all), threading.Thread(target=publish_all)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(taken[i] != delivered[i] for i in range(n)), (taken, delivered)


def test_parent_and_child_ending_together_never_lose_the_wake_up(
        open_stores: OpenStores) -> None:
    a, b = open_stores(), open_stores()
    n = 30
    for i in range(n):
        new(a, f"p{i}")
    parents = {c.row.id: c.row.epoch for c in a.claim("w1", ["wf"], T0, n)}
    a.commit([], T0, [(NewWorkflow(f"k{i}", "kid", "[]", T0, parent_id=f"p{i}"),
                       started("kid")) for i in range(n)])
    kids = {c.row.id: c.row.epoch for c in b.claim("w2", ["kid"], T0, n)}
    barrier = threading.Barrier(2)

    def suspend_parents() -> None:
        barrier.wait()
        for i in range(n):
            a.commit([Write(f"p{i}", parents[f"p{i}"], [], status="WAITING", release=True,
                            await_child=f"k{i}")], T0 + 1)

    def end_kids() -> None:
        barrier.wait()
        for i in range(n):
            b.commit([Write(f"k{i}", kids[f"k{i}"], [], status="COMPLETED", result="1",
                            release=True)], T0 + 1)

    threads = [threading.Thread(target=suspend_parents), threading.Thread(target=end_kids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(n):
        row = a.get(f"p{i}")
        assert row is not None and row.status == "WAITING" and row.wake_at == T0 + 1, row


# --- queues --------------------------------------------------------------------------------


def test_queue_limits_hold_across_parallel_claimers(open_stores: OpenStores) -> None:
    stores = [open_stores(), open_stores()]
    stores[0].put_queue("q", 3, None, 1, T0)
    for i in range(30):
        stores[0].create(NewWorkflow(f"q{i:02d}", "wf", "[]", T0, queue="q",
                                     queue_key=f"k{i % 4}"), started("wf"))
    new(stores[0], "free")  # not queued: never held back
    got: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def claimer(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            batch = stores[i % 2].claim(f"w{i}", ["wf"], T0, 5)
            with lock:
                got.extend(c.row.id for c in batch)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    queued = [g for g in got if g != "free"]
    assert "free" in got and len(got) == len(set(got))
    assert len(queued) == 3  # concurrency 3 ...
    assert len({int(g[1:]) % 4 for g in queued}) == 3  # ... and one run per key at a time
    [stats] = stores[0].queue_stats(T0)
    assert (stats["running"], stats["depth"], stats["concurrency"]) == (3, 27, 3)


# --- schedules -----------------------------------------------------------------------------


@pytest.mark.wallclock
def test_each_schedule_tick_runs_once(open_stores: OpenStores) -> None:
    a, b = open_stores(), open_stores()
    row = ScheduleRow("nightly", "wf", "0 3 * * *", "UTC", "one", [1], False, T0 + 10)
    assert a.put_schedule(row, T0).next_tick == T0 + 10
    # a new definition keeps the next tick unless the clock (cron, timezone) changed
    assert a.put_schedule(dataclasses.replace(row, args=[2], next_tick=T0 + 99), T0).next_tick \
        == T0 + 10
    assert a.due_schedules(T0) == [] and a.next_schedule_tick() == T0 + 10
    [due] = b.due_schedules(T0 + 10)
    run = (NewWorkflow("nightly@1", "wf", "[2]", T0 + 10), started("wf"))
    assert a.advance_schedule("nightly", due.next_tick, T0 + 20, T0 + 10, [run], T0 + 10)
    assert not b.advance_schedule("nightly", due.next_tick, T0 + 20, T0 + 10, [run], T0 + 10)
    assert [w.id for w in a.list_workflows(None, "wf", 10)] == ["nightly@1"]
    got = a.get_schedule("nightly")
    assert got is not None and (got.next_tick, got.last_tick, got.args) == (T0 + 20, T0 + 10,
                                                                            [2])
    assert a.set_schedule_paused("nightly", True, None, T0)
    assert a.due_schedules(T0 + 100) == [] and a.next_schedule_tick() is None
    assert [s.name for s in b.list_schedules()] == ["nightly"]
    assert a.delete_schedule("nightly") and not a.delete_schedule("nightly")


@pytest.mark.wallclock
def test_purge_deletes_old_ended_runs_with_all_they_recorded(store: Store) -> None:
    for wid in ("old-done", "old-failed", "recent", "waiting"):
        new(store, wid)
    claimed = {c.row.id: c.row.epoch for c in store.claim("w1", ["wf"], T0, 10)}
    cond = [Condition("event", "paid", "k")]
    for wid in ("old-done", "waiting"):
        assert store.take(wid, 2, cond, T0, register=True) is None
        store.send_signal(wid, "poke", '"x"', T0)
        store.create_task(Task(id=f"{wid}-task", workflow_id=wid, name="approve"), T0)
    store.commit([Write("old-done", claimed["old-done"], [step_event(2)], status="COMPLETED",
                        result="1", release=True),
                  Write("old-failed", claimed["old-failed"], [], status="FAILED",
                        error={"type": "E", "message": "m"}, release=True),
                  Write("waiting", claimed["waiting"], [], status="WAITING", release=True,
                        await_pos=2)], T0 + 10)
    store.commit([Write("recent", claimed["recent"], [], status="COMPLETED", result="2",
                        release=True)], T0 + 100)
    ended = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]
    assert store.count_ended(T0 + 50, ended) == 2
    assert store.count_ended(T0 + 50, ["FAILED"]) == 1
    assert store.purge(T0 + 50, ["FAILED"], 10) == ["old-failed"]
    assert sorted(store.purge(T0 + 50, ended, 10)) == ["old-done"]
    assert store.purge(T0 + 50, ended, 10) == []
    assert store.get("old-done") is None and store.journal("old-done") == []
    assert store.get_task("old-done-task") is None
    assert store.task_history("old-done-task") == []  # its audit went with it
    for wid in ("recent", "waiting"):  # too recent, and not ended
        row = store.get(wid)
        assert row is not None and store.journal(wid)
    assert store.get_task("waiting-task") is not None
    # the id can be started again: a new run, not the purged one
    row, created = store.create(NewWorkflow("old-done", "wf", "[7]", T0 + 200),
                                started("wf", T0 + 200))
    assert created and row.status == "PENDING"
