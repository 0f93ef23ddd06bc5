"""Callbacks: ``.waitForTaskToken`` Tasks, in memory and durably (SQLite and PostgreSQL).

Durable tests use the root ``make_engine`` fixture, so each runs on both stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import legato
from legato import asl
from legato.asl.callbacks import make_token
from legato.testing import VirtualClock, replay, run_to_completion

INVOKE_WAIT = "arn:aws:states:::lambda:invoke.waitForTaskToken"
SQS_WAIT = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"


def approval(**task: Any) -> dict[str, Any]:
    """Ask for an approval (the handler 'notify' gets the token), then Done or Declined."""
    return {"StartAt": "Approve", "States": {
        "Approve": {"Type": "Task", "Resource": INVOKE_WAIT,
                    "Parameters": {"FunctionName": "notify",
                                   "Payload": {"token.$": "$$.Task.Token",
                                               "order.$": "$.order"}},
                    "ResultPath": "$.approval", "Next": "Done",
                    "Catch": [{"ErrorEquals": ["Rejected", "States.Timeout",
                                               "States.HeartbeatTimeout"],
                               "ResultPath": "$.error", "Next": "Declined"}],
                    **task},
        "Done": {"Type": "Succeed"},
        "Declined": {"Type": "Pass", "Result": "declined", "ResultPath": "$.outcome",
                     "End": True}}}


# --- in memory: asl.execute(callbacks=...) --------------------------------------------------


def test_execute_answers_with_a_callback_that_gets_the_token() -> None:
    sent: list[Any] = []

    def answer(token: str, event: Any) -> Any:
        assert event == {"token": token, "order": 7}  # the handler's effective input
        return {"approved": True, "token_seen": token == sent[0]["token"]}

    result = asl.execute(approval(), {"order": 7}, handlers={"notify": sent.append},
                         callbacks=answer)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == {"order": 7, "approval": {"approved": True, "token_seen": True}}
    assert result.trace() == [
        "ExecutionStarted", "TaskStateEntered:Approve", "TaskScheduled", "TaskStarted",
        "TaskSubmitted", "TaskSucceeded", "TaskStateExited:Approve", "SucceedStateEntered:Done",
        "SucceedStateExited:Done", "ExecutionSucceeded"]
    submitted = result.history[4]["taskSubmittedEventDetails"]
    assert submitted["resource"] == "invoke.waitForTaskToken"
    assert '"StatusCode":200' in submitted["output"]  # lambda:invoke's response


def test_execute_callback_failure_is_caught() -> None:
    def reject(token: str, event: Any) -> Any:
        raise asl.TaskFailed("Rejected", "too expensive")

    result = asl.execute(approval(), {"order": 1}, handlers={"notify": lambda e: None},
                         callbacks={"Approve": reject})
    assert result.status == "SUCCEEDED"
    assert result.output == {"order": 1, "outcome": "declined",
                             "error": {"Error": "Rejected", "Cause": "too expensive"}}
    failed = next(e for e in result.history if e["type"] == "TaskFailed")
    assert failed["taskFailedEventDetails"] == {
        "resourceType": "lambda", "resource": "invoke.waitForTaskToken",
        "error": "Rejected", "cause": "too expensive"}


@pytest.mark.wallclock
def test_execute_unanswered_task_times_out_on_the_virtual_clock() -> None:
    result = asl.execute(approval(TimeoutSeconds=300), {"order": 1},
                         handlers={"notify": lambda e: None}, start_time=1_000.0)
    assert result.output["error"] == {"Error": "States.Timeout", "Cause": ""}
    assert result.stop_time == pytest.approx(1_300.0, abs=0.5)
    with pytest.raises(asl.HandlerError, match="nothing answers"):
        asl.execute(approval(), {"order": 1}, handlers={"notify": lambda e: None})


@pytest.mark.wallclock
def test_execute_heartbeats_keep_a_slow_answer_alive() -> None:
    def slow(beat: bool) -> Callable[[str, Any], Any]:
        def answer(token: str, event: Any) -> Any:
            for _ in range(5):
                asl.sleep(20)  # virtual
                if beat:
                    asl.heartbeat()
            return "ok"
        return answer

    task = {"HeartbeatSeconds": 30, "TimeoutSeconds": 3600}
    alive = asl.execute(approval(**task), {"order": 1}, handlers={"notify": lambda e: None},
                        callbacks=slow(True), start_time=0.0)
    assert alive.output == {"order": 1, "approval": "ok"}
    assert alive.stop_time == pytest.approx(100.0, abs=0.5)
    dead = asl.execute(approval(**task), {"order": 1}, handlers={"notify": lambda e: None},
                       callbacks=slow(False), start_time=0.0)
    assert dead.output["error"]["Error"] == "States.HeartbeatTimeout"
    assert dead.stop_time == pytest.approx(30.0, abs=0.5)


def test_each_attempt_gets_its_own_token() -> None:
    tokens: list[str] = []

    def busy_once(token: str, event: Any) -> Any:
        tokens.append(token)
        if len(tokens) == 1:
            raise asl.TaskFailed("Busy")
        return "done"

    machine = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": SQS_WAIT, "End": True,
        "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
        "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 5}]}}}
    send = {"arn:aws:states:::sqs:sendMessage": lambda e: {"MessageId": "m"}}  # no suffix
    result = asl.execute(machine, {}, handlers=send, callbacks=busy_once)
    assert result.output == "done"
    assert len(set(tokens)) == 2


def test_jsonata_reads_the_token_from_states_context() -> None:
    machine = {"QueryLanguage": "JSONata", "StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": SQS_WAIT, "End": True,
        "Arguments": {"QueueUrl": "q", "MessageBody": "{% $states.context.Task.Token %}"}}}}
    result = asl.execute(machine, {}, handlers={SQS_WAIT: lambda e: {}},
                         callbacks=lambda token, event: {"same": event["MessageBody"] == token})
    assert result.output == {"same": True}


# --- durable: engine.send_task_success / failure / heartbeat ---------------------------------


def _callback_waits(handle: legato.WorkflowHandle, count: int, timeout: float = 10.0) -> None:
    """Until the workflow has started waiting for its callback ``count`` times."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        waits = [e for e in handle.history()
                 if e["type"] == "WaitStarted" and e.get("name") == "asl:callback:Approve"]
        if len(waits) >= count and handle.status == "WAITING":
            return
        time.sleep(0.005)
    raise AssertionError(f"the callback wait #{count} did not start")


@pytest.fixture
def durable(make_engine: Callable[..., legato.Engine], clock: VirtualClock,
            unique_name: Callable[[str], str]) -> Callable[..., tuple[legato.Engine, str,
                                                                      list[str]]]:
    """Register an approval machine; return a launched engine, its name and the tokens
    its handler saw."""
    def make(**task: Any) -> tuple[legato.Engine, str, list[str]]:
        tokens: list[str] = []
        name = unique_name("asl_approve")
        asl.register(name, approval(**task),
                     handlers={"notify": lambda e: tokens.append(e["token"]) or "sent"})
        return make_engine(clock=clock).launch(), name, tokens
    return make


def test_send_task_success_resumes_the_machine(durable: Any, clock: VirtualClock) -> None:
    engine, name, tokens = durable()
    handle = engine.start(name, {"order": 7})
    _callback_waits(handle, 1)
    engine.send_task_success(tokens[0], {"approved": True, "by": "ada"})
    assert handle.result(timeout=10) == {"order": 7, "approval": {"approved": True,
                                                                  "by": "ada"}}
    history = handle.history()
    names = [e.get("name") for e in history]
    assert "asl:5:TaskSubmitted" in names and "asl:6:TaskSucceeded" in names
    replayed = replay(engine.registry.get(name).fn, history)  # deterministic on replay
    assert replayed.complete and replayed.result == handle.result(timeout=1)
    with pytest.raises(asl.TaskTokenError) as late:  # the task is over
        engine.send_task_success(tokens[0], {"approved": False})
    assert late.value.code == "TaskTimedOut"


def test_send_task_failure_is_caught_by_catch(durable: Any, clock: VirtualClock) -> None:
    engine, name, tokens = durable()
    handle = engine.start(name, {"order": 8})
    _callback_waits(handle, 1)
    engine.send_task_failure(tokens[0], "Rejected", "over budget")
    assert handle.result(timeout=10) == {"order": 8, "outcome": "declined",
                                         "error": {"Error": "Rejected",
                                                   "Cause": "over budget"}}


def test_uncaught_failure_fails_the_execution(durable: Any, clock: VirtualClock) -> None:
    engine, name, tokens = durable()
    handle = engine.start(name, {"order": 9})
    _callback_waits(handle, 1)
    engine.send_task_failure(tokens[0], "Mistake", "not caught")
    with pytest.raises(legato.WorkflowFailed) as info:
        handle.result(timeout=10)
    assert info.value.error is not None
    assert "Mistake: not caught" in info.value.error["message"]


@pytest.mark.wallclock
def test_heartbeats_keep_the_task_alive(durable: Any, clock: VirtualClock) -> None:
    engine, name, tokens = durable(HeartbeatSeconds=60, TimeoutSeconds=3600)
    handle = engine.start(name, {"order": 1})
    _callback_waits(handle, 1)
    for beats in (2, 3):  # 40 s apart: past 60 s in all, never 60 s without a heartbeat
        clock.advance(40)
        engine.send_task_heartbeat(tokens[0])
        _callback_waits(handle, beats)
    clock.advance(40)
    engine.send_task_success(tokens[0], "yes")
    assert handle.result(timeout=10) == {"order": 1, "approval": "yes"}
    replayed = replay(engine.registry.get(name).fn, handle.history())
    assert replayed.complete and replayed.result == {"order": 1, "approval": "yes"}


@pytest.mark.wallclock
def test_a_missing_heartbeat_times_the_task_out(durable: Any, clock: VirtualClock) -> None:
    engine, name, _ = durable(HeartbeatSeconds=60, TimeoutSeconds=3600)
    start = clock.now()
    handle = engine.start(name, {"order": 2})
    output = run_to_completion(handle, clock)
    assert output["error"] == {"Error": "States.HeartbeatTimeout", "Cause": ""}
    assert clock.now() - start == pytest.approx(60, abs=1)  # not the hour of TimeoutSeconds


@pytest.mark.wallclock
def test_timeout_seconds_times_the_task_out(durable: Any, clock: VirtualClock) -> None:
    engine, name, tokens = durable(TimeoutSeconds=300)
    start = clock.now()
    handle = engine.start(name, {"order": 3})
    output = run_to_completion(handle, clock)
    assert output == {"order": 3, "outcome": "declined",
                      "error": {"Error": "States.Timeout", "Cause": ""}}
    assert clock.now() - start == pytest.approx(300, abs=1)
    with pytest.raises(asl.TaskTokenError) as late:
        engine.send_task_success(tokens[0], "too late")
    assert late.value.code == "TaskTimedOut"


def test_an_answer_before_the_wait_is_buffered(make_engine: Callable[..., legato.Engine],
                                               clock: VirtualClock,
                                               unique_name: Callable[[str], str]) -> None:
    engine = make_engine(clock=clock).launch()

    def notify(event: Any) -> str:  # answers from inside its own step, before the wait
        engine.send_task_heartbeat(event["token"])
        engine.send_task_success(event["token"], {"auto": event["order"]})
        return "sent"

    name = unique_name("asl_auto")
    asl.register(name, approval(HeartbeatSeconds=30), handlers={"notify": notify})
    handle = engine.start(name, {"order": 4})
    assert handle.result(timeout=10) == {"order": 4, "approval": {"auto": 4}}


def test_waiting_survives_an_engine_restart(make_engine: Callable[..., legato.Engine],
                                            clock: VirtualClock,
                                            unique_name: Callable[[str], str]) -> None:
    tokens: list[str] = []
    name = unique_name("asl_restart")
    asl.register(name, approval(), handlers={"notify": lambda e: tokens.append(e["token"])})
    first = make_engine(clock=clock).launch()
    handle = first.start(name, {"order": 5})
    _callback_waits(handle, 1)
    first.shutdown()
    second = make_engine(clock=clock).launch()  # a new process on the same store
    second.send_task_success(tokens[0], {"approved": True})
    assert second.handle(handle.workflow_id).result(timeout=10) == {
        "order": 5, "approval": {"approved": True}}
    assert len(tokens) == 1  # the handler did not run again


def test_tokens_that_are_not_open_are_refused(durable: Any, clock: VirtualClock) -> None:
    engine, name, tokens = durable()
    with pytest.raises(asl.TaskTokenError) as bad:
        engine.send_task_success("not-a-token", {})
    assert bad.value.code == "InvalidToken"
    with pytest.raises(asl.TaskTokenError) as unknown:
        engine.send_task_heartbeat(make_token("no-such-workflow", "2.0"))
    assert unknown.value.code == "TaskDoesNotExist"
    handle = engine.start(name, {"order": 6})
    _callback_waits(handle, 1)
    with pytest.raises(asl.TaskTokenError) as invalid:
        engine.send_task_success(tokens[0], {"x": object()})
    assert invalid.value.code == "InvalidOutput"
    engine.send_task_success(tokens[0], "first")
    with pytest.raises(asl.TaskTokenError) as second:
        engine.send_task_failure(tokens[0], "Second", "answer")
    assert second.value.code == "TaskTimedOut"
    assert handle.result(timeout=10) == {"order": 6, "approval": "first"}


def test_callbacks_inside_map_iterations(make_engine: Callable[..., legato.Engine],
                                         clock: VirtualClock,
                                         unique_name: Callable[[str], str]) -> None:
    """Durable Map iterations run concurrently: both are asked (each with its own token)
    before either is answered."""
    asked: list[dict[str, Any]] = []
    name = unique_name("asl_map")
    asl.register(name, {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Ask", "States": {"Ask": {
                "Type": "Task", "Resource": SQS_WAIT, "End": True,
                "Parameters": {"QueueUrl": "q",
                               "MessageBody": {"token.$": "$$.Task.Token", "item.$": "$"}}}}}}}},
        handlers={SQS_WAIT: lambda e: asked.append(e["MessageBody"])})
    engine = make_engine(clock=clock).launch()
    handle = engine.start(name, {"items": ["a", "b"]})
    end = time.monotonic() + 10
    while len(asked) < 2 and time.monotonic() < end:
        time.sleep(0.005)
    assert sorted(a["item"] for a in asked) == ["a", "b"]  # both wait at once
    for a in asked:
        engine.send_task_success(a["token"], a["item"].upper())
    assert handle.result(timeout=10) == ["A", "B"]
    assert asked[0]["token"] != asked[1]["token"]


def test_a_long_workflow_id_still_gets_answers(durable: Any, clock: VirtualClock) -> None:
    """The token of a run with a long id is longer than an event key may be: the answer
    travels under its digest."""
    engine, name, tokens = durable()
    handle = engine.start(name, {"order": 8}, workflow_id="w" * 250)
    _callback_waits(handle, 1)
    assert len(tokens[0]) > 255
    engine.send_task_heartbeat(tokens[0])
    engine.send_task_success(tokens[0], {"approved": True})
    assert handle.result(timeout=10)["approval"] == {"approved": True}


def test_execute_refuses_an_input_that_is_not_json() -> None:
    machine = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    with pytest.raises(legato.InvalidInput, match="a set is not JSON"):
        asl.execute(machine, {"ids": {1, 2}})
    with pytest.raises(legato.InvalidInput, match="execution input is not JSON"):
        asl.execute(machine, input_json="{nope")
