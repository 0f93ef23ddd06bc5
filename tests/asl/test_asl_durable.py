"""``asl.register``: a state machine as a durable legato workflow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import legato
from legato import asl
from legato.testing import VirtualClock, replay, run_to_completion

ORDER = {
    "StartAt": "Charge",
    "States": {
        "Charge": {"Type": "Task", "Resource": "charge", "ResultPath": "$.payment",
                   "Retry": [{"ErrorEquals": ["ConnectionError"], "IntervalSeconds": 30}],
                   "Next": "Cool off"},
        "Cool off": {"Type": "Wait", "Seconds": 86400, "Next": "Ship"},
        "Ship": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:ship",
                 "ResultPath": "$.shipment", "End": True},
    },
}


@pytest.fixture(autouse=True)
def _forget_registrations() -> Iterator[None]:
    """Registered machines leave the process-wide registry after each test."""
    from legato.runtime.registry import REGISTRY

    before = set(REGISTRY.names())
    yield
    for name in set(REGISTRY.names()) - before:
        REGISTRY.remove(name)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_700_000_000.0)


@pytest.fixture
def engine(tmp_path: Path, clock: VirtualClock) -> Iterator[legato.Engine]:
    with legato.Engine(f"sqlite:///{tmp_path}/asl.db", clock=clock) as eng:
        yield eng


def test_register_runs_durably_with_retries_and_timers(engine: legato.Engine,
                                                        clock: VirtualClock) -> None:
    calls: list[str] = []

    def charge(event: Any) -> Any:
        calls.append("charge")
        if calls.count("charge") == 1:
            raise ConnectionError("gateway down")
        return {"paid": event["id"]}

    def ship(event: Any) -> Any:
        calls.append("ship")
        return "parcel-1"

    asl.register("asl_order", ORDER, handlers={"charge": charge, "ship": ship})
    handle = engine.start("asl_order", {"id": 1})
    output = run_to_completion(handle, clock)
    assert output == {"id": 1, "payment": {"paid": 1}, "shipment": "parcel-1"}
    assert handle.status == "COMPLETED"
    assert calls == ["charge", "charge", "ship"]
    history = handle.history()
    names = [e.get("name") for e in history]
    assert "asl:2:TaskStateEntered:Charge" in names
    assert "asl:asl_order:charge" in names  # the journaled step
    assert any(n and n.startswith("asl:wait:") for n in names)  # the durable timer
    # the recorded history replays against the registered workflow without running handlers
    result = replay(engine.registry.get("asl_order").fn, history)
    assert result.complete and result.result == output
    assert calls == ["charge", "charge", "ship"]


def test_a_restarted_engine_resumes_where_the_machine_was(tmp_path: Path,
                                                          clock: VirtualClock) -> None:
    calls: list[str] = []
    handlers = {"charge": lambda e: calls.append("charge") or "paid",
                "ship": lambda e: calls.append("ship") or "parcel"}
    asl.register("asl_resume", ORDER, handlers=handlers)
    url = f"sqlite:///{tmp_path}/resume.db"
    with legato.Engine(url, clock=clock) as first:
        handle = first.start("asl_resume", {"id": 2})
        handle.wait_status("WAITING")  # charged, now in the day-long Wait state
    assert calls == ["charge"]
    with legato.Engine(url, clock=clock) as second:  # a new process, the same store
        output = run_to_completion(second.handle(handle.workflow_id), clock)
    assert output == {"id": 2, "payment": "paid", "shipment": "parcel"}
    assert calls == ["charge", "ship"]  # the charge was not repeated


def test_failed_machine_fails_the_workflow_with_the_asl_error(engine: legato.Engine,
                                                              clock: VirtualClock) -> None:
    asl.register("asl_fail", {"StartAt": "F", "States": {
        "F": {"Type": "Fail", "Error": "Order.Invalid", "Cause": "no items"}}})
    handle = engine.start("asl_fail", {})
    with pytest.raises(legato.WorkflowFailed) as info:
        run_to_completion(handle, clock)
    assert handle.status == "FAILED"
    assert info.value.error is not None
    assert "Order.Invalid: no items" in info.value.error["message"]


def test_machine_timeout_is_timed_out(engine: legato.Engine, clock: VirtualClock) -> None:
    asl.register("asl_slow", {"TimeoutSeconds": 60, "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    handle = engine.start("asl_slow", {})
    with pytest.raises(legato.WorkflowFailed):
        run_to_completion(handle, clock)
    assert handle.status == "TIMED_OUT"


def test_cancel_is_cancelled(engine: legato.Engine) -> None:
    asl.register("asl_cancel", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    handle = engine.start("asl_cancel", {})
    handle.wait_status("WAITING")
    handle.cancel()
    assert handle.wait_status("CANCELLED") == "CANCELLED"


def test_register_checks_handlers_at_once() -> None:
    with pytest.raises(asl.HandlerError, match="charge"):
        asl.register("asl_missing", ORDER, handlers={"ship": print})
