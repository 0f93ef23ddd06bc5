"""``legato asl validate | run | graph``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legato.cli.main import main

GOOD = "StartAt: Charge\nStates:\n  Charge:\n    Type: Task\n    Resource: charge\n" \
       "    Next: Done\n  Done:\n    Type: Succeed\n"
BAD = {"StartAt": "Check", "States": {
    "Check": {"Type": "Choice", "Default": "Ship",
              "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "Shipp"}]},
    "Ship": {"Type": "Pass", "End": True}}}
HANDLERS = "def charge(event):\n    return {**event, 'charged': True}\n"


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "good.asl.yaml").write_text(GOOD)
    (tmp_path / "bad.asl.json").write_text(json.dumps(BAD))
    (tmp_path / "asl_cli_handlers.py").write_text(HANDLERS)
    return {p.name: p for p in tmp_path.iterdir()}


def test_validate_lists_every_problem_and_exits_1(files: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["asl", "validate", str(files["good.asl.yaml"]), str(files["bad.asl.json"])])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{files['good.asl.yaml']}: ok" in out
    assert "States.Check.Choices[0].Next: state 'Shipp' does not exist (did you mean " \
           "'Ship'?)" in out
    assert run(["asl", "validate", str(files["good.asl.yaml"])]) == 0


def test_run_prints_the_output(files: dict[str, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["asl", "run", str(files["good.asl.yaml"]), "--input", '{"id": 1}',
                "--handlers", str(files["asl_cli_handlers.py"])])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"id": 1, "charged": True}


def test_run_without_a_handler_or_with_bad_input_is_a_usage_error(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["asl", "run", str(files["good.asl.yaml"])]) == 2
    assert "no handler for state 'Charge'" in capsys.readouterr().err
    assert run(["asl", "run", str(files["good.asl.yaml"]), "--input", "{oops"]) == 2
    assert "--input is not JSON" in capsys.readouterr().err


def test_run_of_a_failing_machine_exits_1(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "fail.json"
    f.write_text(json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E",
                                                              "Cause": "why"}}}))
    assert run(["asl", "run", str(f)]) == 1
    assert "execution FAILED: E: why" in capsys.readouterr().err


def test_graph_prints_mermaid(files: dict[str, Path],
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["asl", "graph", str(files["bad.asl.json"])]) == 2
    capsys.readouterr()
    assert run(["asl", "graph", str(files["good.asl.yaml"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stateDiagram-v2\n")
    assert "[*] --> s0" in out and "s0 --> s1" in out


PARENT = {"StartAt": "Start", "States": {
    "Start": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
              "Parameters": {"StateMachineArn":
                             "arn:aws:states:us-east-1:123456789012:stateMachine:Child",
                             "Input": {"n.$": "$.n"}},
              "OutputPath": "$.Output", "Next": "Approve"},
    "Approve": {"Type": "Task", "Resource": "approve.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token", "n.$": "$.doubled"},
                "End": True}}}
CHILD = {"StartAt": "Double", "States": {"Double": {
    "Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}}
ANSWERS = ("def approve(event):\n    return 'asked'\n\n"
           "CALLBACKS = {'Approve': lambda token, event: {'approved': event['n']}}\n")


def test_run_with_child_machines_and_callbacks(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "parent.json").write_text(json.dumps(PARENT))
    (tmp_path / "child.json").write_text(json.dumps(CHILD))
    (tmp_path / "asl_cli_answers.py").write_text(ANSWERS)
    argv = ["asl", "run", str(tmp_path / "parent.json"), "--input", '{"n": 21}',
            "--handlers", str(tmp_path / "asl_cli_answers.py")]
    assert run([*argv, "--machine", f"Child={tmp_path / 'child.json'}"]) == 0
    assert json.loads(capsys.readouterr().out) == {"approved": 42}
    assert run(argv) == 2  # the child machine is not given
    assert "'Child'" in capsys.readouterr().err
    assert run([*argv, "--machine", "Child"]) == 2
    assert "give NAME=FILE" in capsys.readouterr().err


def test_validate_and_run_with_json_print_one_document(
        files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = str(files["good.asl.yaml"]), str(files["bad.asl.json"])
    assert run(["asl", "validate", good, bad, "--json"]) == 1  # a problem: exit 1 still
    report = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["ok"]) for r in report] == [(good, True), (bad, False)]
    assert {"path": "States.Check.Choices[0].Next",
            "message": "state 'Shipp' does not exist (did you mean 'Ship'?)"} \
        in report[1]["problems"]
    assert run(["asl", "validate", good, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"file": good, "ok": True, "problems": []}]

    (tmp_path / "asl_cli_json_handlers.py").write_text(HANDLERS)  # a module not imported yet
    assert run(["asl", "run", good, "--input", '{"id": 1}', "--handlers",
                str(tmp_path / "asl_cli_json_handlers.py"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "status": "SUCCEEDED", "output": {"id": 1, "charged": True}, "error": None,
        "cause": None}
    f = tmp_path / "fail.json"
    f.write_text(json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E",
                                                              "Cause": "why"}}}))
    assert run(["asl", "run", str(f), "--json"]) == 1  # the execution, then the error line
    out, err = capsys.readouterr()
    assert json.loads(out) == {"status": "FAILED", "output": None, "error": "E",
                               "cause": "why"}
    assert err == "error: execution FAILED: E: why\n"
