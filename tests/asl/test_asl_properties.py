"""Property tests: random and mutated definitions never crash the parser.

Whatever the input, ``asl.parse`` returns a machine or raises ``DefinitionError``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from asl_conformance_support import load_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legato import asl

NAMES = ["StartAt", "States", "Type", "Next", "End", "Resource", "Choices", "Default",
         "Variable", "NumericEquals", "StringEquals", "And", "Or", "Not", "Branches",
         "ItemProcessor", "Iterator", "ItemsPath", "Items", "Parameters", "ResultPath",
         "InputPath", "OutputPath", "Retry", "Catch", "ErrorEquals", "Seconds", "Timestamp",
         "QueryLanguage", "Arguments", "Output", "Assign", "Condition", "x.$", "Pass",
         "Task", "Choice", "Wait", "Map", "Parallel", "Fail", "Succeed", "JSONata",
         "JSONPath", "ProcessorConfig", "Mode", "DISTRIBUTED", "MaxConcurrency"]
STRINGS = st.one_of(st.sampled_from(NAMES), st.text(max_size=12),
                    st.sampled_from(["$", "$.a", "$$.State.Name", "$var", "$[", "$.a[?(@.x",
                                     "States.Format('{}', $.a)", "States.Array(", "{% $ %}",
                                     "{% 1 + %}", "{% $states.input %}", "$..a[1:2]"]))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | STRINGS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(STRINGS, children,
                                                                        max_size=5),
    max_leaves=30)
DEFINITIONS = [c["definition"] for c in load_cases()[::7]]


def _parse_only_definition_errors(value: Any) -> None:
    try:
        asl.parse(value)
    except asl.DefinitionError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_random_values_never_crash(value: Any) -> None:
    _parse_only_definition_errors(value)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_random_text_never_crashes(text: str) -> None:
    _parse_only_definition_errors(text)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(definition: Any, path: tuple[Any, ...], how: int, new: Any) -> Any:
    doc = copy.deepcopy(definition)
    if not path:
        return new
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if how == 0:  # replace the value
        parent[key] = new
    elif how == 1:  # delete it
        del parent[key]
    elif how == 2 and isinstance(parent, dict):  # rename the key
        parent[str(new)[:10]] = parent.pop(key)
    else:  # wrap it
        parent[key] = [parent[key]]
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_conformance_definitions_never_crash(data: st.DataObject) -> None:
    definition = data.draw(st.sampled_from(DEFINITIONS))
    paths = _paths(definition)
    path = data.draw(st.sampled_from(paths))
    how = data.draw(st.integers(0, 3))
    new = data.draw(JSON)
    mutated = _mutate(definition, path, how, new)
    _parse_only_definition_errors(mutated)
    _parse_only_definition_errors(json.dumps(mutated))
