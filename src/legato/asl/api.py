"""``asl.execute``: run a state machine in memory, on a virtual clock, to its end."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from legato.asl import model as m
from legato.asl.errors import HandlerError
from legato.asl.evaluate import RunInfo
from legato.asl.executor import (
    Callback,
    ExecutionOutcome,
    ExecutionRequest,
    MemoryExecutor,
    TaskRequest,
    stopped_by_task,
)
from legato.asl.handlers import Handler, Handlers, classify
from legato.asl.history import trace
from legato.asl.interpreter import Interpreter
from legato.asl.parser import parse
from legato.asl.task import machine_name as machine_name_of
from legato.asl.task import static_children
from legato.domain.inputs import encode
from legato.errors import InvalidInput

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class ExecutionResult:
    """How an execution ended.

    ``status`` is ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` or ``ABORTED``; ``output`` the final
    output (JSON value) when it succeeded; ``error`` and ``cause`` as AWS words them when it did
    not; ``history`` the events, shaped like AWS's execution history.
    """

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    execution_arn: str = ""
    #: child executions it started (``states:startExecution``), in start order
    children: list[ExecutionResult] = field(default_factory=list, repr=False)
    #: when it ended, on the (virtual) clock
    stop_time: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def trace(self) -> list[str]:
        """The history as ``Type[:StateName]`` strings, e.g. ``PassStateEntered:Init``."""
        return trace(self.history)


def run_info(machine_name: str, execution_name: str, value: Any, start: float,
             region: str = REGION, account: str = ACCOUNT) -> RunInfo:
    machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{machine_name}"
    return RunInfo(
        execution_name=execution_name,
        execution_arn=f"arn:aws:states:{region}:{account}:execution:{machine_name}:"
                      f"{execution_name}",
        machine_name=machine_name, machine_arn=machine_arn, input=value, start=start,
        role_arn=f"arn:aws:iam::{account}:role/legato-asl")


Callbacks = Callback | Mapping[str, Callback]


def execute(machine: m.Machine | Mapping[str, Any] | str,
            input: Any = None,
            handlers: Mapping[str, Handler] | None = None, *,
            callbacks: Callbacks | None = None,
            machines: Mapping[str, m.Machine | Mapping[str, Any] | str] | None = None,
            input_json: str | None = None,
            name: str | None = None,
            machine_name: str = "StateMachine",
            start_time: float | datetime | None = None,
            seed: int | None = None) -> ExecutionResult:
    """Run ``machine`` (a parsed machine, a definition dict, or JSON/YAML text) on ``input``.

    Runs to the end on a virtual clock: Wait states and retry intervals jump the clock instead
    of blocking. ``handlers`` maps Task resources (or Lambda function names) to callables::

        result = asl.execute(machine, {"order": 1}, handlers={"charge": charge})
        assert result.status == "SUCCEEDED", (result.error, result.cause)

    ``callbacks`` answers ``.waitForTaskToken`` Tasks: ``callback(token, input)`` is called
    after the Task's handler and returns the Task's output (``send_task_success``) or raises
    (``send_task_failure``: :class:`legato.asl.TaskFailed` chooses error and cause); inside
    it ``asl.sleep`` and ``asl.heartbeat`` act on the virtual clock. Give one callable, or a
    mapping from state name (or resource, or function name) to callables. A Task nobody
    answers times out (TimeoutSeconds, HeartbeatSeconds).

    ``machines`` maps state machine names to the machines that
    ``arn:aws:states:::states:startExecution`` Tasks start (``StateMachineArn`` ends with the
    name); their runs are in ``result.children``.

    ``input_json`` gives the input as JSON text instead (``None`` input means ``{}``, as in
    AWS). A Task resource without a handler, or a child machine not in ``machines``, raises
    :class:`legato.asl.HandlerError` before the first state runs; an invalid definition raises
    :class:`legato.asl.DefinitionError`.

    ``start_time`` is the instant the execution starts (epoch seconds or an aware
    ``datetime``; default: now): Wait timestamps and ``$$.Execution.StartTime`` are relative to
    it, so a test that gives one passes on any date.
    """
    parsed = parse(machine)
    world = _World(handlers, callbacks, machines)
    world.check(parsed)
    if input_json is not None:
        try:
            value = json.loads(input_json)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"the execution input is not JSON: {exc}") from None
    else:
        value = {} if input is None else json.loads(encode(input, "the execution input"))
    start = _start_seconds(start_time)
    rng = random.Random(seed)
    execution_name = name or str(uuid.UUID(int=rng.getrandbits(128), version=4))
    world.rng = random.Random(None if seed is None else seed + 1)  # children's randomness
    return world.run(parsed, machine_name, execution_name, value, start, rng)


class _World:
    """Handlers, callbacks and child machines shared by a run and the children it starts."""

    def __init__(self, handlers: Mapping[str, Handler] | None, callbacks: Callbacks | None,
                 machines: Mapping[str, m.Machine | Mapping[str, Any] | str] | None) -> None:
        self.handlers = Handlers(handlers)
        self.callbacks = callbacks
        self.machines = {machine_name_of(k): parse(v) for k, v in (machines or {}).items()}
        self.started: dict[tuple[str, str], tuple[Any, ExecutionOutcome]] = {}
        self.children: list[ExecutionResult] = []
        self.rng = random.Random(0)

    def check(self, machine: m.Machine) -> None:
        """Handlers of ``machine`` and of every child machine, and the children's names."""
        seen: set[int] = set()
        todo = [machine]
        while todo:
            current = todo.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            self.handlers.check(current)
            for state, child in static_children(current):
                if child is None or self.handlers.find(classify(state.resource)):
                    continue  # known when it runs, or a handler stands in for the start
                if child not in self.machines:
                    raise HandlerError(
                        f"state {state.name!r} starts state machine {child!r}, which is not "
                        f"among machines={{...}} (known: {sorted(self.machines) or 'none'})")
                todo.append(self.machines[child])

    def run(self, machine: m.Machine, machine_name: str, execution_name: str, value: Any,
            start: float, rng: random.Random, limit: float | None = None) -> ExecutionResult:
        """Run one execution; ``limit``: seconds after which it is stopped (as TIMED_OUT)
        if that comes before its own TimeoutSeconds."""
        info = run_info(machine_name, execution_name, value, start)
        executor = MemoryExecutor(self.handlers, start=start, rng=rng, world=self)
        deadline = None if machine.timeout_seconds is None else start + machine.timeout_seconds
        if limit is not None:
            deadline = start + limit if deadline is None else min(deadline, start + limit)
        children_before = len(self.children)
        outcome = Interpreter(machine, info, deadline=deadline, region=REGION).execute(
            executor, value)
        mine = self.children[children_before:]
        del self.children[children_before:]
        return ExecutionResult(status=outcome.status, output=outcome.output,
                               error=outcome.error, cause=outcome.cause,
                               history=executor.history.events,
                               execution_arn=info.execution_arn, children=mine,
                               stop_time=executor.t)

    def callback(self, request: TaskRequest) -> Callback | None:
        if self.callbacks is None or callable(self.callbacks):
            return self.callbacks
        for key in (request.state, request.target.resource, request.target.key,
                    request.function):
            if key is not None and key in self.callbacks:
                return self.callbacks[key]
        return None

    def start(self, request: ExecutionRequest, at: float) -> ExecutionOutcome:
        machine = self.machines.get(request.machine)
        if machine is None:
            return ExecutionOutcome(at, refused="missing")
        known = self.started.get((request.machine, request.name))
        if known is not None:  # AWS: the same name and input is the same execution
            return known[1] if known[0] == request.input else \
                ExecutionOutcome(at, refused="exists")
        result = self.run(machine, request.machine, request.name, request.input, at,
                          random.Random(self.rng.getrandbits(64)), request.timeout)
        self.children.append(result)
        outcome = ExecutionOutcome(at, result.status, result.output, result.error,
                                   result.cause, stopped=result.stop_time)
        if result.status == "TIMED_OUT" and stopped_by_task(request, machine.timeout_seconds):
            assert request.timeout is not None
            outcome = ExecutionOutcome(at, "ABORTED", stopped=at + request.timeout,
                                       timed_out=True)
        self.started[(request.machine, request.name)] = (request.input, outcome)
        return outcome


def _start_seconds(start_time: float | datetime | None) -> float:
    if start_time is None:
        return time.time()
    if isinstance(start_time, datetime):
        if start_time.tzinfo is None:
            raise ValueError("start_time is a naive datetime: give one with a time zone "
                             "(e.g. datetime(2026, 1, 1, tzinfo=timezone.utc))")
        return start_time.timestamp()
    return float(start_time)
