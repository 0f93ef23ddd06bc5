"""The ASL interpreter: runs a :class:`~legato.asl.model.Machine` through an executor.

Pure state-machine logic. Every effect (handlers, waits, branches, history, time, randomness)
goes through :class:`~legato.asl.executor.Executor`, so the same code runs in memory
(``asl.execute``) and durably on legato's journal (``asl.register``).
"""

from __future__ import annotations

import copy
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from legato.asl import errors
from legato.asl import model as m
from legato.asl.errors import StatesFailure
from legato.asl.evaluate import (
    MAX_DATA_DEPTH,
    MAX_PAYLOAD,
    MAX_WAIT,
    Frame,
    RunInfo,
    compact,
    nested_deeper_than,
    runtime,
    size,
)
from legato.asl.executor import BranchAborted, Executor
from legato.asl.jsonpath import set_path
from legato.asl.retry import delay, find_catcher, find_retrier
from legato.asl.task import run_task
from legato.asl.timeutil import parse_timestamp, to_seconds


class TimedOut(Exception):
    """The machine's TimeoutSeconds ran out."""


@dataclass
class Result:
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None


@dataclass
class Step:
    """What one state did: where to go next, its output and the variables it sets."""

    next: str | None
    output: Any
    assign: dict[str, Any] = field(default_factory=dict)
    #: ``output`` as compact JSON (the next state's input, recorded without encoding it again)
    text: str | None = None


def _details(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


class Interpreter:
    def __init__(self, machine: m.Machine, run: RunInfo, *, deadline: float | None = None,
                 region: str = "us-east-1") -> None:
        self.machine = machine
        self.run = run
        self.deadline = deadline
        self.region = region

    # --- the execution ---------------------------------------------------------------------

    def execute(self, executor: Executor, value: Any) -> Result:
        executor.record("ExecutionStarted", {
            "input": compact(value), "inputDetails": {"truncated": False},
            "roleArn": self.run.role_arn})
        try:
            try:
                output = self.run_machine(self.machine, value, ChainMap({}), executor)
            except RecursionError:  # e.g. an input thousands of levels deep
                raise StatesFailure(errors.RUNTIME, "The execution's data is nested too deeply "
                                                    "to process.") from None
        except StatesFailure as f:
            executor.record("ExecutionFailed", _details(error=f.error, cause=f.cause))
            return Result("FAILED", error=f.error, cause=f.cause)
        except TimedOut:
            cause = "The execution ran longer than the state machine's TimeoutSeconds."
            executor.record("ExecutionTimedOut", {"error": errors.TIMEOUT, "cause": cause})
            return Result("TIMED_OUT", error=errors.TIMEOUT, cause=cause)
        executor.record("ExecutionSucceeded", {"output": compact(output),
                                               "outputDetails": {"truncated": False}})
        return Result("SUCCEEDED", output=output)

    def run_machine(self, machine: m.Machine, value: Any, scope: ChainMap[str, Any],
                    executor: Executor) -> Any:
        name: str | None = machine.start_at
        text: str | None = None
        while name is not None:
            if executor.stopped():
                raise BranchAborted()
            self.check_deadline(executor)
            state = machine.states[name]
            step = self.state(state, value, scope, executor, text)
            name, value, text = step.next, step.output, step.text
        return value

    def check_deadline(self, executor: Executor) -> None:
        if self.deadline is not None and executor.now() >= self.deadline:
            raise TimedOut()

    def sleep(self, executor: Executor, seconds: float, what: str) -> None:
        if self.deadline is not None and executor.now() + seconds > self.deadline:
            executor.sleep(max(0.0, self.deadline - executor.now()), what)
            raise TimedOut()
        executor.sleep(seconds, what)

    # --- one state -------------------------------------------------------------------------

    def state(self, state: m.State, value: Any, scope: ChainMap[str, Any],
              executor: Executor, text: str | None = None) -> Step:
        """Run one state on ``value`` (``text``: its compact JSON, if known)."""
        entered = executor.record(f"{state.type}StateEntered", {
            "name": state.name, "input": compact(value) if text is None else text,
            "inputDetails": {"truncated": False}})
        frame = Frame(self.run, state.name, executor.now(), entered, scope, executor,
                      state.jsonata, extra={"input": value})
        try:
            try:
                step = self._dispatch(state, value, frame)
                output = compact(step.output)
            except RecursionError:  # data thousands of levels deep (States.StringToJson ...)
                raise StatesFailure(errors.RUNTIME, f"The state/task '{state.name}' made data "
                                    "nested too deeply to process.", locate=True) from None
            if (len(output) if output.isascii() else size(step.output)) > MAX_PAYLOAD:
                raise StatesFailure(
                    errors.DATA_LIMIT_EXCEEDED,
                    f"The state/task '{state.name}' returned a result with a size exceeding "
                    "the maximum number of bytes service limit.")
            if nested_deeper_than(output, MAX_DATA_DEPTH):
                raise StatesFailure(
                    errors.RUNTIME, f"The state/task '{state.name}' returned a result nested "
                    f"more than {MAX_DATA_DEPTH} levels deep.", locate=True)
        except StatesFailure as f:
            self.located(f, frame)
            raise
        scope.update(step.assign)
        if not isinstance(state, m.FailState):
            executor.record(f"{state.type}StateExited", {
                "name": state.name, "output": output, "outputDetails": {"truncated": False}})
        step.text = output
        return step

    def located(self, f: StatesFailure, frame: Frame) -> None:
        """Give a failure its place (cause prefix) and its EvaluationFailed event, once."""
        if f.locate:
            f.locate = False
            f.cause = (f"An error occurred while executing the state '{frame.state}' (entered "
                       f"at the event id #{frame.entered_id}). {f.cause}")
        if f.event == "EvaluationFailed":
            f.event = None
            frame.executor.record("EvaluationFailed", _details(
                error=f.error, cause=f.cause, state=frame.state))

    def _dispatch(self, state: m.State, value: Any, frame: Frame) -> Step:
        if isinstance(state, m.PassState):
            return self._pass(state, value, frame)
        if isinstance(state, m.TaskState):
            return self._exec(state, value, frame, self._task)
        if isinstance(state, m.ChoiceState):
            return self._choice(state, value, frame)
        if isinstance(state, m.WaitState):
            return self._wait(state, value, frame)
        if isinstance(state, m.SucceedState):
            effective = self.input_path(state, value, frame)
            return Step(None, self.output(state, effective, frame, effective))
        if isinstance(state, m.FailState):
            return self._fail(state, value, frame)
        if isinstance(state, m.ParallelState):
            from legato.asl.map_parallel import parallel_body

            return self._exec(state, value, frame, lambda s, v, f: parallel_body(self, s, v, f))
        if isinstance(state, m.MapState):
            from legato.asl.map_parallel import map_body

            return self._exec(state, value, frame, lambda s, v, f: map_body(self, s, v, f))
        raise AssertionError(state.type)

    # --- input and output processing -----------------------------------------------------

    def input_path(self, state: m.State, value: Any, frame: Frame) -> Any:
        if state.jsonata:
            return value
        if state.input_path_null:
            return {}
        if state.input_path is None:
            return value
        return frame.io_path(state.input_path, value)

    def output(self, state: m.State, value: Any, frame: Frame, default: Any) -> Any:
        """The state's output: OutputPath (JSONPath) or Output (JSONata) of ``value``."""
        if state.jsonata:
            return default if state.output is None else frame.node(state.output, None)
        if state.output_path_null:
            return {}
        if state.output_path is None:
            return value
        return frame.io_path(state.output_path, value)

    def result_path(self, state: m.ResultState | m.Catcher, raw_input: Any, result: Any) -> Any:
        if state.discard_result:
            return raw_input
        if state.result_path is None or not state.result_path.tokens:
            return result
        try:
            return set_path(copy.deepcopy(raw_input), state.result_path, result)
        except ValueError:
            raise StatesFailure(
                errors.RESULT_PATH_MATCH_FAILURE,
                f"Unable to apply ResultPath \"{state.result_path.text}\" to input "
                f"\"{compact(raw_input)}\"", locate=True) from None

    # --- Pass, Succeed, Fail, Wait, Choice -----------------------------------------------

    def _pass(self, state: m.PassState, value: Any, frame: Frame) -> Step:
        if state.jsonata:
            assign = frame.assign(state.assign, None)
            return Step(state.next, self.output(state, value, frame, value), assign)
        effective = self.input_path(state, value, frame)
        if state.parameters is not None:
            effective = frame.node(state.parameters, effective)
        result = state.result.value if state.result is not None else effective
        assign = frame.assign(state.assign, result)
        out = self.output(state, self.result_path(state, value, result), frame, None)
        return Step(state.next, out, assign)

    def _fail(self, state: m.FailState, value: Any, frame: Frame) -> Step:
        def text(node: m.Node | None) -> str | None:
            if node is None:
                return None
            v = frame.node(node, value)
            return v if isinstance(v, str) or v is None else compact(v)

        raise StatesFailure(text(state.error), text(state.cause))

    def _choice(self, state: m.ChoiceState, value: Any, frame: Frame) -> Step:
        from legato.asl.choice import evaluate

        effective = self.input_path(state, value, frame)
        for branch in state.choices:
            if evaluate(branch.rule, frame, effective):
                assign = frame.assign(branch.assign, effective)
                if state.jsonata:
                    out = effective if branch.output is None else frame.node(branch.output, None)
                else:
                    out = self.output(state, effective, frame, effective)
                return Step(branch.next, out, assign)
        if state.default is None:
            raise StatesFailure(errors.NO_CHOICE_MATCHED,
                                "No Choice Rule matched and no Default was given.",
                                locate=True)
        assign = frame.assign(state.assign, effective)
        return Step(state.default, self.output(state, effective, frame, effective), assign)

    def _wait(self, state: m.WaitState, value: Any, frame: Frame) -> Step:
        effective = self.input_path(state, value, frame)
        seconds = self._wait_seconds(state, effective, frame)
        if seconds > MAX_WAIT:
            raise runtime("Wait state delay is too long.")
        self.sleep(frame.executor, max(0.0, seconds), f"wait:{state.name}")
        assign = frame.assign(state.assign, effective)
        return Step(state.next, self.output(state, effective, frame, effective), assign)

    def _wait_seconds(self, state: m.WaitState, data: Any, frame: Frame) -> float:
        now = frame.executor.now()
        if state.seconds is not None:
            v = frame.node(state.seconds, data)
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise StatesFailure(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The Seconds field must be a non-negative integer, not {compact(v)}",
                    locate=True, event="EvaluationFailed")
            return float(v)
        if state.seconds_path is not None:
            v = frame.io_path(state.seconds_path, data)
            where = f"{state.seconds_path.text} == {compact(v)}"
            if not isinstance(v, int) or isinstance(v, bool):
                raise runtime(f"The SecondsPath parameter cannot be parsed as a long value: "
                              f"{where}")
            if v < 0:
                raise runtime(f"The SecondsPath parameter references a negative value: {where}")
            return float(v)
        if state.timestamp is not None:
            v = frame.node(state.timestamp, data)
            ts = parse_timestamp(v)
            if ts is None:
                raise StatesFailure(
                    errors.QUERY_EVALUATION_ERROR,
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                    f"date-time format string: {v if isinstance(v, str) else compact(v)}",
                    locate=True, event="EvaluationFailed")
            return to_seconds(ts) - now
        assert state.timestamp_path is not None
        v = frame.io_path(state.timestamp_path, data)
        ts = parse_timestamp(v)
        if ts is None:
            shown = v if isinstance(v, str) else compact(v)
            raise runtime("The TimestampPath parameter does not reference a valid ISO-8601 "
                          f"extended offset date-time format string: "
                          f"{state.timestamp_path.text} == {shown}")
        return to_seconds(ts) - now

    # --- Task, Parallel, Map: retry and catch --------------------------------------------

    Body = Callable[[Any, Any, Frame], Any]

    def _exec(self, state: m.ExecState, value: Any, frame: Frame, body: Body) -> Step:
        retries = [0] * len(state.retry)
        frame.retry_count = 0
        while True:
            try:
                return self._attempt(state, value, frame, body)
            except StatesFailure as f:
                self.located(f, frame)
                index = find_retrier(state.retry, f.error)
                if index is not None and retries[index] < state.retry[index].max_attempts:
                    f.state_failed = None
                    wait = delay(state.retry[index], retries[index], frame.executor.random)
                    retries[index] += 1
                    frame.retry_count += 1
                    self.sleep(frame.executor, wait, f"retry:{state.name}")
                    frame.extra.pop("result", None)
                    continue
                if f.state_failed is not None:
                    frame.executor.record(f.state_failed)
                    f.state_failed = None
                catcher = find_catcher(state.catch, f.error)
                if catcher is None:
                    raise
                return self._caught(state, value, frame, catcher, f)

    def _attempt(self, state: m.ExecState, value: Any, frame: Frame, body: Body) -> Step:
        if isinstance(state, m.TaskState) and state.wait_for_token:
            # $$.Task.Token: one token per attempt, known before Parameters are evaluated
            frame.token = frame.executor.task_token(
                f"{frame.entered_id}.{frame.retry_count or 0}")
        if state.jsonata:
            args = value
            if state.parameters is not None and not isinstance(state, m.MapState):
                args = frame.node(state.parameters, None)
            raw = body(state, args, frame)
            frame.extra["result"] = raw
            assign = frame.assign(state.assign, None)
            return Step(state.next, self.output(state, raw, frame, raw), assign)
        effective = self.input_path(state, value, frame)
        if state.parameters is not None and not isinstance(state, m.MapState):
            effective = frame.node(state.parameters, effective)
        raw = body(state, effective, frame)
        result = raw if state.result_selector is None else frame.node(state.result_selector,
                                                                      raw)
        assign = frame.assign(state.assign, result)
        out = self.output(state, self.result_path(state, value, result), frame, None)
        return Step(state.next, out, assign)

    def _caught(self, state: m.ExecState, value: Any, frame: Frame, catcher: m.Catcher,
                f: StatesFailure) -> Step:
        error_output = f.output()
        if state.jsonata:
            frame.extra["errorOutput"] = error_output
            frame.extra.pop("result", None)
            assign = frame.assign(catcher.assign, None)
            out = error_output if catcher.output is None else frame.node(catcher.output, None)
            return Step(catcher.next, out, assign)
        assign = frame.assign(catcher.assign, error_output)
        return Step(catcher.next, self.result_path(catcher, value, error_output), assign)

    # --- Task ------------------------------------------------------------------------------

    def _task(self, state: m.TaskState, params: Any, frame: Frame) -> Any:
        return run_task(self, state, params, frame)
