"""Publishing and group commits, on every backend: who gets an event, in which order, and
what a fenced (stale) write must leave alone. On PostgreSQL each is one statement batch that
decides in SQL what the code used to decide between round trips; these pin the outcomes."""

from __future__ import annotations

import threading
from collections.abc import Callable

from conformance_helpers import T0, new, parent_waiting_for_child, suspend_on

from legato.domain.tasks import Task
from legato.store import Store, Write
from legato.store.base import Condition

OpenStores = Callable[[], Store]


def test_an_event_goes_to_every_wait_still_waiting_oldest_first(store: Store) -> None:
    paid = Condition("event", "paid", "k")
    for wid, at in (("c", T0 + 1), ("a", T0 + 2), ("b", T0 + 3), ("ended", T0),
                    ("signalled", T0)):
        new(store, wid)
        suspend_on(store, wid, 2, [paid, Condition("signal", "go")], at)
    store.terminate("ended", "stop", T0 + 4)
    assert store.send_signal("signalled", "go", '"s"', T0 + 4)  # its wait got a signal first
    res = store.publish("e1", "paid", "k", '"x"', T0 + 5, ttl=60)
    assert (res.delivered_to, res.buffered, res.duplicate) == (["c", "a", "b"], False, False)
    for wid in ("c", "a", "b"):
        row = store.get(wid)
        assert row is not None and row.wake_at == T0 + 5
        got = store.take(wid, 2, [paid], T0 + 6, register=True)
        assert got is not None and (got.index, got.data, got.source) == (0, '"x"', "e1")
    got = store.take("signalled", 2, [paid, Condition("signal", "go")], T0 + 6, register=True)
    assert got is not None and (got.index, got.data) == (1, '"s"')
    # delivered, so not buffered for a later wait
    new(store, "late")
    assert store.take("late", 2, [paid], T0 + 7, register=True) is None


def test_an_event_id_is_published_once_whatever_its_key(store: Store) -> None:
    assert store.publish("e1", "paid", "k1", '"first"', T0, ttl=60).buffered
    new(store, "a")
    suspend_on(store, "a", 2, [Condition("event", "paid", "k2")], T0)
    res = store.publish("e1", "paid", "k2", '"again"', T0 + 1, ttl=60)
    assert (res.duplicate, res.delivered_to, res.buffered) == (True, [], False)
    row = store.get("a")
    assert row is not None and (row.status, row.wake_at) == ("WAITING", None)
    assert store.publish("e2", "paid", "k2", '"new"', T0 + 2, ttl=60).delivered_to == ["a"]


def test_one_event_id_published_twice_at_once_is_delivered_once(
        open_stores: OpenStores) -> None:
    first, second = open_stores(), open_stores()
    n = 20
    for i in range(n):
        for key in ("x", "y"):
            new(first, f"{key}{i}")
            suspend_on(first, f"{key}{i}", 2, [Condition("event", "go", f"{key}{i}")], T0)
    results: dict[str, list[tuple[bool, list[str]]]] = {"x": [], "y": []}
    barrier = threading.Barrier(2)

    def publish_all(store: Store, key: str) -> None:
        barrier.wait()
        for i in range(n):
            res = store.publish(f"e{i}", "go", f"{key}{i}", None, T0 + 1, ttl=60)
            results[key].append((res.duplicate, res.delivered_to))

    threads = [threading.Thread(target=publish_all, args=(first, "x")),
               threading.Thread(target=publish_all, args=(second, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(n):
        (dx, to_x), (dy, to_y) = results["x"][i], results["y"][i]
        assert dx != dy, (i, results)  # exactly one of them is the duplicate
        assert (to_x, to_y) == (([], [f"y{i}"]) if dx else ([f"x{i}"], []))


def test_a_fenced_end_leaves_parent_waits_and_tasks_alone(store: Store) -> None:
    parent_waiting_for_child(store)
    [k] = store.claim("w2", ["wf"], T0 + 1, 1)
    assert k.row.id == "child"
    assert store.take("child", 2, [Condition("event", "paid", "k")], T0 + 1,
                      register=True) is None
    store.create_task(Task(id="t1", workflow_id="child", name="approve"), T0 + 1)
    store.remove_worker("w2", T0 + 2)  # declared dead: the child is released, epoch bumped
    res = store.commit([Write("child", k.row.epoch, [], status="CANCELLED", result=None,
                              release=True)], T0 + 3)
    assert res.fenced == {"child"}
    row = store.get("parent")
    assert row is not None and (row.status, row.wake_at) == ("WAITING", None)
    row = store.get("child")
    assert row is not None and row.status in ("PENDING", "RUNNING") and not row.cancel_requested
    task = store.get_task("t1")
    assert task is not None and task.status == "OPEN"
    # its wait is still registered: the event is delivered, not buffered
    assert store.publish("e1", "paid", "k", None, T0 + 4, ttl=60).delivered_to == ["child"]
