"""``asl.execute``: run a state machine in memory, on a virtual clock, to its end."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from legato.asl import model as m
from legato.asl.evaluate import RunInfo
from legato.asl.executor import MemoryExecutor
from legato.asl.handlers import Handler, Handlers
from legato.asl.history import trace
from legato.asl.interpreter import Interpreter
from legato.asl.parser import parse

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


def execute(machine: m.Machine | Mapping[str, Any] | str,
            input: Any = None,
            handlers: Mapping[str, Handler] | None = None, *,
            input_json: str | None = None,
            name: str | None = None,
            machine_name: str = "StateMachine",
            start_time: float | None = None,
            seed: int | None = None) -> ExecutionResult:
    """Run ``machine`` (a parsed machine, a definition dict, or JSON/YAML text) on ``input``.

    Runs to the end on a virtual clock: Wait states and retry intervals jump the clock instead
    of blocking. ``handlers`` maps Task resources (or Lambda function names) to callables::

        result = asl.execute(machine, {"order": 1}, handlers={"charge": charge})
        assert result.status == "SUCCEEDED", (result.error, result.cause)

    ``input_json`` gives the input as JSON text instead (``None`` input means ``{}``, as in
    AWS). A Task resource without a handler raises :class:`legato.asl.HandlerError` before
    the first state runs; an invalid definition raises :class:`legato.asl.DefinitionError`.
    """
    parsed = parse(machine)
    table = Handlers(handlers)
    table.check(parsed)
    if input_json is not None:
        value = json.loads(input_json)
    else:
        value = {} if input is None else json.loads(json.dumps(input))
    start = time.time() if start_time is None else float(start_time)
    rng = random.Random(seed)
    execution_name = name or str(uuid.UUID(int=rng.getrandbits(128), version=4))
    info = run_info(machine_name, execution_name, value, start)
    executor = MemoryExecutor(table, start=start, rng=rng)
    deadline = None if parsed.timeout_seconds is None else start + parsed.timeout_seconds
    outcome = Interpreter(parsed, info, deadline=deadline, region=REGION).execute(executor,
                                                                                  value)
    return ExecutionResult(status=outcome.status, output=outcome.output, error=outcome.error,
                           cause=outcome.cause, history=executor.history.events,
                           execution_arn=info.execution_arn)
