"""``asl.execute``: handlers, retries, timeouts, branches and the virtual clock."""

from __future__ import annotations

import time
from typing import Any

import pytest

from legato import asl

T0 = 1_700_000_000.0


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, "End": True, **fields}


def test_missing_handler_fails_before_the_first_state() -> None:
    calls: list[Any] = []
    definition = machine({"A": {"Type": "Task", "Resource": "first", "Next": "B"},
                          "B": task("arn:aws:lambda:us-east-1:1:function:second")})
    with pytest.raises(asl.HandlerError, match="second"):
        asl.execute(definition, {}, handlers={"first": calls.append})
    assert calls == []


def test_handler_kinds_sync_async_context_and_python_import() -> None:
    async def add_one(event: Any) -> Any:
        return event + 1

    def with_context(event: Any, context: asl.TaskContext) -> Any:
        return {"event": event, "state": context.state_name, "fn": context.function_name}

    definition = machine({
        "Async": {"Type": "Task", "Resource": "add_one", "Next": "Ctx"},
        "Ctx": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:ctx:prod",
                "Next": "Py"},
        "Py": {"Type": "Task", "Resource": "python:asl_example_handlers.double",
               "Parameters": {"value.$": "$.event"}, "End": True}})
    result = asl.execute(definition, 1, handlers={"add_one": add_one, "ctx": with_context})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"value": 4}
    assert "TaskSucceeded" in [e["type"] for e in result.history]  # python: is not Lambda


def test_lambda_invoke_wraps_the_payload_like_aws() -> None:
    definition = machine({"Invoke": task(
        "arn:aws:states:::lambda:invoke",
        Parameters={"FunctionName": "arn:aws:lambda:us-east-1:1:function:echo",
                    "Payload": {"x.$": "$.x"}},
        ResultSelector={"payload.$": "$.Payload", "status.$": "$.StatusCode"})})
    result = asl.execute(definition, {"x": 1}, handlers={"echo": lambda e: e})
    assert result.output == {"payload": {"x": 1}, "status": 200}
    assert result.trace()[2:5] == ["TaskScheduled", "TaskStarted", "TaskSucceeded"]


def test_unknown_dynamic_function_is_a_lambda_error() -> None:
    definition = machine({"Invoke": task("arn:aws:states:::lambda:invoke",
                                         Parameters={"FunctionName.$": "$.fn"})})
    result = asl.execute(definition, {"fn": "ghost"}, handlers={})
    assert (result.status, result.error) == ("FAILED", "Lambda.ResourceNotFoundException")


@pytest.mark.wallclock
def test_retry_backoff_runs_on_the_virtual_clock() -> None:
    attempts: list[float] = []

    def flaky(event: Any, context: Any) -> Any:
        attempts.append(time.monotonic())
        if len(attempts) < 4:
            raise ConnectionError("try again")
        return "ok"

    definition = machine({"T": task("flaky", Retry=[{
        "ErrorEquals": ["ConnectionError"], "IntervalSeconds": 100, "BackoffRate": 3,
        "MaxAttempts": 5}])})
    began = time.monotonic()
    result = asl.execute(definition, {}, handlers={"flaky": flaky}, start_time=T0)
    assert result.output == "ok"
    assert time.monotonic() - began < 5  # 100 + 300 + 900 virtual seconds
    stamps = [e["timestamp"] for e in result.history if e["type"] == "LambdaFunctionScheduled"]
    assert stamps[-1].startswith("2023-11-14T22:35")  # T0 + 1300 s


def test_retry_exhausted_then_caught_with_error_output() -> None:
    def boom(event: Any) -> Any:
        raise ValueError("bad input")

    definition = machine({
        "T": {"Type": "Task", "Resource": "boom", "Next": "Done",
              "Retry": [{"ErrorEquals": ["ValueError"], "MaxAttempts": 1}],
              "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Handle",
                         "ResultPath": "$.error"}]},
        "Handle": {"Type": "Pass", "End": True},
        "Done": {"Type": "Succeed"}})
    result = asl.execute(definition, {"id": 7}, handlers={"boom": boom})
    assert result.output["id"] == 7
    assert result.output["error"]["Error"] == "ValueError"
    assert '"errorMessage": "bad input"' in result.output["error"]["Cause"]
    assert result.trace().count("LambdaFunctionFailed") == 2


def test_task_failed_sets_error_and_cause() -> None:
    def refuse(event: Any) -> Any:
        raise asl.TaskFailed("Payment.Declined", "insufficient funds")

    result = asl.execute(machine({"T": task("refuse")}), {}, handlers={"refuse": refuse})
    assert (result.status, result.error, result.cause) == (
        "FAILED", "Payment.Declined", "insufficient funds")


@pytest.mark.wallclock
def test_timeout_seconds_with_a_virtual_sleep() -> None:
    def slow(event: Any) -> Any:
        asl.sleep(60)
        return event

    definition = machine({
        "T": {"Type": "Task", "Resource": "slow", "TimeoutSeconds": 5, "Next": "Ok",
              "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}]},
        "Ok": {"Type": "Succeed"},
        "TimedOut": {"Type": "Pass", "Result": "timed out", "End": True}})
    began = time.monotonic()
    result = asl.execute(definition, {}, handlers={"slow": slow})
    assert result.output == "timed out"
    assert time.monotonic() - began < 2
    assert "LambdaFunctionTimedOut" in result.trace()
    assert asl.execute(machine({"T": task("slow", TimeoutSeconds=61)}), 1,
                       handlers={"slow": slow}).output == 1


@pytest.mark.wallclock
def test_heartbeat_timeout_for_a_silent_handler() -> None:
    def silent(event: Any, context: asl.TaskContext) -> Any:
        context.sleep(10)
        context.heartbeat()
        context.sleep(30)
        return "done"

    ok = machine({"T": task("python:x.y", HeartbeatSeconds=40, TimeoutSeconds=100)})
    bad = machine({"T": task("python:x.y", HeartbeatSeconds=20, TimeoutSeconds=100)})
    handlers = {"python:x.y": silent}
    assert asl.execute(ok, {}, handlers=handlers).output == "done"
    result = asl.execute(bad, {}, handlers=handlers)
    assert (result.status, result.error) == ("FAILED", "States.HeartbeatTimeout")


@pytest.mark.wallclock
def test_wait_states_do_not_block_and_machine_timeout() -> None:
    definition = machine({"W": {"Type": "Wait", "Seconds": 86400 * 30, "End": True}},
                         TimeoutSeconds=3600)
    began = time.monotonic()
    result = asl.execute(definition, {}, start_time=T0)
    assert time.monotonic() - began < 1
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert result.trace()[-1] == "ExecutionTimedOut"


@pytest.mark.wallclock
def test_parallel_branches_run_concurrently_on_the_virtual_clock() -> None:
    definition = machine({"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": True}}},
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 50, "End": True}}}]},
    }, TimeoutSeconds=120)
    result = asl.execute(definition, {"a": 1}, start_time=T0)
    assert result.output == [{"a": 1}, {"a": 1}]


@pytest.mark.wallclock
def test_parallel_events_interleave_in_time_order_and_a_failure_stops_the_rest() -> None:
    """As AWS records a Parallel state: the branches' events in the order they happen."""
    def parallel(quick_then: dict[str, Any]) -> dict[str, Any]:
        return machine({"P": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Slow", "States": {
                "Slow": {"Type": "Wait", "Seconds": 30, "Next": "After"},
                "After": {"Type": "Pass", "End": True}}},
            {"StartAt": "Quick", "States": {
                "Quick": {"Type": "Wait", "Seconds": 10, "Next": "Then"},
                "Then": quick_then}}]}})

    result = asl.execute(parallel({"Type": "Pass", "End": True}), {}, start_time=T0)
    assert result.trace()[3:11] == [
        "WaitStateEntered:Slow", "WaitStateEntered:Quick", "WaitStateExited:Quick",
        "PassStateEntered:Then", "PassStateExited:Then", "WaitStateExited:Slow",
        "PassStateEntered:After", "PassStateExited:After"]
    result = asl.execute(parallel({"Type": "Fail", "Error": "Out.Of.Stock"}), {},
                         start_time=T0)
    assert (result.status, result.error) == ("FAILED", "Out.Of.Stock")
    assert "WaitStateExited:Slow" not in result.trace()  # stopped when Then failed
    assert "PassStateEntered:After" not in result.trace()
    assert str(result.history[-1]["timestamp"]).startswith("2023-11-14T22:13:30")  # at +10 s


@pytest.mark.wallclock
def test_map_max_concurrency_shapes_elapsed_time() -> None:
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10, "End": True}}}

    def run(concurrency: int) -> str:
        definition = machine({"M": {"Type": "Map", "MaxConcurrency": concurrency,
                                    "ItemProcessor": wait, "End": True}})
        result = asl.execute(definition, [1, 2, 3, 4], start_time=T0)
        assert result.output == [1, 2, 3, 4]
        return str(result.history[-1]["timestamp"])

    assert run(1).startswith("2023-11-14T22:14:00")  # 40 s
    assert run(2).startswith("2023-11-14T22:13:40")  # 20 s
    assert run(0).startswith("2023-11-14T22:13:30")  # 10 s


def test_distributed_map_tolerates_failures_then_gives_up() -> None:
    def maybe(event: Any) -> Any:
        if event % 2:
            raise ValueError(f"odd {event}")
        return event

    def definition(**tolerance: Any) -> dict[str, Any]:
        return machine({"M": {"Type": "Map", "End": True, **tolerance, "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "T", "States": {"T": task("maybe")}}}})

    ok = asl.execute(definition(ToleratedFailureCount=2), [0, 1, 2, 3],
                     handlers={"maybe": maybe})
    assert ok.status == "SUCCEEDED"
    assert ok.output[0] == 0 and ok.output[1]["Error"] == "ValueError"
    bad = asl.execute(definition(ToleratedFailurePercentage=25), [0, 1, 2, 3],
                      handlers={"maybe": maybe})
    assert (bad.status, bad.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert "MapRunFailed" in bad.trace()


def test_item_batcher_groups_items() -> None:
    definition = machine({"M": {
        "Type": "Map", "End": True, "ItemSelector": {"v.$": "$$.Map.Item.Value"},
        "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"k": "x"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}})
    result = asl.execute(definition, [1, 2, 3])
    assert result.output == [{"BatchInput": {"k": "x"}, "Items": [{"v": 1}, {"v": 2}]},
                             {"BatchInput": {"k": "x"}, "Items": [{"v": 3}]}]


def test_variables_are_scoped_to_their_branch() -> None:
    definition = machine({
        "Set": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "M"},
        "M": {"Type": "Map", "Next": "Read", "ItemProcessor": {"StartAt": "In", "States": {
            "In": {"Type": "Pass", "Assign": {"inner.$": "$outer"},
                   "Parameters": {"seen.$": "$outer"}, "End": True}}}},
        "Read": {"Type": "Pass", "QueryLanguage": "JSONata",
                 "Output": "{% [$outer, $states.input, $exists($inner)] %}", "End": True}})
    result = asl.execute(definition, [1])
    assert result.output == [1, {"seen": 1}, False]  # JSONata unwraps a singleton


def test_jsonata_step_functions_functions() -> None:
    definition = machine({"J": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True,
                                "Output": {"p": "{% $partition([1,2,3], 2) %}",
                                           "r": "{% $range(0, 4, 2) %}",
                                           "u": "{% $length($uuid()) %}",
                                           "h": "{% $hash('a', 'MD5') %}",
                                           "j": "{% $parse('{\"a\": [1]}') %}"}}})
    assert asl.execute(definition, {}).output == {
        "p": [[1, 2], [3]], "r": [0, 2, 4], "u": 36,
        "h": "0cc175b9c0f1b6a831c399e269772661", "j": {"a": [1]}}


def test_payload_limit_is_data_limit_exceeded() -> None:
    result = asl.execute(machine({"T": task("big")}), {}, handlers={"big": lambda e: "a" * 300_000})
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")


def test_history_ids_and_causes_name_the_entered_event() -> None:
    definition = machine({
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "InputPath": "$.missing", "End": True}})
    result = asl.execute(definition, {"x": 1})
    assert result.error == "States.Runtime"
    assert result.cause == ("An error occurred while executing the state 'B' (entered at the "
                            "event id #4). Invalid path '$.missing' : No results for path: "
                            "$['missing']")
    assert [e["id"] for e in result.history] == [1, 2, 3, 4, 5]


@pytest.mark.wallclock
def test_same_seed_same_run() -> None:
    definition = machine({"U": {"Type": "Pass", "End": True,
                                "Parameters": {"id.$": "States.UUID()"}}})
    one = asl.execute(definition, {}, seed=3, start_time=T0)
    two = asl.execute(definition, {}, seed=3, start_time=T0)
    assert one.output == two.output and one.history == two.history


def test_a_too_large_task_result_is_a_catchable_task_failure() -> None:
    definition = machine({
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "big"}, "Next": "Done",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}]},
        "Handle": {"Type": "Pass", "End": True},
        "Done": {"Type": "Succeed"}})
    result = asl.execute(definition, {}, handlers={"big": lambda e: "a" * 300_000})
    assert result.output == {"Error": "States.DataLimitExceeded", "Cause": (
        "The state/task 'lambda' returned a result with a size exceeding the maximum number "
        "of bytes service limit.")}
    assert result.trace()[4:6] == ["TaskFailed", "TaskStateExited:T"]
