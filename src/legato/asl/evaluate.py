"""Evaluating a state's data: paths, payload templates, intrinsics, JSONata, the context object.

A :class:`Frame` is one state's view of the run: its input, the variables in scope, the
context object (``$$`` / ``$states.context``) and the executor's clock and randomness.
"""

from __future__ import annotations

import json
import re
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any

from legato.asl import errors
from legato.asl import model as m
from legato.asl.executor import Executor
from legato.asl.intrinsics import Env
from legato.asl.intrinsics import evaluate as eval_intrinsic
from legato.asl.jsonata_bridge import Scope
from legato.asl.jsonata_bridge import evaluate as eval_jsonata
from legato.asl.jsonpath import JsonPath, PathNotFound
from legato.asl.timeutil import iso

MAX_PAYLOAD = 256 * 1024
#: levels of objects and arrays a state's output may nest (Jackson's default, which AWS's
#: Java runtime reads JSON with): deeper data fails the execution with States.Runtime, so a
#: loop that wraps its data once more each time ends before each state costs seconds
MAX_DATA_DEPTH = 1000
MAX_WAIT = 2147483647  # seconds; AWS keeps a wait's delay in a 32-bit int


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def size(value: Any) -> int:
    return len(compact(value).encode("utf-8"))


_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def nested_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests objects and arrays more than ``limit`` levels deep.

    Text with at most ``limit`` brackets cannot (counted in C: the usual case costs next to
    nothing); otherwise a scan of its brackets outside strings tells."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        c = match.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth -= 1
    return False


def runtime(message: str) -> errors.StatesFailure:
    return errors.StatesFailure(errors.RUNTIME, message, locate=True)


@dataclass
class RunInfo:
    """What the context object says about the execution."""

    execution_name: str
    execution_arn: str
    machine_name: str
    machine_arn: str
    input: Any
    start: float
    role_arn: str


@dataclass
class Frame:
    run: RunInfo
    state: str
    entered: float
    entered_id: int
    variables: ChainMap[str, Any]
    executor: Executor
    jsonata: bool
    retry_count: int | None = None
    map_item: tuple[int, Any] | None = None
    token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # $states.result / errorOutput

    def context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "Execution": {"Id": self.run.execution_arn, "Input": self.run.input,
                          "StartTime": iso(self.run.start), "Name": self.run.execution_name,
                          "RoleArn": self.run.role_arn, "RedriveCount": 0},
            "StateMachine": {"Id": self.run.machine_arn, "Name": self.run.machine_name},
            "State": {"Name": self.state, "EnteredTime": iso(self.entered)},
        }
        if self.retry_count is not None:
            ctx["State"]["RetryCount"] = self.retry_count
        if self.token is not None:
            ctx["Task"] = {"Token": self.token}
        if self.map_item is not None:
            ctx["Map"] = {"Item": {"Index": self.map_item[0], "Value": self.map_item[1]}}
        return ctx

    # --- JSONPath ------------------------------------------------------------------------

    def lookup(self, path: JsonPath, data: Any) -> Any:
        """Evaluate ``path``; raises :class:`PathNotFound` (or a failure for a variable)."""
        if path.root == "$":
            return path.evaluate(data)
        if path.root == "$$":
            return path.evaluate(self.context())
        if path.root not in self.variables:
            raise PathNotFound(f"The variable '{path.root}' is not defined")
        return path.evaluate(self.variables[path.root])

    def path_value(self, path: JsonPath, data: Any, field: str) -> Any:
        """A ``.$`` field's path: missing values are ``States.Runtime`` with AWS's wording."""
        try:
            return self.lookup(path, data)
        except PathNotFound:
            raise runtime(f"The JSONPath '{path.text}' specified for the field '{field}' could "
                          f"not be found in the input '{compact(data)}'") from None

    def io_path(self, path: JsonPath, data: Any) -> Any:
        """InputPath / OutputPath / ItemsPath."""
        try:
            return self.lookup(path, data)
        except PathNotFound as exc:
            raise runtime(f"Invalid path '{path.text}' : {exc}") from None

    # --- templates -----------------------------------------------------------------------

    def node(self, node: m.Node, data: Any) -> Any:
        """Evaluate a payload template against ``data`` (``$`` in JSONPath)."""
        if isinstance(node, m.Const):
            return node.value
        if isinstance(node, m.TObject):
            return {k: self.node(v, data) for k, v in node.fields}
        if isinstance(node, m.TArray):
            return [self.node(v, data) for v in node.items]
        if isinstance(node, m.TPath):
            return self.path_value(node.path, data, node.field)
        if isinstance(node, m.TIntrinsic):
            env = Env(lambda p: self.path_value(p, data, node.field),
                      self.executor.uuid, self.executor.random)
            return eval_intrinsic(node.call, env)
        return self.jsonata_value(node.expression, node.field)

    def jsonata_value(self, expression: str, field: str) -> Any:
        states: dict[str, Any] = {"input": self.extra.get("input"), "context": self.context()}
        for key in ("result", "errorOutput"):
            if key in self.extra:
                states[key] = self.extra[key]
        scope = Scope(states=states, variables=self.variables,
                      now_ms=int(self.executor.now() * 1000), uuid=self.executor.uuid,
                      rng=self.executor.random)
        return eval_jsonata(expression, scope, field, self.state)

    def assign(self, node: m.Node | None, data: Any) -> dict[str, Any]:
        """The variables an ``Assign`` block sets (all read the values from before it)."""
        if node is None:
            return {}
        values = self.node(node, data)
        return dict(values) if isinstance(values, dict) else {}
