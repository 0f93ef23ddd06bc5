"""``arn:aws:states:::states:startExecution[.sync|.sync:2]``: child state machines.

In memory the children come from ``asl.execute(machines=...)``; durably they are machines
registered with ``asl.register``, run as legato child workflows (root ``make_engine``
fixture: SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

import legato
from legato import asl
from legato.testing import VirtualClock, run_to_completion

START = "arn:aws:states:::states:startExecution"
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:"


def parent(resource: str, machine: str = "Child", *, name: str | None = "run-1",
           catch: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {"StateMachineArn": ARN + machine, "Input": {"n.$": "$.n"}}
    if name is not None:
        params["Name"] = name
    task: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": params,
                            "End": True}
    if catch:
        task["Catch"] = [{"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"}]
        task.pop("End")
        task["Next"] = "Done"
    states: dict[str, Any] = {"Start": task}
    if catch:
        states["Done"] = {"Type": "Succeed"}
        states["Failed"] = {"Type": "Pass", "End": True}
    return {"StartAt": "Start", "States": states}


CHILD = {"StartAt": "Wait", "States": {
    "Wait": {"Type": "Wait", "Seconds": 60, "Next": "Double"},
    "Double": {"Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"},
               "End": True}}}
BROKEN = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Child.Broke",
                                           "Cause": "on purpose"}}}


# --- in memory ------------------------------------------------------------------------------


def test_sync_waits_and_returns_output_as_json_text() -> None:
    result = asl.execute(parent(START + ".sync"), {"n": 4}, machines={"Child": CHILD},
                         start_time=1_000.0)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    out = result.output
    assert out["Output"] == '{"doubled":8}' and out["Input"] == '{"n":4}'
    assert out["Status"] == "SUCCEEDED" and out["Name"] == "run-1"
    assert out["ExecutionArn"] == \
        "arn:aws:states:us-east-1:123456789012:execution:Child:run-1"
    assert out["StateMachineArn"] == ARN + "Child"
    assert out["StopDate"] - out["StartDate"] == 60_000  # the child's Wait, in ms
    assert list(out) == sorted(out)  # AWS's key order
    assert result.stop_time == pytest.approx(1_060.0)
    assert result.trace()[3:6] == ["TaskStarted", "TaskSubmitted", "TaskSucceeded"]
    [child] = result.children
    assert child.output == {"doubled": 8} and child.execution_arn == out["ExecutionArn"]


def test_sync2_returns_parsed_json() -> None:
    result = asl.execute(parent(START + ".sync:2"), {"n": 1}, machines={"Child": CHILD})
    assert result.output["Output"] == {"doubled": 2}
    assert result.output["Input"] == {"n": 1}


def test_without_sync_it_returns_at_once() -> None:
    result = asl.execute(parent(START), {"n": 2}, machines={"Child": CHILD},
                         start_time=1_000.0)
    assert set(result.output) == {"ExecutionArn", "SdkHttpMetadata", "SdkResponseMetadata",
                                  "StartDate"}
    assert result.output["StartDate"] == 1_000_000
    assert result.stop_time == pytest.approx(1_000.0)  # the parent did not wait a minute
    assert result.trace()[3:5] == ["TaskStarted", "TaskSucceeded"]
    assert result.children[0].output == {"doubled": 4}  # the child still ran


def test_a_failed_child_fails_the_task_with_states_task_failed() -> None:
    result = asl.execute(parent(START + ".sync", catch=True), {"n": 1},
                         machines={"Child": BROKEN})
    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "States.TaskFailed"
    cause = json.loads(result.output["Cause"])
    assert cause["Status"] == "FAILED"
    assert (cause["Error"], cause["Cause"]) == ("Child.Broke", "on purpose")
    assert "Output" not in cause


def test_unknown_machines() -> None:
    with pytest.raises(asl.HandlerError, match="'Nope'"):
        asl.execute(parent(START + ".sync", "Nope"), {"n": 1}, machines={"Child": CHILD})
    dynamic = {"StartAt": "S", "States": {"S": {
        "Type": "Task", "Resource": START + ".sync", "End": True,
        "Parameters": {"StateMachineArn.$": "$.arn"}}}}
    result = asl.execute(dynamic, {"arn": ARN + "Nope"}, machines={"Child": CHILD})
    assert result.error == "StepFunctions.StateMachineDoesNotExistException"
    assert result.cause is not None and result.cause.startswith(
        f"State Machine Does Not Exist: '{ARN}Nope'")


def test_execution_names_are_idempotent() -> None:
    twice = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": START + ".sync:2", "ResultPath": "$.a",
              "Parameters": {"StateMachineArn": ARN + "Child", "Name": "same",
                             "Input": {"n": 1}}, "Next": "B"},
        "B": {"Type": "Task", "Resource": START + ".sync:2", "End": True,
              "Parameters": {"StateMachineArn": ARN + "Child", "Name": "same",
                             "Input.$": "$.other"}}}}
    same = asl.execute(twice, {"other": {"n": 1}}, machines={"Child": CHILD})
    assert same.status == "SUCCEEDED" and len(same.children) == 1
    other = asl.execute(twice, {"other": {"n": 2}}, machines={"Child": CHILD})
    assert other.error == "StepFunctions.ExecutionAlreadyExistsException"


def test_start_execution_wait_for_task_token() -> None:
    machine = {"StartAt": "S", "States": {"S": {
        "Type": "Task", "Resource": START + ".waitForTaskToken", "End": True,
        "Parameters": {"StateMachineArn": ARN + "Child",
                       "Input": {"n": 3, "token.$": "$$.Task.Token"}}}}}
    result = asl.execute(machine, {}, machines={"Child": CHILD},
                         callbacks=lambda token, event: {"answered": event["Input"]["n"]})
    assert result.output == {"answered": 3}
    assert "TaskSubmitted" in result.trace()


def _timed(resource: str, child: str = "Child", timeout: int = 30) -> dict[str, Any]:
    machine = parent(resource, child, catch=False)
    machine["States"]["Start"]["TimeoutSeconds"] = timeout
    return machine


@pytest.mark.wallclock
def test_sync_task_timeout_stops_the_child() -> None:
    result = asl.execute(_timed(START + ".sync"), {"n": 4}, machines={"Child": CHILD},
                         start_time=1_000.0)
    assert result.status == "FAILED"
    assert result.error == "States.Timeout"
    assert result.trace()[3:6] == ["TaskStarted", "TaskSubmitted", "TaskTimedOut"]
    assert result.stop_time == pytest.approx(1_030.0)  # the Task's limit, not the child's 60 s
    [child] = result.children
    assert child.status == "TIMED_OUT" and child.stop_time == pytest.approx(1_030.0)


@pytest.mark.wallclock
def test_sync_task_timeout_later_than_the_child_changes_nothing() -> None:
    result = asl.execute(_timed(START + ".sync:2", timeout=120), {"n": 4},
                         machines={"Child": CHILD})
    assert result.status == "SUCCEEDED" and result.output["Output"] == {"doubled": 8}


@pytest.mark.wallclock
def test_a_child_timing_out_on_its_own_fails_the_task_as_before() -> None:
    own = {**CHILD, "TimeoutSeconds": 10}
    result = asl.execute(_timed(START + ".sync", timeout=30), {"n": 4},
                         machines={"Child": own})
    assert result.error == "States.TaskFailed"  # its own limit: a failed child, described
    assert json.loads(result.cause)["Status"] == "TIMED_OUT"


# --- durable --------------------------------------------------------------------------------


def _started(engine: legato.Engine, workflow_id: str,
             timeout: float = 10.0) -> legato.WorkflowHandle:
    end = time.monotonic() + timeout
    while True:
        try:
            return engine.handle(workflow_id)
        except legato.WorkflowNotFound:
            if time.monotonic() > end:
                raise
            time.sleep(0.005)


def test_durable_sync_runs_the_child_as_a_child_workflow(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Callable[[str], str]) -> None:
    child, name = unique_name("Child"), unique_name("asl_parent")
    asl.register(child, CHILD)
    asl.register(name, parent(START + ".sync", child, name="child-run-1"))
    engine = make_engine(clock=clock).launch()
    handle = engine.start(name, {"n": 5})
    kid = _started(engine, "child-run-1")  # a workflow of its own, named by Name
    kid.wait_status("WAITING")  # in the child's Wait state; the parent waits for it
    assert handle.status == "WAITING"
    clock.advance(61)
    out = handle.result(timeout=10)
    assert out["Status"] == "SUCCEEDED" and out["Output"] == '{"doubled":10}'
    assert out["ExecutionArn"].endswith(f":execution:{child}:child-run-1")
    assert out["StopDate"] - out["StartDate"] >= 60_000
    assert kid.status == "COMPLETED" and kid.name == child
    assert kid.result(timeout=1) == {"doubled": 10}


def test_durable_sync2_child_failure_is_caught(make_engine: Callable[..., legato.Engine],
                                               clock: VirtualClock,
                                               unique_name: Callable[[str], str]) -> None:
    child, name = unique_name("Broken"), unique_name("asl_parent")
    asl.register(child, BROKEN)
    asl.register(name, parent(START + ".sync:2", child, name=None, catch=True))
    engine = make_engine(clock=clock).launch()
    out = run_to_completion(engine.start(name, {"n": 1}), clock)
    assert out["Error"] == "States.TaskFailed"
    cause = json.loads(out["Cause"])
    assert cause["Status"] == "FAILED" and cause["Input"] == {"n": 1}
    assert (cause["Error"], cause["Cause"]) == ("Child.Broke", "on purpose")


def test_durable_unknown_child_fails_the_task(make_engine: Callable[..., legato.Engine],
                                              clock: VirtualClock,
                                              unique_name: Callable[[str], str]) -> None:
    name = unique_name("asl_parent")
    asl.register(name, parent(START + ".sync", "NeverRegistered"))
    engine = make_engine(clock=clock).launch()
    with pytest.raises(legato.WorkflowFailed) as info:
        run_to_completion(engine.start(name, {"n": 1}), clock)
    assert info.value.error is not None
    assert "StateMachineDoesNotExist" in info.value.error["message"]


def test_durable_start_without_waiting_runs_the_child_detached(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Callable[[str], str]) -> None:
    child, name = unique_name("Child"), unique_name("asl_parent")
    asl.register(child, CHILD)
    asl.register(name, parent(START, child, name="fire-and-forget"))
    engine = make_engine(clock=clock).launch()
    out = engine.start(name, {"n": 3}).result(timeout=10)  # does not wait for the child
    assert out["ExecutionArn"].endswith(f":execution:{child}:fire-and-forget")
    assert "StartDate" in out
    kid = _started(engine, "fire-and-forget")
    kid.wait_status("WAITING")  # the child runs on its own, in its Wait state
    clock.advance(61)
    assert kid.result(timeout=10) == {"doubled": 6}


def test_a_handler_can_stand_in_for_start_execution(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Callable[[str], str]) -> None:
    started: list[Any] = []
    name = unique_name("asl_parent")
    asl.register(name, parent(START), handlers={
        START: lambda params: started.append(params) or {"ExecutionArn": "mine"}})
    engine = make_engine(clock=clock).launch()
    assert run_to_completion(engine.start(name, {"n": 2}), clock) == {"ExecutionArn": "mine"}
    assert started == [{"StateMachineArn": ARN + "Child", "Input": {"n": 2},
                        "Name": "run-1"}]


def test_durable_start_execution_wait_for_task_token(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Callable[[str], str]) -> None:
    """The parent starts the child detached and waits durably for its task token; the
    child answers it (here through a handler calling engine.send_task_success)."""
    child, name = unique_name("Answering"), unique_name("asl_parent")
    engines: list[legato.Engine] = []

    def answer(event: dict[str, Any]) -> str:
        engines[0].send_task_success(event["token"], {"answered": event["n"] * 10})
        return "answered"

    asl.register(child, {"StartAt": "Hold", "States": {
        "Hold": {"Type": "Wait", "Seconds": 30, "Next": "Answer"},
        "Answer": {"Type": "Task", "Resource": "answer", "End": True}}},
        handlers={"answer": answer})
    asl.register(name, {"StartAt": "S", "States": {"S": {
        "Type": "Task", "Resource": START + ".waitForTaskToken", "End": True,
        "Parameters": {"StateMachineArn": ARN + child, "Name": "cb-run-1",
                       "Input": {"n.$": "$.n", "token.$": "$$.Task.Token"}}}}})
    engine = make_engine(clock=clock).launch()
    engines.append(engine)
    handle = engine.start(name, {"n": 4})
    kid = _started(engine, "cb-run-1")
    kid.wait_status("WAITING")  # the child holds; the parent waits for the token
    handle.wait_status("WAITING")
    clock.advance(31)
    assert handle.result(timeout=10) == {"answered": 40}
    assert kid.result(timeout=10) == "answered"
    names = [e.get("name") or "" for e in handle.history()]
    assert any(n.endswith(":TaskSubmitted") for n in names)
    assert any(n.endswith(":TaskSucceeded") for n in names)


@pytest.mark.wallclock
def test_durable_sync_task_timeout_stops_the_child(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Callable[[str], str]) -> None:
    child, name = unique_name("Child"), unique_name("asl_parent")
    asl.register(child, CHILD)
    machine = _timed(START + ".sync", child)
    machine["States"]["Start"]["Catch"] = [{"ErrorEquals": ["States.Timeout"],
                                            "ResultPath": "$.error", "Next": "Late"}]
    machine["States"]["Start"].pop("End")
    machine["States"]["Start"]["Next"] = "Done"
    machine["States"]["Done"] = {"Type": "Succeed"}
    machine["States"]["Late"] = {"Type": "Pass", "End": True}
    asl.register(name, machine)
    engine = make_engine(clock=clock).launch()
    handle = engine.start(name, {"n": 5})
    kid = _started(engine, "run-1")
    kid.wait_status("WAITING")
    clock.advance(31)
    out = handle.result(timeout=10)
    assert out["error"]["Error"] == "States.Timeout"
    assert kid.wait_status("TIMED_OUT") == "TIMED_OUT"
    names = [e.get("name") or "" for e in handle.history()]
    assert any(n.endswith(":TaskTimedOut") for n in names)
