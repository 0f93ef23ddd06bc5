"""Reading a definition is bounded: YAML aliases, nesting depth, and work linear in its size.

No test here times anything: linearity is shown by counting work (function calls, and the
comparisons of state names) for n and 2n states; "small in memory" by tracemalloc's peak.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from legato import asl
from legato.asl.limits import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_EXPRESSION_NESTING,
    MAX_NESTING,
    TOO_DEEP,
    TOO_NESTED,
)
from legato.cli.main import main

PASS = {"Type": "Pass", "End": True}


def _problems(definition: Any) -> list[asl.Problem]:
    with pytest.raises(asl.DefinitionError) as info:
        asl.parse(definition)
    return list(info.value.problems)


def _one_problem(definition: Any) -> asl.Problem:
    problems = _problems(definition)
    assert len(problems) == 1, problems
    return problems[0]


# --- YAML aliases ----------------------------------------------------------------------------


def _alias_bomb(levels: int) -> str:
    """Nine of the previous anchor in each list: 9 ** levels values, in ~40 bytes a level."""
    names = "abcdefghijklmnopqrstuvwxyz"
    lines = ["StartAt: A", "States:", "  A:", "    Type: Pass", "    End: true", "    Result:",
             "      a: &a [x,x,x,x,x,x,x,x,x]"]
    for i in range(1, levels):
        refs = ",".join([f"*{names[i - 1]}"] * 9)
        lines.append(f"      {names[i]}: &{names[i]} [{refs}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_fast_and_small() -> None:
    text = _alias_bomb(9)  # 387,420,489 values once expanded, in 425 bytes
    assert len(text) < 450
    tracemalloc.start()
    try:
        problem = _one_problem(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024  # it never expands: a few hundred nodes are composed
    assert problem.path == "States.A.Result.f[0]"  # 9 ** 6 values: the first over budget
    assert problem.message.startswith(
        f"YAML aliases expand the definition by more than {MAX_ALIAS_NODES:,} values")
    assert "(line 12, column 14)" in problem.message


def test_yaml_aliases_within_the_budget_work() -> None:
    text = """
StartAt: Charge
States:
  Charge:
    Type: Task
    Resource: charge
    Retry: &retry
      - ErrorEquals: [States.Timeout]
        MaxAttempts: 2
    Next: Ship
  Ship:
    Type: Task
    Resource: ship
    Retry: *retry
    Parameters:
      <<: &defaults {carrier: dhl, priority: 1}
      priority: 2
    End: true
"""
    machine = asl.parse(text)
    charge, ship = machine.states["Charge"], machine.states["Ship"]
    assert isinstance(charge, asl.model.TaskState) and isinstance(ship, asl.model.TaskState)
    assert ship.retry == charge.retry and ship.retry[0].max_attempts == 2
    result = asl.execute(machine, {}, handlers={"charge": lambda e: e, "ship": lambda e: e})
    assert result.output == {"carrier": "dhl", "priority": 2}


@pytest.mark.parametrize("copies", [99, 100, 101])
def test_the_alias_budget_counts_what_aliases_stand_for(copies: int) -> None:
    """An anchor of 1,000 values (a list of 999) used ``copies`` times adds 1,000 each."""
    items = ", ".join(["1"] * 999)
    refs = ", ".join(["*big"] * copies)
    text = (f"StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n    Result:\n"
            f"      big: &big [{items}]\n      copies: [{refs}]\n")
    if copies * 1000 <= MAX_ALIAS_NODES:
        assert len(asl.parse(text).states["A"].result.value["copies"]) == copies  # type: ignore[attr-defined]
    else:
        assert "YAML aliases expand" in _one_problem(text).message


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    problem = _one_problem("StartAt: A\nStates:\n  A: &a\n    Type: Pass\n    End: true\n"
                           "    Result: [*a]\n")
    assert problem.path == "States.A.Result[0]"
    assert "the alias *a is inside its own anchor" in problem.message


# --- nesting ---------------------------------------------------------------------------------


def _deep_parameters_json(depth: int) -> str:
    return ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": '
            '{"x": ' + "[" * depth + "]" * depth + "}}}}")


@pytest.mark.parametrize("depth", [MAX_DEPTH, 100_000])
def test_json_nested_deeper_than_the_limit_names_where(depth: int) -> None:
    """100,000 levels is deeper than Python's JSON decoder goes: the place is found by a scan
    of the text, never a RecursionError."""
    problem = _one_problem(_deep_parameters_json(depth))
    assert problem.path.startswith("States.A.Parameters.x[0][0][0]")
    assert "…" in problem.path  # a path 500 levels long is shortened
    assert problem.message.startswith(TOO_DEEP)
    if depth > 10_000:
        assert "(line 1, column " in problem.message


def test_json_at_the_depth_limit_is_read() -> None:
    # the document, the States object, the state, Parameters and x: 5 levels around the arrays
    machine = asl.parse(_deep_parameters_json(MAX_DEPTH - 5))
    assert machine.states["A"].parameters is not None  # type: ignore[attr-defined]


def test_a_dict_and_yaml_nested_too_deeply_name_where() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    problem = _one_problem({"StartAt": "A", "States": {"A": {**PASS, "Result": deep}}})
    assert problem.path.startswith("States.A.Result[0][0]")
    assert problem.message == TOO_DEEP
    yaml_text = ("StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n    Result: "
                 + "[" * 100_000 + "]" * 100_000 + "\n")
    problem = _one_problem(yaml_text)
    assert problem.path.startswith("States.A.Result[0][0]")
    assert problem.message.startswith(TOO_DEEP) and "(line 6, column " in problem.message


def test_a_self_containing_dict_is_refused() -> None:
    state: dict[str, Any] = {**PASS}
    state["Result"] = state
    assert _one_problem({"StartAt": "A", "States": {"A": state}}).message == TOO_DEEP


def _nested(levels: int, kind: str) -> dict[str, Any]:
    machine: dict[str, Any] = {"StartAt": "A", "States": {"A": PASS}}
    for _ in range(levels):
        state = {"Type": "Parallel", "Branches": [machine], "End": True} if kind == "Parallel" \
            else {"Type": "Map", "ItemProcessor": machine, "ItemsPath": "$.v", "End": True,
                  "ItemSelector": {"v.$": "States.Array($$.Map.Item.Value)"}}
        machine = {"StartAt": "P", "States": {"P": state}}
    return machine


@pytest.mark.parametrize("kind", ["Parallel", "Map"])
def test_state_machines_nest_at_most_max_nesting_deep(kind: str) -> None:
    deepest = _nested(MAX_NESTING, kind)
    result = asl.execute(deepest, {"v": [1]}, start_time=0)
    assert result.status == "SUCCEEDED", result.cause
    problem = _one_problem(_nested(MAX_NESTING + 1, kind))
    assert problem.message == TOO_NESTED
    step = "Branches[0]" if kind == "Parallel" else "ItemProcessor"
    assert problem.path.startswith(f"States.P.{step}.States.P.{step}")
    assert problem.path.endswith(step)


def test_parallel_nested_5000_deep_says_so_as_json_and_as_a_dict() -> None:
    """Deeper than the JSON limit too: still reported as state machines nested too deeply,
    at the 101st, from a dict and from text (too deep for the JSON decoder)."""
    machine = _nested(5000, "Parallel")
    text = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}'
    for _ in range(5000):
        text = ('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, '
                '"Branches": [' + text + "]}}}")
    for definition in (machine, text):
        problem = _one_problem(definition)
        assert problem.message == TOO_NESTED
        assert problem.path.startswith("States.P.Branches[0].States.P.Branches[0]")
        assert problem.path.endswith("Branches[0]") and "…" in problem.path


def test_choice_rules_nested_too_deeply() -> None:
    rule: dict[str, Any] = {"Variable": "$.x", "IsPresent": True}
    for _ in range(5000):
        rule = {"Not": rule}
    problem = _one_problem({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{**rule, "Next": "E"}]}, "E": {"Type": "Succeed"}}})
    assert problem.path.startswith("States.C.Choices[0].Not.Not.Not")
    assert problem.message == TOO_DEEP


@pytest.mark.parametrize(("key", "make"), [
    ("x.$", lambda n: "States.Array(" * n + "1" + ")" * n),
    ("x.$", lambda n: "$.a" + "[?(@.b" * n + ")]" * n),
])
def test_expressions_nest_at_most_max_expression_nesting(key: str,
                                                         make: Callable[[int], str]) -> None:
    def machine(n: int) -> dict[str, Any]:
        return {"StartAt": "A", "States": {"A": {**PASS, "Parameters": {key: make(n)}}}}

    asl.parse(machine(MAX_EXPRESSION_NESTING // 2))
    problem = _one_problem(machine(20_000))
    assert problem.path == f"States.A.Parameters.{key}"
    assert f"nests brackets and parentheses more than {MAX_EXPRESSION_NESTING}" in \
        problem.message
    assert len(problem.message) < 300  # the expression is not printed whole


def test_a_jsonata_expression_nested_too_deeply() -> None:
    deep = "{% " + "(" * 20_000 + "1" + ")" * 20_000 + " %}"
    problem = _one_problem({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {**PASS, "Output": deep}}})
    assert problem.path == "States.A.Output"
    assert "nests brackets and parentheses more than" in problem.message


def test_cli_validate_reports_each_as_one_problem(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bomb = tmp_path / "bomb.asl.yaml"
    bomb.write_text(_alias_bomb(9))
    deep = tmp_path / "deep.asl.json"
    deep.write_text(_deep_parameters_json(100_000))
    try:
        main(["asl", "validate", str(bomb), str(deep)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == f"{bomb}: 1 problem"
    assert "YAML aliases expand the definition" in out[1]
    assert out[2] == f"{deep}: 1 problem"
    assert out[3].startswith("  States.A.Parameters.x[0]") and TOO_DEEP in out[3]
    assert len(out) == 4


# --- work linear in the size -----------------------------------------------------------------


class _Name(str):
    """A state name that counts its comparisons (a scan of a list compares with each)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        _Name.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _chain(n: int, *, broken: bool = False) -> dict[str, Any]:
    """n Pass states in a chain; ``broken``: each one's Next names a state that is missing."""
    names = [_Name(f"State{i}") for i in range(n)]
    states: dict[str, Any] = {}
    for i, name in enumerate(names):
        if i == n - 1:
            states[name] = {"Type": "Pass", "End": True}
        else:
            target = _Name(f"Stat{i + 1}e") if broken else _Name(names[i + 1])
            states[name] = {"Type": "Pass", "Next": target}
    return {"StartAt": names[0], "States": states}


def _work(read: Callable[[], Any]) -> int:
    """Python function calls made while ``read()`` runs, and state name comparisons."""
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    _Name.compared = 0
    sys.setprofile(count)
    try:
        read()
    except asl.DefinitionError:
        pass
    finally:
        sys.setprofile(None)
    return calls + _Name.compared


@pytest.mark.parametrize("case", ["valid", "broken", "yaml", "json"])
def test_reading_takes_work_linear_in_the_number_of_states(case: str) -> None:
    def definition(n: int) -> Any:
        if case == "yaml":
            import yaml

            return yaml.safe_dump(json.loads(json.dumps(_chain(n))))
        if case == "json":
            return json.dumps(_chain(n))
        return _chain(n, broken=case == "broken")

    n = 600
    small, large = definition(n), definition(2 * n)
    once, twice = _work(lambda: asl.parse(small)), _work(lambda: asl.parse(large))
    assert twice <= 2.1 * once, (once, twice)  # quadratic work would be ~4 times
