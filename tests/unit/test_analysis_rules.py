"""The pure rules of ``legato analyze`` (legato.domain.analysis) on hand-built journals."""

from __future__ import annotations

from typing import Any

from legato.domain import analysis as an
from legato.domain import events as ev
from legato.domain.events import Event

T0 = 1_000.0


class J:
    """A journal under construction: ``add(type, at, ...)`` numbers the events."""

    def __init__(self, name: str = "wf") -> None:
        self.events: list[Event] = [Event(1, ev.WORKFLOW_STARTED, T0, name)]

    def add(self, type_: str, at: float, name: str | None = None, pos: int | None = None,
            attempt: int | None = None, **data: Any) -> int:
        seq = len(self.events) + 1
        self.events.append(Event(seq, type_, T0 + at, name, pos if pos != 0 else seq,
                                 attempt, data))
        return seq

    def facts(self, status: str = "COMPLETED") -> an.RunFacts:
        return an.run_facts("r1", "wf", status, self.events)


def path(facts: an.RunFacts) -> list[tuple[str, str | None, float]]:
    return [(s.kind, s.name, s.seconds) for s in facts.path]


def test_percentile_is_nearest_rank() -> None:
    assert an.percentile([], 50) is None
    assert an.percentile([5.0], 99) == 5.0
    values = [float(i) for i in range(1, 101)]
    assert (an.percentile(values, 50), an.percentile(values, 95),
            an.percentile(values, 99)) == (50.0, 95.0, 99.0)


def test_a_retried_attempt_is_timed_from_when_it_was_due() -> None:
    j = J()
    j.add(ev.STEP_COMPLETED, 1, "a", 0, 1)
    p = j.add(ev.STEP_FAILED, 3, "b", 0, 1, error={"type": "E", "message": "x"}, final=False,
              retry_at=T0 + 10)
    j.add(ev.STEP_COMPLETED, 14, "b", p, 2)
    j.add(ev.WORKFLOW_COMPLETED, 14)
    f = j.facts()
    assert [(a.step, a.attempt, a.seconds, a.failed) for a in f.attempts] == [
        ("a", 1, 1.0, False), ("b", 1, 2.0, True), ("b", 2, 4.0, False)]
    assert path(f) == [("working", "a", 1.0), ("working", "b", 2.0), ("retry", "b", 7.0),
                       ("working", "b", 4.0)]
    assert f.duration == 14.0
    assert (f.failures, f.recovered, f.manual) == (1, [11.0], 0)


def test_parallel_steps_put_the_longest_on_the_path() -> None:
    j = J()
    a = j.add(ev.STEP_SCHEDULED, 0, "fast", 0, branch=0, branches=2)
    b = j.add(ev.STEP_SCHEDULED, 0, "slow", 0, branch=1, branches=2)
    j.add(ev.STEP_COMPLETED, 2, "fast", a, 1)
    j.add(ev.STEP_COMPLETED, 9, "slow", b, 1)
    j.add(ev.WORKFLOW_COMPLETED, 9)
    f = j.facts()
    assert [(a.step, a.seconds) for a in f.attempts] == [("fast", 2.0), ("slow", 9.0)]
    assert path(f) == [("working", "slow", 9.0)]


def test_branches_take_the_lane_that_ended_last() -> None:
    j = J()
    group = j.add(ev.BRANCHES_STARTED, 1, "branches", None, count=2, limit=8)
    t = j.add(ev.TIMER_STARTED, 1, "sleep", 0, lane=f"{group}.1", fire_at=T0 + 31)
    j.add(ev.STEP_COMPLETED, 6, "work", 0, 1, lane=f"{group}.0")
    j.add(ev.TIMER_FIRED, 31, "sleep", t, lane=f"{group}.1")
    j.add(ev.STEP_COMPLETED, 33, "after", 0, 1)
    j.add(ev.WORKFLOW_COMPLETED, 33)
    f = j.facts()
    assert path(f) == [("working", None, 1.0), ("timer", "sleep", 30.0),
                       ("working", "after", 2.0)]
    assert [(a.step, a.seconds) for a in f.attempts] == [("work", 5.0), ("after", 2.0)]


def test_waits_by_what_was_waited_for() -> None:
    j = J()
    c = j.add(ev.CHILD_STARTED, 0, "kid", 0, child_id="r1:2", detached=False)
    j.add(ev.CHILD_ENDED, 4, "kid", c)
    w = j.add(ev.WAIT_STARTED, 4, "event:paid", 0, conditions=[["event", "paid", "o1"]])
    j.add(ev.WAIT_COMPLETED, 9, "event:paid", w, index=0)
    j.add(ev.TASK_CREATED, 9, "approve", 0, task_id="r1:6")
    h = j.add(ev.WAIT_STARTED, 9, "task:approve", 0, conditions=[["task", "r1:6"]])
    j.add(ev.TASK_ESCALATED, 20, None, 6)
    j.add(ev.WAIT_COMPLETED, 29, "task:approve", h, index=0)
    j.add(ev.WORKFLOW_COMPLETED, 30)
    assert path(j.facts()) == [("child", "kid", 4.0), ("event", "event:paid", 5.0),
                               ("human", "task:approve", 20.0), ("working", None, 1.0)]


def test_a_failure_recovered_by_a_person_is_not_automated() -> None:
    j = J()
    p = j.add(ev.STEP_FAILED, 1, "pay", 0, 1, error={"type": "E", "message": "down"},
              final=True)
    j.add(ev.WORKFLOW_FAILED, 1, error={"type": "E", "message": "down"}, detail=None)
    j.add(ev.WORKFLOW_RETRIED, 100)
    j.add(ev.STEP_COMPLETED, 102, "pay", p, 2)
    j.add(ev.WORKFLOW_COMPLETED, 102)
    f = j.facts()
    assert (f.failures, f.recovered, f.manual) == (1, [], 1)
    assert path(f)[-2:] == [("manual", None, 99.0), ("working", "pay", 2.0)]
    # a signal between the failure and the success: a person acted too
    j = J()
    p = j.add(ev.STEP_FAILED, 1, "pay", 0, 1, error={"type": "E", "message": "x"},
              final=False, retry_at=T0 + 2)
    w = j.add(ev.WAIT_STARTED, 2, "signal:go", 0, conditions=[["signal", "go"]])
    j.add(ev.WAIT_COMPLETED, 5, "signal:go", w, index=0)
    j.add(ev.STEP_COMPLETED, 6, "pay", p, 2)
    assert j.facts("RUNNING").manual == 1


def test_a_compensated_saga_counts_once_as_a_recovered_saga() -> None:
    j = J()
    j.add(ev.STEP_COMPLETED, 1, "book", 0, 1)
    j.add(ev.STEP_FAILED, 2, "pay", 0, 1, error={"type": "E", "message": "no"}, final=True)
    j.add(ev.STEP_COMPLETED, 5, "unbook", 0, 1)
    j.add(ev.WORKFLOW_FAILED, 5, error={"type": "E", "message": "no"}, detail="compensated")
    f = j.facts("FAILED")
    assert (f.failures, f.sagas, f.sagas_recovered, f.compensated) == (0, 1, [3.0],
                                                                     "compensated")
    report = an.report([f, J().facts("CANCELLED")], limit=10, truncated=False)
    wf = report["workflows"][0]
    assert wf["compensation_rate"] == 0.5 and wf["failure_rate"] == 0.5
    fig = report["figures"]
    # cancelled runs are left out of reliability
    assert (fig["reliability"]["value"], fig["reliability"]["counted"]) == (0.0, 1)
    assert fig["automated_recovery"]["value"] == 1.0
    assert wf["failure_point"] == {"step": "pay", "failures": 1}
    assert wf["bottleneck"] == {"step": "unbook", "total_seconds": 3.0}


def test_an_empty_report_has_no_figures() -> None:
    report = an.report([], limit=10, truncated=False)
    assert report["runs"] == 0 and report["workflows"] == []
    assert report["bottleneck"] is None and report["failure_point"] is None
    assert report["figures"]["reliability"]["value"] is None
    assert report["figures"]["recovery_time"]["met"] is None


def test_the_chart_is_svg_with_every_text_escaped() -> None:
    import xml.etree.ElementTree as ET

    from legato.analysis import svg

    j = J("<b>&wf")
    j.add(ev.STEP_COMPLETED, 4, "<script>alert(1)</script>", 0, 1)
    j.add(ev.WORKFLOW_COMPLETED, 5)
    facts = an.run_facts("r1", "<b>&wf", "COMPLETED", j.events)
    root = ET.fromstring(svg(an.report([facts], limit=10, truncated=False)))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "<script>alert(1)</script>" in texts
    assert any((t or "").startswith("<b>&wf") for t in texts)
    assert not list(root.iter(f"{ns}script"))


def test_a_saga_finished_by_a_manual_retry_is_not_automated() -> None:
    j = J()
    j.add(ev.STEP_COMPLETED, 1, "book", 0, 1)
    j.add(ev.STEP_FAILED, 2, "pay", 0, 1, error={"type": "E", "message": "no"}, final=True)
    u = j.add(ev.STEP_FAILED, 3, "unbook", 0, 1, error={"type": "E", "message": "x"},
              final=True)
    j.add(ev.WORKFLOW_FAILED, 3, error={"type": "E", "message": "x"},
          detail="compensation failed")
    j.add(ev.WORKFLOW_RETRIED, 60)
    j.add(ev.STEP_COMPLETED, 61, "unbook", u, 2)
    j.add(ev.WORKFLOW_FAILED, 61, error={"type": "E", "message": "no"}, detail="compensated")
    f = j.facts("FAILED")
    assert f.compensated == "compensated" and f.sagas_recovered == []
    # the saga and the failed compensation attempt, both finished by the person's retry
    assert (f.sagas, f.failures, f.manual, f.recovered) == (1, 1, 2, [])
    assert f.duration == 61.0
