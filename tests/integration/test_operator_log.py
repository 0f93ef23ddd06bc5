"""The operator log (issue 17), on SQLite and PostgreSQL: every operator action on no run or
task — publishing, schedules, circuit resets, tokens, users — is recorded with who did it
once it took effect; ``schedules.trigger`` runs a schedule now without moving its next tick;
``reset_circuit`` closes a breaker for every worker on the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]
MONDAY_9 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC).timestamp()
ALICE = legato.Actor("alice", token_id="tok_alice001")


def _entry(engine: legato.Engine, action: str) -> dict[str, Any]:
    """The newest entry of ``action`` (there must be one)."""
    found = engine.operator_log.list(action=action)
    assert found, f"no {action} in {engine.operator_log.list()}"
    return found[0]


def test_each_action_is_recorded_with_its_actor(make_engine: Make, unique_name) -> None:
    clock = VirtualClock(start=MONDAY_9 + 1)
    name = unique_name("job")

    @legato.workflow(name=name)
    def job(ctx: legato.WorkflowContext, n: int) -> int:
        return n

    engine = make_engine(clock=clock)
    engine.publish("order.paid", key="o-1", data={"amount": 5}, event_id="e-1", actor=ALICE)
    engine.publish("order.paid", key="o-1", event_id="e-1", actor=ALICE)  # a duplicate
    engine.schedules.create("nightly", job, "0 3 * * *", args=[1], actor="bob")
    engine.schedules.create("nightly", job, "0 3 * * *", args=[1], actor="bob")  # no change
    engine.schedules.create("nightly", job, "0 4 * * *", args=[1], actor="bob")
    engine.schedules.pause("nightly", actor="carol")
    engine.schedules.pause("nightly", actor="carol")  # paused already: nothing happens
    engine.schedules.resume("nightly", actor="carol")
    engine.schedules.delete("nightly", actor=ALICE)
    engine.users.add("dave", ["finance"], actor="root")
    engine.users.add("dave", ["finance"], actor="root")  # nothing new
    info, secret = engine.tokens.create("dave", "viewer", actor=ALICE)
    engine.tokens.revoke(info.id, actor=legato.Actor("root"))
    engine.tokens.revoke(info.id, actor="root")  # revoked already
    engine.users.add("erin")  # no actor given

    log = engine.operator_log.list()
    assert [(e["action"], e["target"], e["actor"]) for e in log] == [
        ("user.add", "erin", None),
        ("token.revoke", info.id, {"user": "root"}),
        ("token.create", info.id, ALICE.as_dict()),
        ("user.add", "dave", {"user": "root"}),
        ("schedule.delete", "nightly", ALICE.as_dict()),
        ("schedule.resume", "nightly", {"user": "carol"}),
        ("schedule.pause", "nightly", {"user": "carol"}),
        ("schedule.update", "nightly", {"user": "bob"}),
        ("schedule.create", "nightly", {"user": "bob"}),
        ("event.publish", "order.paid", ALICE.as_dict()),
    ]
    seqs = [e["seq"] for e in log]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    assert all(e["at"] == "2027-01-04T09:00:01+00:00" for e in log)
    publish = log[-1]["data"]
    assert publish == {"event_id": "e-1", "key": "o-1", "delivered": 0, "buffered": True}
    assert log[-2]["data"]["cron"] == "0 3 * * *" and log[-3]["data"]["cron"] == "0 4 * * *"
    created = log[2]["data"]
    assert created == {"user": "dave", "role": "viewer", "expires_at": None}
    assert secret not in repr(log)
    assert log[3]["data"] == {"created": True, "groups": ["finance"]}


def test_the_log_filters_by_action_and_time_newest_first(make_engine: Make) -> None:
    clock = VirtualClock(start=MONDAY_9)
    engine = make_engine(clock=clock)
    for i in range(5):
        engine.publish("tick", key=str(i), actor="ops")
        engine.users.add(f"u{i}", actor="ops")
        clock.advance(60)
    assert len(engine.operator_log.list()) == 10
    assert [e["target"] for e in engine.operator_log.list(action="user.add", limit=2)] == \
        ["u4", "u3"]
    since = MONDAY_9 + 180
    recent = engine.operator_log.list(since=since)
    assert [e["data"]["key"] for e in recent if e["action"] == "event.publish"] == ["4", "3"]
    by_datetime = engine.operator_log.list(since=datetime.fromtimestamp(since, UTC))
    by_text = engine.operator_log.list(since="2027-01-04T09:03:00Z")
    assert recent == by_datetime == by_text
    assert engine.operator_log.list(action="circuit.reset") == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": 0}, "limit"),
    ({"limit": "10"}, "limit"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2027-01-04T09:00:00"}, "offset"),
    ({"since": datetime(2027, 1, 4)}, "offset"),
    ({"since": float("nan")}, "since"),
    ({"action": ""}, "action"),
])
def test_bad_filters_are_one_clear_error(make_engine: Make, kwargs: dict[str, Any],
                                         message: str) -> None:
    engine = make_engine()
    with pytest.raises(legato.InvalidInput, match=message):
        engine.operator_log.list(**kwargs)


def test_a_bad_actor_is_refused_before_anything_happens(make_engine: Make) -> None:
    engine = make_engine()
    with pytest.raises(legato.InvalidInput, match="actor"):
        engine.publish("x", event_id="e-1", actor=42)  # type: ignore[arg-type]
    with pytest.raises(legato.InvalidInput, match="actor"):
        engine.users.add("frank", actor="bad\x00name")
    assert engine.publish("x", event_id="e-1").duplicate is False  # e-1 was not stored
    assert engine.users.list() == []
    assert [e["action"] for e in engine.operator_log.list()] == ["event.publish"]


def test_record_and_list_directly(make_engine: Make, clock: VirtualClock) -> None:
    engine = make_engine(clock=clock)
    engine.operator_log.record("deploy.finished", "v1.2.3", actor=ALICE,
                               data={"commit": "abc"})
    (entry,) = engine.operator_log.list()
    assert entry["action"] == "deploy.finished" and entry["target"] == "v1.2.3"
    assert entry["actor"] == {"user": "alice", "token_id": "tok_alice001"}
    assert entry["data"] == {"commit": "abc"}
    assert entry["at"] == "2027-01-15T08:00:00+00:00"
    with pytest.raises(legato.InvalidInput, match="data"):
        engine.operator_log.record("x", "y", actor=None, data={1, 2})


# --- schedules.trigger ----------------------------------------------------------------------


def test_trigger_runs_a_schedule_now_without_moving_its_next_tick(make_engine: Make,
                                                                  unique_name) -> None:
    clock = VirtualClock(start=MONDAY_9 + 1)
    name = unique_name("report")

    @legato.workflow(name=name)
    def report(ctx: legato.WorkflowContext, n: int, who: str) -> str:
        return f"{n} for {who}"

    engine = make_engine(clock=clock).launch()
    engine.schedules.create(name, report, "0 3 * * *", args=[7, "ops"])
    before = engine.schedules.get(name)
    first = engine.schedules.trigger(name, actor=ALICE)
    assert first.result(timeout=10) == "7 for ops"
    assert first.workflow_id.startswith(f"{name}@2027-01-04T09:00:01Z")
    second = engine.schedules.trigger(name)  # a second trigger is a second run
    assert second.workflow_id != first.workflow_id
    assert second.result(timeout=10) == "7 for ops"
    after = engine.schedules.get(name)
    assert (after["next_tick"], after["last_tick"]) == (before["next_tick"],
                                                        before["last_tick"])
    entry = _entry(engine, "schedule.trigger")
    assert entry["target"] == name and entry["actor"] is None
    assert entry["data"] == {"workflow_id": second.workflow_id, "workflow": name}
    assert engine.operator_log.list(action="schedule.trigger")[1]["actor"] == ALICE.as_dict()
    engine.schedules.pause(name)
    paused = engine.schedules.trigger(name)  # an explicit trigger runs a paused one too
    assert paused.result(timeout=10) == "7 for ops"
    with pytest.raises(legato.NotFound, match="no schedule named 'nope'"):
        engine.schedules.trigger("nope")


def test_trigger_from_a_client_engine_runs_on_the_workers(make_engine: Make,
                                                          unique_name) -> None:
    clock = VirtualClock(start=MONDAY_9 + 1)
    name = unique_name("job")

    @legato.workflow(name=name)
    def job(ctx: legato.WorkflowContext) -> str:
        return "done"

    worker = make_engine(clock=clock).launch()
    client = make_engine(clock=clock)
    client.schedules.create(name, job, "0 3 * * *")
    handle = client.schedules.trigger(name, actor="bob")
    assert handle.result(timeout=10) == "done"
    assert _entry(worker, "schedule.trigger")["actor"] == {"user": "bob"}


# --- reset_circuit -------------------------------------------------------------------------


def test_a_reset_closes_a_breaker_for_every_worker(make_engine: Make, clock: VirtualClock,
                                                   unique_name) -> None:
    name = unique_name("payments")
    cb = legato.CircuitBreaker(name, failure_threshold=2, reset_timeout=3600, fail_fast=True)
    healthy = {"on": False}

    @legato.step(circuit=cb, retry=legato.RetryPolicy(max_attempts=2, initial_interval=0))
    def charge() -> str:
        if not healthy["on"]:
            raise ConnectionError("payments down")
        return "charged"

    @legato.workflow(name=unique_name("pay"))
    def pay(ctx: legato.WorkflowContext) -> str:
        return charge()

    worker = make_engine(clock=clock).launch()
    with pytest.raises(legato.WorkflowFailed):
        worker.start(pay).result(timeout=10)  # two failures open the breaker
    (state,) = [c for c in worker.circuits() if c["name"] == name]
    assert state["state"] == "OPEN"
    healthy["on"] = True
    with pytest.raises(legato.WorkflowFailed, match=r"CircuitOpen|open"):
        worker.start(pay).result(timeout=10)  # open for an hour: refused at once

    admin = make_engine(clock=clock)  # another engine on the same store, no worker
    clock.advance(1)
    shown = admin.reset_circuit(name, actor=ALICE)
    assert shown["state"] == "CLOSED" and shown["failures"] == 0
    (state,) = [c for c in worker.circuits() if c["name"] == name]
    assert (state["state"], state["failures"], state["next_probe_at"]) == ("CLOSED", 0, None)
    assert worker.start(pay).result(timeout=10) == "charged"  # no reset_timeout to wait
    last = worker.circuit_transitions(name)[0]
    assert (last["source"], last["target"]) == ("OPEN", "CLOSED")
    assert "reset" in last["reason"] and "alice" in last["reason"]
    entry = _entry(worker, "circuit.reset")
    assert (entry["target"], entry["actor"]) == (name, ALICE.as_dict())
    assert entry["data"] == {"from": "OPEN", "failures": 2}

    admin.reset_circuit(name, actor="bob")  # closed and clear already: nothing to record
    assert len(worker.operator_log.list(action="circuit.reset")) == 1
    with pytest.raises(legato.NotFound, match="no circuit breaker named 'nope'"):
        admin.reset_circuit("nope")


def test_a_step_waiting_for_the_breaker_goes_on_after_a_reset(make_engine: Make,
                                                                clock: VirtualClock,
                                                                unique_name) -> None:
    """A step waiting for an open breaker (not fail-fast) goes on once it next looks."""
    name = unique_name("mail")
    cb = legato.CircuitBreaker(name, failure_threshold=1, reset_timeout=60)
    healthy = {"on": False}

    @legato.step(circuit=cb, retry=legato.RetryPolicy(max_attempts=5, initial_interval=0))
    def send() -> str:
        if not healthy["on"]:
            raise ConnectionError("smtp down")
        return "sent"

    @legato.workflow(name=unique_name("notify"))
    def notify(ctx: legato.WorkflowContext) -> str:
        return send()

    worker = make_engine(clock=clock).launch()
    handle = worker.start(notify)
    handle.wait_status("WAITING")
    healthy["on"] = True
    worker.reset_circuit(name)
    clock.advance(61)
    deadline = time.monotonic() + 10
    while handle.status != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert handle.result(timeout=5) == "sent"
