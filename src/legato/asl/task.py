"""Task states: a handler call, a callback (``.waitForTaskToken``), or a child execution.

- A plain Task calls its handler once per attempt (Retry and Catch are the interpreter's).
- A ``.waitForTaskToken`` Task calls its handler with the token in its input (where the
  definition puts ``$$.Task.Token``), records ``TaskSubmitted``, then waits for an answer:
  durably for ``engine.send_task_success/failure/heartbeat`` (``asl.register``), or from the
  ``callbacks`` of ``asl.execute``. ``TimeoutSeconds`` (``States.Timeout``) counts from the
  start of the Task; ``HeartbeatSeconds`` (``States.HeartbeatTimeout``) between heartbeats.
- ``arn:aws:states:::states:startExecution`` starts a child state machine; ``.sync`` waits
  for it and returns AWS's ``DescribeExecution`` shape (``Output`` as JSON text, parsed with
  ``.sync:2``), a failed child fails the Task with ``States.TaskFailed``; without ``.sync`` it
  returns ``{ExecutionArn, StartDate, ...}`` at once.
"""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from legato.asl import errors
from legato.asl import model as m
from legato.asl.errors import HandlerError, StatesFailure
from legato.asl.evaluate import MAX_PAYLOAD, MAX_WAIT, Frame, compact, runtime, size
from legato.asl.executor import ExecutionOutcome, ExecutionRequest, TaskRequest
from legato.asl.handlers import Outcome, classify, invoke_event, lambda_invoke_output
from legato.asl.jsonpath import PathNotFound
from legato.asl.timeutil import iso

if TYPE_CHECKING:
    from legato.asl.executor import Executor
    from legato.asl.interpreter import Interpreter


def _details(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def seconds_field(node: m.Node | None, path: Any, data: Any, frame: Frame,
                  name: str) -> float | None:
    """TimeoutSeconds / HeartbeatSeconds (or their Path, or a JSONata expression)."""
    if node is not None:
        v = frame.node(node, data)
    elif path is not None:
        try:
            v = frame.lookup(path, data)
        except PathNotFound as exc:
            raise runtime(f"Invalid path '{path.text}' : {exc}") from None
    else:
        return None
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        shown = v if isinstance(v, str) else compact(v)
        if isinstance(node, m.TJsonata):
            raise StatesFailure(
                errors.QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{node.expression}' specified for the field "
                f"'{name}' returned an unexpected result: {shown} is not a positive "
                "integer", locate=True, event="EvaluationFailed")
        raise runtime(f"The {name}Path field refers to value \"{shown}\" which is not a "
                      f"valid positive integer: {path.text if path else ''}")
    return float(v)


def run_task(interp: Interpreter, state: m.TaskState, params: Any, frame: Frame) -> Any:
    """One attempt of a Task state; its result, or a :class:`StatesFailure`."""
    executor = frame.executor
    target = classify(state.resource)
    data = frame.extra["input"] if state.jsonata else params
    timeout = seconds_field(state.timeout_seconds, state.timeout_seconds_path, data, frame,
                            "TimeoutSeconds")
    heartbeat = seconds_field(state.heartbeat_seconds, state.heartbeat_seconds_path, data,
                              frame, "HeartbeatSeconds")
    callback = state.wait_for_token
    function: str | None = None
    event = params
    if target.kind == "invoke":
        function = params.get("FunctionName") if isinstance(params, dict) else None
        if not isinstance(function, str):
            raise runtime("The field 'FunctionName' is required for "
                          "arn:aws:states:::lambda:invoke")
        event = invoke_event(params)
    request_id = executor.uuid()
    lambda_events = target.kind == "lambda" and not callback
    resource = ({} if lambda_events else
                {"resourceType": target.resource_type, "resource": target.resource_name})
    if lambda_events:
        executor.record("LambdaFunctionScheduled", _details(
            resource=state.resource, input=compact(event), inputDetails={"truncated": False},
            timeoutInSeconds=int(timeout) if timeout else None))
        executor.record("LambdaFunctionStarted")
    else:
        executor.record("TaskScheduled", _details(
            resourceType=target.resource_type, resource=target.resource_name,
            region=interp.region, parameters=compact(params),
            timeoutInSeconds=int(timeout) if timeout else None,
            heartbeatInSeconds=int(heartbeat) if heartbeat else None))
        executor.record("TaskStarted", resource)
    request = TaskRequest(
        state=state.name, target=target, function=function, event=event, timeout=timeout,
        heartbeat=None if target.lambda_like or callback else heartbeat, token=frame.token,
        request_id=request_id)
    if target.kind == "execution" and not executor.handles(target):
        outcome = start_execution(state, request, executor)
    else:
        outcome = executor.invoke(request)
        if outcome.ok and target.kind == "invoke":
            outcome.value = lambda_invoke_output(outcome.value, request_id,
                                                 iso(executor.now()))
    if callback and outcome.ok:
        started = executor.now() - outcome.elapsed
        executor.record("TaskSubmitted", {**resource, "output": compact(outcome.value),
                                          "outputDetails": {"truncated": False}})
        request.heartbeat = heartbeat
        answer = executor.await_token(request, started)
        outcome = answer if answer is not None else _unanswered(interp, request, started,
                                                                executor)
    interp.check_deadline(executor)
    kind = "LambdaFunction" if lambda_events else "Task"
    if outcome.ok:
        result = outcome.value
        if size(result) > MAX_PAYLOAD:
            who = state.resource if target.kind == "lambda" else target.resource_type
            outcome = Outcome(False, error=errors.DATA_LIMIT_EXCEEDED, cause=(
                f"The state/task '{who}' returned a result with a size exceeding the "
                "maximum number of bytes service limit."))
        else:
            executor.record(f"{kind}Succeeded", {**resource, "output": compact(result),
                                                 "outputDetails": {"truncated": False}})
            return result
    if outcome.timed_out:
        error = errors.TIMEOUT if outcome.timed_out == "timeout" else errors.HEARTBEAT_TIMEOUT
        executor.record(f"{kind}TimedOut", {**resource, "error": error})
        raise StatesFailure(error, None)
    executor.record(f"{kind}Failed", _details(**resource, error=outcome.error,
                                              cause=outcome.cause))
    raise StatesFailure(outcome.error, outcome.cause)


def _unanswered(interp: Interpreter, request: TaskRequest, started: float,
                executor: Executor) -> Outcome:
    """``asl.execute`` without a callback for this Task: nothing ever answers it."""
    limits = [(started + s, kind) for s, kind in ((request.timeout, "timeout"),
                                                  (request.heartbeat, "heartbeat"))
              if s is not None]
    if not limits and interp.deadline is None:
        raise HandlerError(
            f"state {request.state!r} waits for a task token ({request.target.resource}) "
            "that nothing answers: pass callbacks={...} to asl.execute, or give the Task "
            "TimeoutSeconds")
    at, kind = min(limits) if limits else (executor.now() + MAX_WAIT, "timeout")
    interp.sleep(executor, max(0.0, at - executor.now()), f"callback:{request.state}")
    return Outcome(False, timed_out=kind)


# --- child executions ---------------------------------------------------------------------


def machine_name(arn: str) -> str:
    """``NAME`` from ``arn:aws:states:REGION:ACCOUNT:stateMachine:NAME[:VERSION|ALIAS]``."""
    if ":stateMachine:" in arn:
        return arn.split(":stateMachine:", 1)[1].split(":", 1)[0]
    return arn


def _arns(machine: str, name: str) -> tuple[str, str]:
    from legato.asl.api import ACCOUNT, REGION

    base = f"arn:aws:states:{REGION}:{ACCOUNT}"
    return f"{base}:stateMachine:{machine}", f"{base}:execution:{machine}:{name}"


def _millis(t: float) -> int:
    return round(t * 1000)


def _sdk_error(error_code: str, message: str, request_id: str) -> Outcome:
    return Outcome(False, error=f"StepFunctions.{error_code}Exception", cause=(
        f"{message} (Service: AWSStepFunctions; Status Code: 400; Error Code: {error_code}; "
        f"Request ID: {request_id}; Proxy: null)"))


def start_response(execution_arn: str, started: float, request_id: str) -> dict[str, Any]:
    """What ``states:startExecution`` returns (and ``.sync`` records as TaskSubmitted)."""
    length = str(len(compact({"executionArn": execution_arn,
                              "startDate": round(started, 3)})))
    date = formatdate(started, usegmt=True)
    return {
        "ExecutionArn": execution_arn,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "x-amzn-RequestId": [request_id],
                "connection": ["keep-alive"],
                "Content-Length": [length],
                "Date": [date],
                "Content-Type": ["application/x-amz-json-1.0"],
            },
            "HttpHeaders": {
                "connection": "keep-alive",
                "Content-Length": length,
                "Content-Type": "application/x-amz-json-1.0",
                "Date": date,
                "x-amzn-RequestId": request_id,
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StartDate": _millis(started),
    }


def describe(machine_arn: str, execution_arn: str, name: str, value: Any,
             outcome: ExecutionOutcome, parsed: bool) -> dict[str, Any]:
    """AWS's ``DescribeExecution`` of an ended child (``.sync``; ``.sync:2`` parses JSON)."""
    def text(v: Any) -> Any:
        return v if parsed else compact(v)

    out: dict[str, Any] = {"ExecutionArn": execution_arn, "Input": text(value),
                           "InputDetails": {"Included": True}, "Name": name}
    if outcome.status == "SUCCEEDED":
        out["Output"] = text(outcome.output)
        out["OutputDetails"] = {"Included": True}
    if outcome.error is not None:
        out["Error"] = outcome.error
    if outcome.cause is not None:
        out["Cause"] = outcome.cause
    out["StartDate"] = _millis(outcome.started)
    out["StateMachineArn"] = machine_arn
    out["Status"] = outcome.status
    out["StopDate"] = _millis(outcome.stopped if outcome.stopped is not None
                              else outcome.started)
    return dict(sorted(out.items()))


def start_execution(state: m.TaskState, request: TaskRequest, executor: Executor) -> Outcome:
    """``arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]``."""
    params = request.event if isinstance(request.event, dict) else {}
    arn = params.get("StateMachineArn")
    if not isinstance(arn, str) or not arn:
        raise runtime("The field 'StateMachineArn' is required for "
                      "arn:aws:states:::states:startExecution")
    value = params.get("Input")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return _sdk_error("InvalidExecutionInput",
                              f"Invalid State Machine Execution Input: '{value[:200]}'",
                              request.request_id)
    elif value is None:
        value = {}
    name = params.get("Name")
    if not isinstance(name, str) or not name:
        name = executor.uuid()
    machine = machine_name(arn)
    machine_arn, execution_arn = _arns(machine, name)
    sync = state.resource.endswith((".sync", ".sync:2"))
    outcome = executor.start_execution(ExecutionRequest(
        machine, name, value, wait=sync, timeout=request.timeout if sync else None))
    if outcome.refused == "missing":
        return _sdk_error("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'",
                          request.request_id)
    if outcome.refused is not None:
        return _sdk_error("ExecutionAlreadyExists",
                          f"Execution Already Exists: '{execution_arn}'", request.request_id)
    started = start_response(execution_arn, outcome.started, request.request_id)
    if not sync:
        return Outcome(True, value=started)
    executor.record("TaskSubmitted", {
        "resourceType": request.target.resource_type,
        "resource": request.target.resource_name, "output": compact(started),
        "outputDetails": {"truncated": False}})
    if outcome.timed_out:  # the child was stopped at this Task's TimeoutSeconds
        return Outcome(False, timed_out="timeout")
    described = describe(machine_arn, execution_arn, name, value, outcome,
                         parsed=state.resource.endswith(".sync:2"))
    if outcome.status == "SUCCEEDED":
        return Outcome(True, value=described)
    return Outcome(False, error=errors.TASK_FAILED, cause=compact(described))


def _static(node: m.Node | None, key: str) -> Any:
    """The value of field ``key`` of a payload template, when it is a literal."""
    if isinstance(node, m.Const):
        value = node.value
        return value.get(key) if isinstance(value, dict) else None
    if isinstance(node, m.TObject):
        for name, field in node.fields:
            if name == key and isinstance(field, m.Const):
                return field.value
    return None


def static_children(machine: m.Machine) -> list[tuple[m.TaskState, str | None]]:
    """``(state, machine name)`` of every startExecution Task; the name when it is fixed."""
    found: list[tuple[m.TaskState, str | None]] = []
    for _, st in machine.walk():
        if isinstance(st, m.TaskState) and classify(st.resource).kind == "execution":
            arn = _static(st.parameters, "StateMachineArn")
            found.append((st, machine_name(arn) if isinstance(arn, str) else None))
    return found
