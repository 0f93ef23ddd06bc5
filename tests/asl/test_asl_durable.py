"""``asl.register``: a state machine as a durable legato workflow."""

from __future__ import annotations

import threading
import time
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


@pytest.mark.wallclock
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


@pytest.mark.wallclock
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


def _branch(*states: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A branch machine of the given states in a row."""
    names = [n for n, _ in states]
    built = {}
    for i, (n, body) in enumerate(states):
        built[n] = {**body, **({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True})}
    return {"StartAt": names[0], "States": built}


def test_parallel_branches_run_at_once_and_replay_each(engine: legato.Engine,
                                                       clock: VirtualClock) -> None:
    both = threading.Barrier(2, timeout=5)  # passes only if both branches' Tasks run at once
    calls: list[str] = []

    def meet(event: Any) -> Any:
        calls.append(f"meet {event}")
        both.wait()
        return f"{event} met"

    def finish(event: Any) -> Any:
        calls.append(f"finish {event}")
        return f"{event} done"

    asl.register("asl_par", {"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "End": True, "Branches": [
            _branch(("A1", {"Type": "Task", "Resource": "meet", "InputPath": "$.a"}),
                    ("Cool", {"Type": "Wait", "Seconds": 3600}),
                    ("A2", {"Type": "Task", "Resource": "finish"})),
            _branch(("B1", {"Type": "Task", "Resource": "meet", "InputPath": "$.b"}),
                    ("B2", {"Type": "Task", "Resource": "finish"}))]}}},
        handlers={"meet": meet, "finish": finish})
    handle = engine.start("asl_par", {"a": "a", "b": "b"})
    output = run_to_completion(handle, clock)  # the Wait suspends the run: a replay resumes it
    assert output == ["a met done", "b met done"]
    assert sorted(calls) == ["finish a met", "finish b met", "meet a", "meet b"]  # once each
    history = handle.history()
    lanes = {e.get("lane") for e in history if str(e.get("name", "")).startswith("asl:")}
    assert len(lanes - {None}) == 2  # each branch's markers carry its lane
    result = replay(engine.registry.get("asl_par").fn, history)
    assert result.complete and result.result == output
    assert len(calls) == 4


def _gathering(n: int) -> tuple[Any, list[int]]:
    """A handler that waits (up to 1 s) until ``n`` calls run together, and [now, most at
    once]: a Map's concurrency shows in the most."""
    together = threading.Condition()
    running = [0, 0]

    def work(event: Any) -> Any:
        with together:
            running[0] += 1
            running[1] = max(running[1], running[0])
            together.notify_all()
            together.wait_for(lambda: running[0] >= n, timeout=1)
        with together:
            running[0] -= 1
        return event

    return work, running


def test_map_runs_up_to_max_concurrency_iterations_at_once(engine: legato.Engine,
                                                           clock: VirtualClock) -> None:
    work, running = _gathering(2)
    asl.register("asl_map_conc", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 2, "End": True,
        "ItemProcessor": _branch(("W", {"Type": "Task", "Resource": "work"}))}}},
        handlers={"work": work})
    handle = engine.start("asl_map_conc", [1, 2, 3, 4])
    assert run_to_completion(handle, clock) == [1, 2, 3, 4]
    assert running[1] == 2


def test_a_failed_branch_stops_the_other_and_catch_takes_over(engine: legato.Engine,
                                                              clock: VirtualClock) -> None:
    calls: list[str] = []

    def slow(event: Any) -> Any:
        calls.append("slow")
        deadline = time.monotonic() + 5  # until the sibling's failure is recorded
        while time.monotonic() < deadline and not any(
                e["type"] == "BranchFailed" for e in engine.handle("pf").history()):
            time.sleep(0.01)
        return "slow"

    def never(event: Any) -> Any:
        calls.append("never")
        return "never"

    def broken(event: Any) -> Any:
        calls.append("broken")
        raise ValueError("card declined")

    asl.register("asl_par_fail", {"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "Next": "Done", "Branches": [
            _branch(("S", {"Type": "Task", "Resource": "slow"}),
                    ("N", {"Type": "Task", "Resource": "never"})),
            _branch(("X", {"Type": "Task", "Resource": "broken"}))],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                       "Next": "Done"}]},
        "Done": {"Type": "Pass", "End": True}}},
        handlers={"slow": slow, "never": never, "broken": broken})
    handle = engine.start("asl_par_fail", {}, workflow_id="pf")
    output = run_to_completion(handle, clock)
    assert output["error"]["Error"] == "ValueError"
    assert sorted(calls) == ["broken", "slow"]  # the other branch stopped before "never"


def test_an_inline_map_runs_at_most_40_iterations_at_once(tmp_path: Path,
                                                          clock: VirtualClock) -> None:
    work, running = _gathering(40)
    asl.register("asl_map_40", {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True,
        "ItemProcessor": _branch(("W", {"Type": "Task", "Resource": "work"}))}}},
        handlers={"work": work})
    # more step threads than 40, so that only the Map's own limit holds them back
    with legato.Engine(f"sqlite:///{tmp_path}/m40.db", clock=clock, step_threads=100) as eng:
        handle = eng.start("asl_map_40", list(range(120)))
        assert run_to_completion(handle, clock) == list(range(120))
    assert running[1] == 40
