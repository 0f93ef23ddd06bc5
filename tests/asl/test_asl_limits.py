"""Every execution ends: AWS's 25,000-event history quota and the machine's TimeoutSeconds.

In memory (``asl.execute``); the durable side is in ``test_asl_durable_limits.py``.
"""

from __future__ import annotations

import json
from typing import Any

from legato import asl
from legato.asl.errors import MAX_HISTORY_EVENTS

CAUSE = "The execution reached the maximum number of history events (25000)."
LOOP = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}


def _loop_machine() -> dict[str, Any]:
    return {"StartAt": "Spin", "States": {"Spin": {"Type": "Pass", "Next": "Spin"}}}


def _assert_stopped_at_the_quota(result: asl.ExecutionResult) -> None:
    assert result.status == "FAILED"
    assert (result.error, result.cause) == ("States.Runtime", CAUSE)
    assert len(result.history) == MAX_HISTORY_EVENTS == 25_000
    last = result.history[-1]
    assert last["id"] == 25_000 and last["type"] == "ExecutionFailed"
    assert last["executionFailedEventDetails"] == {"error": "States.Runtime", "cause": CAUSE}


def test_a_pass_loop_fails_at_the_history_quota() -> None:
    result = asl.execute(LOOP, {}, start_time=0)
    _assert_stopped_at_the_quota(result)
    assert result.trace()[-3:] == ["PassStateEntered:A", "PassStateExited:A", "ExecutionFailed"]


def test_the_quota_is_not_a_state_catch_or_retry_can_take() -> None:
    """States.Runtime is never caught: a Catch on States.ALL around a looping Parallel does
    not turn the quota into a path that loops again."""
    machine = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [_loop_machine()],
              "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "P"}], "End": True}}}
    _assert_stopped_at_the_quota(asl.execute(machine, {}, start_time=0))


def _counter(rounds: int) -> dict[str, Any]:
    """Init, then ``rounds`` times Check + Inc, then Check and Done: 4 * rounds + 8 events."""
    return {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Check"},
        "Check": {"Type": "Choice", "Default": "Inc",
                  "Choices": [{"Variable": "$.i", "NumericEquals": rounds, "Next": "Done"}]},
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"},
                "Next": "Check"},
        "Done": {"Type": "Succeed"}}}


def test_the_25000th_event_may_end_the_execution_successfully() -> None:
    """As on AWS: with 24,999 events recorded, ExecutionSucceeded may still be the 25,000th;
    any other event fails the execution instead."""
    rounds = (MAX_HISTORY_EVENTS - 8) // 4
    just = asl.execute(_counter(rounds), {}, start_time=0)
    assert just.status == "SUCCEEDED", just.cause
    assert len(just.history) == 25_000 and just.history[-1]["type"] == "ExecutionSucceeded"
    over = asl.execute(_counter(rounds + 1), {}, start_time=0)
    _assert_stopped_at_the_quota(over)


def test_parallel_branches_count_against_their_execution() -> None:
    machine = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [_loop_machine(), _loop_machine()],
              "End": True}}}
    result = asl.execute(machine, {}, start_time=0)
    _assert_stopped_at_the_quota(result)
    entered = [e for e in result.trace() if e == "PassStateEntered:Spin"]
    assert 12_000 < len(entered) < 12_500  # both branches, interleaved, share the 25,000


def test_inline_map_iterations_count_against_their_execution() -> None:
    machine = {"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemProcessor": _loop_machine(), "End": True}}}
    result = asl.execute(machine, [1, 2, 3], start_time=0)
    _assert_stopped_at_the_quota(result)
    assert "MapIterationStarted:M" in result.trace()


def test_distributed_map_iterations_have_a_quota_each() -> None:
    """A distributed Map's iterations are child executions on AWS, each with its own history:
    each one fails at its own quota, and the Map counts them as failed items."""
    processor = {**_loop_machine(), "ProcessorConfig": {"Mode": "DISTRIBUTED",
                                                        "ExecutionType": "STANDARD"}}
    machine = {"StartAt": "M", "States": {
        "M": {"Type": "Map", "ItemProcessor": processor, "ToleratedFailurePercentage": 100,
              "End": True}}}
    result = asl.execute(machine, [1, 2], start_time=0)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == [{"Error": "States.Runtime", "Cause": CAUSE}] * 2
    assert len(result.history) < 20  # the iterations' events are not the parent's


def test_a_child_execution_has_its_own_quota() -> None:
    parent = {"StartAt": "Run", "States": {
        "Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn":
                               "arn:aws:states:us-east-1:123456789012:stateMachine:Spinner"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True}}}
    result = asl.execute(parent, {}, machines={"Spinner": LOOP}, start_time=0)
    assert result.status == "SUCCEEDED"
    assert result.output["Error"] == "States.TaskFailed"
    (child,) = result.children
    _assert_stopped_at_the_quota(child)


def test_timeout_seconds_ends_a_waiting_loop_on_the_virtual_clock() -> None:
    """A loop that spends (virtual) time ends at the machine's TimeoutSeconds first."""
    machine = {"TimeoutSeconds": 100, "StartAt": "Tick", "States": {
        "Tick": {"Type": "Wait", "Seconds": 1, "Next": "Tick"}}}
    result = asl.execute(machine, {}, start_time=0)
    assert result.status == "TIMED_OUT"
    assert result.error == "States.Timeout"
    assert result.stop_time == 100
    assert len(result.history) < 300


def test_timeout_seconds_ends_a_loop_of_slow_tasks() -> None:
    calls: list[float] = []

    def slow(event: Any) -> Any:
        calls.append(1)
        asl.sleep(7)  # on the execution's (virtual) clock
        return event

    machine = {"TimeoutSeconds": 60, "StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": "slow", "Next": "Work"}}}
    result = asl.execute(machine, {}, handlers={"slow": slow}, start_time=0)
    assert result.status == "TIMED_OUT" and result.error == "States.Timeout"
    assert len(calls) == 9  # started at 0, 7, ... 56 s; none after the 60 s


def test_a_loop_that_nests_its_data_deeper_each_time_fails_at_the_depth_limit() -> None:
    """Each state's output may nest 1,000 levels (as Jackson reads JSON on AWS): a loop that
    wraps its data once more each time fails there, instead of each state costing more."""
    machine = {"StartAt": "Wrap", "States": {
        "Wrap": {"Type": "Pass", "Parameters": {"x.$": "$"}, "Next": "Wrap"}}}
    result = asl.execute(machine, {}, start_time=0)
    assert result.status == "FAILED" and result.error == "States.Runtime"
    assert result.cause is not None and result.cause.endswith(
        "The state/task 'Wrap' returned a result nested more than 1000 levels deep.")
    # started, 999 wraps entered and exited ({} is 1 level deep), the 1000th entered, failed
    assert len(result.history) == 1 + 2 * 999 + 1 + 1


def test_data_too_deep_for_python_fails_the_state() -> None:
    """Text that decodes to data thousands of levels deep: States.Runtime, no RecursionError."""
    deep = "[" * 50_000 + "]" * 50_000  # 100 KB: within the payload limit
    machine = {"StartAt": "Parse", "States": {
        "Parse": {"Type": "Pass", "Parameters": {"v.$": "States.StringToJson($.text)"},
                  "End": True}}}
    result = asl.execute(machine, {"text": deep}, start_time=0)
    assert result.status == "FAILED", result.output
    assert result.error == "States.Runtime"
    assert result.cause is not None
    assert result.cause.endswith("made data nested too deeply to process.")


def test_a_kept_history_holds_a_bounded_amount_of_payload(monkeypatch: Any) -> None:
    from legato.asl import history

    monkeypatch.setattr(history, "KEPT_CHARS", 50_000)
    payload = {"text": "x" * 10_000}
    chain = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(9)}
    machine = {"StartAt": "S0", "States": {**chain, "S9": {"Type": "Pass", "End": True}}}
    result = asl.execute(machine, payload, start_time=0)
    assert result.status == "SUCCEEDED" and result.output == payload  # the run is whole
    kept = [e["stateExitedEventDetails"] for e in result.history
            if e["type"] == "PassStateExited"]
    assert kept[0]["outputDetails"] == {"truncated": False}
    assert json.loads(kept[0]["output"]) == payload
    assert kept[-1]["outputDetails"] == {"truncated": True}
    assert len(kept[-1]["output"]) == history.CUT_TO
