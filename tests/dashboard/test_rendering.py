"""The dashboard's pure parts, without a server: diagrams, words, task forms."""

from __future__ import annotations

from typing import Any

import pytest

from legato import asl
from legato.dashboard import diagram, words
from legato.dashboard.inbox import coerce, fields
from legato.dashboard.runs import utc

MACHINE = {
    "StartAt": "Check",
    "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.ok", "BooleanEquals": True, "Next": "Work"}],
            "Default": "Reject <b>"},
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Reject <b>"}],
                 "Next": "Done"},
        "Done": {"Type": "Succeed"},
        "Reject <b>": {"Type": "Fail", "Error": "Rejected"},
    },
}


def _marker(n: int, what: str, state: str) -> dict[str, Any]:
    return {"type": "PatchMarker", "seq": n, "name": f"asl:{n}:{what}:{state}"}


def test_a_state_machine_graph_in_walk_order_with_every_transition() -> None:
    machine = asl.parse(MACHINE)
    assert diagram.order(machine) == ["Check", "Work", "Reject <b>", "Done"]
    assert ("Reject <b>", "catch") in diagram.edges_of(machine.states["Work"])
    svg = str(diagram.state_machine(machine))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 4 and "Reject &lt;b&gt;" in svg and "<b>" not in svg
    assert svg.count("marker-end") == 4  # choice, default, next, catch


def test_a_runs_marks_visited_current_and_failed_states() -> None:
    history = [_marker(1, "ChoiceStateEntered", "Check"), _marker(2, "ChoiceStateExited",
                                                                  "Check"),
               _marker(3, "TaskStateEntered", "Work")]
    assert diagram.asl_marks(history, "WAITING") == {"Check": "visited", "Work": "current"}
    assert diagram.asl_marks(history, "FAILED") == {"Check": "visited", "Work": "failed"}
    done = [*history, _marker(4, "TaskStateExited", "Work"),
            _marker(5, "SucceedStateEntered", "Done"), _marker(6, "SucceedStateExited", "Done")]
    assert set(diagram.asl_marks(done, "COMPLETED").values()) == {"visited"}
    svg = str(diagram.state_machine(asl.parse(MACHINE), diagram.asl_marks(history, "FAILED")))
    assert '<g class="failed" data-node="Work">' in svg
    assert '<g class="visited" data-node="Check">' in svg


def test_a_python_run_as_executed() -> None:
    history = [{"type": "WorkflowStarted", "seq": 1, "name": "w"},
               {"type": "StepFailed", "seq": 2, "pos": 2, "name": "charge", "final": False},
               {"type": "StepCompleted", "seq": 3, "pos": 2, "name": "charge"},
               {"type": "WaitStarted", "seq": 4, "name": "receipt.<x>"}]
    svg = str(diagram.python_run(history, "WAITING"))
    assert svg.count("<rect") == 2 and "step x2" in svg and "receipt.&lt;x&gt;" in svg
    assert '<g class="current" data-node="receipt.&lt;x&gt;">' in svg
    failed = str(diagram.python_run([*history[:2], {**history[1], "seq": 3, "final": True}],
                                    "FAILED"))
    assert '<g class="failed" data-node="charge">' in failed


@pytest.mark.parametrize(("what", "said"), [
    ({"kind": "event", "type": "receipt.uploaded", "key": "claim-7",
      "since": "2026-12-14T09:00:00+00:00", "until": "2026-12-14T10:00:00+00:00"},
     "waiting for event receipt.uploaded key claim-7 until 14 Dec 10:00"),
    ({"kind": "signal", "name": "go", "since": "2026-12-14T09:00:00+00:00"},
     "waiting for signal go since 14 Dec 09:00"),
    ({"kind": "task", "name": "approve", "group": "managers", "assignee": None,
      "due": "2026-12-15T08:30:00+00:00"},
     "waiting for human task approve (group managers) due 15 Dec 08:30"),
    ({"kind": "retry", "name": "charge", "attempt": 3, "until": "2026-12-14T10:00:05Z"},
     "waiting to retry step charge (attempt 3) until 14 Dec 10:00"),
    (None, ""),
])
def test_waiting_for_in_words(what: dict[str, Any] | None, said: str) -> None:
    assert words.waiting_for(what) == said


def test_the_timeline_says_each_event_with_its_duration_and_actor() -> None:
    entries = words.timeline([
        {"type": "WorkflowStarted", "seq": 1, "at": 100.0, "actor": {"user": "ada"}},
        {"type": "StepFailed", "seq": 2, "at": 100.5, "name": "s", "attempt": 1,
         "final": False, "error": {"type": "E", "message": "m"}},
        {"type": "StepCompleted", "seq": 3, "at": 102.0, "name": "s", "attempt": 2},
        {"type": "WorkflowRedriven", "seq": 4, "at": 103.0, "actor": {"user": "otto"}}])
    assert entries[0]["actor"] == "ada" and entries[3]["actor"] == "otto"
    assert entries[1]["words"] == "step failed, will be retried"
    assert entries[1]["duration"] == 0.5 and entries[2]["duration"] == 1.5
    assert "redriven" in entries[3]["words"]
    assert words.duration_text(0.25) == "250 ms" and words.duration_text(1.5) == "1.5 s"


FORM = {"type": "object", "required": ["ok", "n"],
        "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "maximum": 9},
                       "x": {"type": "number"}, "s": {"type": "string"},
                       "e": {"enum": ["a", 2, True]}}}


def test_form_fields_from_a_json_schema() -> None:
    got = {f["name"]: f for f in fields(FORM)}
    assert got["ok"]["widget"] == "select" and got["ok"]["options"] == ["true", "false"]
    assert got["ok"]["required"] and got["n"]["required"] and not got["s"]["required"]
    assert got["n"]["widget"] == "number" and got["n"]["step"] == "1" and got["n"]["max"] == 9
    assert got["x"]["step"] == "any" and got["s"]["widget"] == "text"
    assert got["e"]["options"] == ["a", "2", "true"]
    assert fields(None) == [] and fields({"type": "object"}) == []


def test_posted_text_becomes_the_schemas_types() -> None:
    posted = {"ok": ["false"], "n": ["3"], "x": ["2.5"], "s": [""], "e": ["2"], "other": ["z"]}
    assert coerce(FORM, posted) == {"ok": False, "n": 3, "x": 2.5, "e": 2}
    assert coerce(FORM, {"n": ["three"], "e": ["true"]}) == {"n": "three", "e": True}


def test_filter_times_without_an_offset_are_utc() -> None:
    assert utc("2026-12-01") == "2026-12-01T00:00:00+00:00"
    assert utc("2026-12-01T08:30") == "2026-12-01T08:30:00+00:00"
    assert utc("2026-12-01T08:30+01:00") == "2026-12-01T08:30+01:00"
    assert utc("1796691769.5") == "1796691769.5" and utc("soon") == "soon" and utc("") is None
