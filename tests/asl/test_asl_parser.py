"""Parsing and validation: one neutral model, every problem with its JSON path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from legato import asl
from legato.asl import model as m

MINIMAL = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


def problems(definition: object) -> list[str]:
    with pytest.raises(asl.DefinitionError) as info:
        asl.parse(definition)  # type: ignore[arg-type]
    return [str(p) for p in info.value.problems]


def test_parse_dict_json_and_yaml_give_the_same_model() -> None:
    from_dict = asl.parse(MINIMAL)
    from_json = asl.parse('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}')
    from_yaml = asl.parse("StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n")
    assert from_dict == from_json == from_yaml
    assert isinstance(from_dict.states["A"], m.PassState)


def test_load_reads_files(tmp_path: Path) -> None:
    f = tmp_path / "order.asl.yaml"
    f.write_text("StartAt: W\nStates:\n  W:\n    Type: Wait\n"
                 "    Timestamp: 2016-03-14T01:59:00Z\n    End: true\n")
    machine = asl.load(f)
    wait = machine.states["W"]
    assert isinstance(wait, m.WaitState)
    assert isinstance(wait.timestamp, m.Const) and wait.timestamp.value == "2016-03-14T01:59:00Z"


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(asl.DefinitionError, match="cannot read"):
        asl.load(tmp_path / "nope.json")


def test_model_is_immutable() -> None:
    machine = asl.parse(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        machine.start_at = "B"  # type: ignore[misc]
    with pytest.raises(TypeError):
        machine.states["B"] = machine.states["A"]  # type: ignore[index]


def test_unknown_next_names_the_closest_state() -> None:
    found = problems({"StartAt": "Check", "States": {
        "Check": {"Type": "Choice", "Default": "Ship",
                  "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "Shipp"}]},
        "Ship": {"Type": "Pass", "End": True}}})
    assert found == ["States.Check.Choices[0].Next: state 'Shipp' does not exist "
                     "(did you mean 'Ship'?)"]


def test_every_problem_is_listed_with_its_path() -> None:
    found = problems({
        "StartAt": "Strat",
        "States": {
            "Start": {"Type": "Taks", "End": True},
            "P": {"Type": "Parallel", "End": True, "Branches": [
                {"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}]},
            "T": {"Type": "Task", "Resource": "r", "End": True, "InputPath": "$.a[",
                  "Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 0.5}],
                  "Catch": [{"ErrorEquals": ["E"]}]},
            "F": {"Type": "Pass", "Next": "Start", "End": True},
        }})
    text = "\n".join(found)
    assert "StartAt: state 'Strat' does not exist (did you mean 'Start'?)" in text
    assert "States.Start.Type: unknown state type 'Taks' (did you mean 'Task'?)" in text
    assert "States.P.Branches[0].States.X.Next: state 'Y' does not exist" in text
    assert "States.T.InputPath: invalid JSONPath" in text
    assert "States.T.Retry[0].BackoffRate: must be a number of at least 1.0" in text
    assert "States.T.Catch[0].Next: is required" in text
    assert "States.F: has both Next and End" in text


def test_fields_are_checked_against_the_state_type_and_query_language() -> None:
    found = problems({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "Resource": "x"},
        "B": {"Type": "Task", "Resource": "r", "End": True, "Arguments": {}}}})
    assert any(p.startswith("States.A.Resource: is not a field of a Pass state") for p in found)
    assert any(p.startswith("States.B.Arguments: is a JSONata field") for p in found)


def test_bad_intrinsics_and_jsonata_are_definition_errors() -> None:
    found = problems({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"x.$": "States.Formatt('{}', $.a)"},
              "Next": "B"},
        "B": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $.a + %}",
              "End": True}}})
    assert any("States.A.Parameters.x.$: invalid intrinsic function" in p and "unknown "
               "function States.Formatt" in p for p in found)
    assert any(p.startswith("States.B.Output: invalid JSONata expression") for p in found)


def test_wrong_arity_is_reported() -> None:
    found = problems({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"x.$": "States.ArrayGetItem($.a)"}, "End": True}}})
    assert "States.ArrayGetItem takes 2 arguments, got 1" in found[0]


def test_choice_rules_need_exactly_one_operator() -> None:
    found = problems({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.x", "NumericEquals": 1, "StringEquals": "a", "Next": "E"},
            {"Variable": "$.x", "NumericEquals": "one", "Next": "E"},
            {"And": [{"Variable": "$.x", "IsNull": True, "Next": "E"}], "Next": "E"}]},
        "E": {"Type": "Succeed"}}})
    text = "\n".join(found)
    assert "States.C.Choices[0]: a choice rule needs exactly one comparison operator" in text
    assert "States.C.Choices[1].NumericEquals: must be a number" in text
    assert "States.C.Choices[2].And[0].Next: only a top-level choice rule has Next" in text


def test_not_an_object_and_garbage_text() -> None:
    assert problems([1, 2]) == ["a state machine must be an object, not an array"]
    assert problems("{not json")[0].startswith("not valid JSON")
    assert problems(": : :")[0].startswith("neither JSON nor YAML")


def test_definition_error_message_lists_problems() -> None:
    with pytest.raises(asl.DefinitionError) as info:
        asl.parse({"States": {}})
    message = str(info.value)
    assert message.startswith("invalid state machine definition (2 problems)")
    assert "\n  States: must be a non-empty object of states" in message
    assert "\n  StartAt: is required" in message
