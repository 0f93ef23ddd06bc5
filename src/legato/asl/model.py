"""The neutral, immutable model of a state machine that every input format is read into.

:func:`legato.asl.parse` builds it (and validates, with paths in the errors); the interpreter
only ever reads it. Values that come from the definition (payload templates, literal results)
are compiled into :class:`Node` trees; literal JSON inside is never mutated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from legato.asl.intrinsics import Call
from legato.asl.jsonpath import JsonPath

JSONPATH = "JSONPath"
JSONATA = "JSONata"

# --- payload templates ---------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    """A literal JSON value (stored as text, so no run can change it)."""

    text: str

    @staticmethod
    def of(value: Any) -> Const:
        return Const(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    @property
    def value(self) -> Any:
        return json.loads(self.text)


@dataclass(frozen=True)
class TObject:
    fields: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class TArray:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class TPath:
    """``"key.$": "$.path"`` (or ``$$.ctx``, ``$var``)."""

    path: JsonPath
    field: str


@dataclass(frozen=True)
class TIntrinsic:
    call: Call
    field: str


@dataclass(frozen=True)
class TJsonata:
    """``"{% expression %}"`` in a JSONata state."""

    expression: str
    field: str


Node = Const | TObject | TArray | TPath | TIntrinsic | TJsonata

# --- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retrier:
    error_equals: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    jitter_strategy: str = "NONE"


@dataclass(frozen=True)
class Catcher:
    error_equals: tuple[str, ...]
    next: str
    result_path: JsonPath | None = None
    discard_result: bool = False  # "ResultPath": null
    output: Node | None = None  # JSONata
    assign: Node | None = None


# --- choice rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """``{"Variable": "$.x", "NumericEquals": 3}`` (operand) or ``...Path`` (operand_path)."""

    variable: JsonPath
    operator: str  # e.g. "NumericEquals", "IsPresent"; without the Path suffix
    operand: Any = None
    operand_path: JsonPath | None = None


@dataclass(frozen=True)
class Composite:
    kind: str  # "And", "Or", "Not"
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Condition:
    """JSONata ``Condition``: a boolean or ``{% expression %}``."""

    node: Node


Rule = Comparison | Composite | Condition


@dataclass(frozen=True)
class ChoiceBranch:
    rule: Rule
    next: str
    assign: Node | None = None
    output: Node | None = None


# --- states ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class State:
    name: str
    type: str
    query_language: str = JSONPATH
    comment: str | None = None
    next: str | None = None
    end: bool = False
    input_path: JsonPath | None = None
    input_path_null: bool = False  # "InputPath": null -> {}
    output_path: JsonPath | None = None
    output_path_null: bool = False
    assign: Node | None = None
    output: Node | None = None  # JSONata

    @property
    def jsonata(self) -> bool:
        return self.query_language == JSONATA


@dataclass(frozen=True, kw_only=True)
class ResultState(State):
    """States with ResultPath (and, for most, Parameters/ResultSelector)."""

    parameters: Node | None = None  # JSONPath Parameters / JSONata Arguments
    result_selector: Node | None = None
    result_path: JsonPath | None = None
    discard_result: bool = False  # "ResultPath": null


@dataclass(frozen=True, kw_only=True)
class PassState(ResultState):
    result: Const | None = None


@dataclass(frozen=True, kw_only=True)
class SucceedState(State):
    pass


@dataclass(frozen=True, kw_only=True)
class FailState(State):
    error: Node | None = None
    cause: Node | None = None


@dataclass(frozen=True, kw_only=True)
class WaitState(State):
    seconds: Node | None = None
    seconds_path: JsonPath | None = None
    timestamp: Node | None = None
    timestamp_path: JsonPath | None = None


@dataclass(frozen=True, kw_only=True)
class ChoiceState(State):
    choices: tuple[ChoiceBranch, ...] = ()
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExecState(ResultState):
    """Task, Parallel and Map: Retry and Catch."""

    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TaskState(ExecState):
    resource: str = ""
    timeout_seconds: Node | None = None
    timeout_seconds_path: JsonPath | None = None
    heartbeat_seconds: Node | None = None
    heartbeat_seconds_path: JsonPath | None = None

    @property
    def wait_for_token(self) -> bool:
        return self.resource.endswith(".waitForTaskToken")


@dataclass(frozen=True, kw_only=True)
class ParallelState(ExecState):
    branches: tuple[Machine, ...] = ()


@dataclass(frozen=True)
class ItemBatcher:
    max_items: Node | None = None
    max_items_path: JsonPath | None = None
    max_bytes: Node | None = None
    max_bytes_path: JsonPath | None = None
    batch_input: Node | None = None


@dataclass(frozen=True)
class ItemReader:
    """Where a Map reads its items from (``ItemReader``): a handler for ``resource``
    (``arn:aws:states:::s3:getObject`` / ``s3:listObjectsV2``) called with ``parameters``."""

    resource: str
    parameters: Node | None = None  # Parameters (JSONPath) or Arguments (JSONata)
    input_type: str | None = None  # CSV | JSON | JSONL | MANIFEST
    header_location: str | None = None  # FIRST_ROW | GIVEN
    headers: tuple[str, ...] = ()
    delimiter: str = ","
    max_items: Node | None = None
    max_items_path: JsonPath | None = None


@dataclass(frozen=True, kw_only=True)
class MapState(ExecState):
    processor: Machine | None = None
    mode: str = "INLINE"  # or DISTRIBUTED
    execution_type: str | None = None
    items_path: JsonPath | None = None
    items: Node | None = None  # JSONata Items
    item_selector: Node | None = None
    item_batcher: ItemBatcher | None = None
    max_concurrency: Node | None = None
    max_concurrency_path: JsonPath | None = None
    tolerated_failure_count: Node | None = None
    tolerated_failure_count_path: JsonPath | None = None
    tolerated_failure_percentage: Node | None = None
    tolerated_failure_percentage_path: JsonPath | None = None
    label: str | None = None
    item_reader: ItemReader | None = None


# --- machines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """A state machine, or a Parallel branch / Map item processor (same shape)."""

    start_at: str
    states: Mapping[str, State]
    query_language: str = JSONPATH
    comment: str | None = None
    timeout_seconds: int | None = None
    version: str | None = None
    definition: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def state(self, name: str) -> State:
        return self.states[name]

    def walk(self) -> list[tuple[Machine, State]]:
        """Every (machine, state), depth first, branches and processors included."""
        out: list[tuple[Machine, State]] = []
        for st in self.states.values():
            out.append((self, st))
            if isinstance(st, ParallelState):
                for b in st.branches:
                    out.extend(b.walk())
            if isinstance(st, MapState) and st.processor is not None:
                out.extend(st.processor.walk())
        return out

    def resources(self) -> list[tuple[str, TaskState]]:
        return [(st.resource, st) for _, st in self.walk() if isinstance(st, TaskState)]

    def to_json(self) -> str:
        """The original definition as JSON."""
        return json.dumps(_thaw(self.definition), indent=2)


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


StateMachine = Machine
