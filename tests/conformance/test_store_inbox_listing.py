"""The Store contract for listing buffered events and filtering human tasks (issue 17), and
for escalating a task once, on every backend."""

from __future__ import annotations

import logging

import pytest
from conformance_helpers import T0, new

from legato.domain.tasks import Task
from legato.runtime.protocol import TaskOp
from legato.store import Store
from legato.store.base import Condition
from legato.worker.escalation import task_op


def test_buffered_events_are_the_unconsumed_unexpired_ones(store: Store) -> None:
    store.publish("e1", "paid", "o-1", '{"a":1}', T0, ttl=60)
    store.publish("e2", "paid", "o-2", None, T0 + 1, ttl=10)
    store.publish("e3", "shipped", "o-1", "2", T0 + 2, ttl=60)
    new(store, "a")
    assert store.take("a", 2, [Condition("event", "paid", "o-2")], T0 + 3, True) is not None
    got = store.buffered_events(None, None, T0 + 3, 10)
    assert [(e.event_id, e.type, e.key, e.data, e.published_at, e.expires_at) for e in got] \
        == [("e1", "paid", "o-1", '{"a":1}', T0, T0 + 60),
            ("e3", "shipped", "o-1", "2", T0 + 2, T0 + 62)]
    assert [e.event_id for e in store.buffered_events("paid", None, T0 + 3, 10)] == ["e1"]
    assert [e.event_id for e in store.buffered_events(None, "o-1", T0 + 3, 1)] == ["e1"]
    assert [e.event_id for e in store.buffered_events("shipped", "o-1", T0 + 3, 10)] == ["e3"]
    assert store.buffered_events(None, None, T0 + 61, 10)[0].event_id == "e3"  # e1 expired


@pytest.mark.wallclock
def test_expiring_returns_the_count_and_warns_for_unconsumed_events_only(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.publish("taken", "paid", "k", None, T0, ttl=10)
    store.publish("left", "paid", "k", None, T0 + 1, ttl=10)
    new(store, "a")
    assert store.take("a", 2, [Condition("event", "paid", "k")], T0 + 2, True) is not None
    caplog.set_level(logging.WARNING, logger="legato")
    assert store.expire_events(T0 + 20) == 2
    (record,) = [r for r in caplog.records if "expired unconsumed" in r.getMessage()]
    assert "'left'" in record.getMessage() and "19s" in record.getMessage()


def test_tasks_by_statuses_and_workflow(store: Store) -> None:
    for wid, status in (("a", "OPEN"), ("b", "CLAIMED"), ("c", "COMPLETED")):
        new(store, wid)
        store.create_task(Task(id=f"t-{wid}", workflow_id=wid, name="n", group="ops",
                               status=status), T0)
    assert [t.id for t in store.list_tasks(None, ["ops"], ["OPEN", "CLAIMED"], 10)] == [
        "t-a", "t-b"]
    assert [t.id for t in store.list_tasks(None, None, None, 10)] == ["t-a", "t-b", "t-c"]
    assert [t.id for t in store.list_tasks(None, None, ["COMPLETED"], 10)] == ["t-c"]
    assert [t.id for t in store.list_tasks(None, None, None, 10, workflow_id="b")] == ["t-b"]
    assert store.list_tasks(None, None, ["OPEN"], 10, workflow_id="b") == []


def test_escalating_twice_escalates_once(store: Store) -> None:
    new(store, "a")
    task = Task(id="a:2", workflow_id="a", name="approve", group="ops", due=T0 + 60,
                escalate_to="bosses")
    store.create_task(task, T0)
    first = task_op(store, T0 + 61, TaskOp("a:2", escalation_due=T0 + 200))
    assert (first.group, first.escalated, first.due, first.status) == (
        "bosses", True, T0 + 200, "OPEN")
    # asked again (a replay after a crash): unchanged, not expired
    again = task_op(store, T0 + 70, TaskOp("a:2", escalation_due=T0 + 999))
    assert (again.group, again.due, again.status) == ("bosses", T0 + 200, "OPEN")
    stored = store.get_task("a:2")
    assert stored is not None and (stored.due, stored.escalated) == (T0 + 200, True)
    gone = task_op(store, T0 + 201, TaskOp("a:2", expire=True))
    assert gone.status == "EXPIRED"
    assert [h["action"] for h in store.task_history("a:2")] == [
        "created", "escalated", "expired"]
