"""What a run waits on, decided from journals alone (legato.domain.waiting): each kind, and the
cases where the journal says less than it seems (an operation abandoned, a delivery already
made, a timer that fired in memory, a retry's cut)."""

from __future__ import annotations

from typing import Any

from legato.domain import events as ev
from legato.domain.events import Event
from legato.domain.waiting import LiveStep, RunFacts, RunState, TaskInfo, iso, waiting_for

T = 1_800_000_000.0


class J:
    """A journal being written, as a run would."""

    def __init__(self) -> None:
        self.events: list[Event] = [Event(1, ev.WORKFLOW_STARTED, T, "wf", data={"input": []})]

    def add(self, type_: str, name: str | None = None, pos: int | None = None,
            attempt: int | None = None, at: float = T, lane: str | None = None,
            **data: Any) -> int:
        seq = len(self.events) + 1
        if lane is not None:
            data[ev.BRANCH] = lane
        self.events.append(Event(seq, type_, at, name, pos if pos != -1 else seq, attempt,
                                 data))
        return seq


def state(status: str = "WAITING", wake_at: float | None = None, owned: bool = False,
          queue: str | None = None) -> RunState:
    return RunState(status, owned, T, wake_at, queue)


def of(j: J, st: RunState, now: float = T + 1, **kw: Any) -> Any:
    facts = kw.pop("facts", RunFacts())
    facts.journal = j.events
    return waiting_for(st, facts, now, **kw)


def test_ended_and_unclaimed_runs() -> None:
    assert of(J(), state("COMPLETED")) is None
    assert of(J(), state("PENDING", wake_at=T + 5)) == {"kind": "start", "until": iso(T + 5)}
    assert of(J(), state("PENDING", wake_at=T, queue="q")) == {
        "kind": "queue", "queue": "q", "since": iso(T)}
    admitted = RunFacts(started_at=T)  # released after its queue admitted it: a start again
    assert of(J(), state("PENDING", wake_at=T, queue="q"), facts=admitted)["kind"] == "start"


def test_running_code_between_operations_waits_for_nothing() -> None:
    j = J()
    p = j.add(ev.STEP_COMPLETED, "a", pos=-1, attempt=1)
    assert p == 2
    assert of(j, state("RUNNING", owned=True)) is None


def test_a_sleep_then_after_it_fired() -> None:
    j = J()
    p = j.add(ev.TIMER_STARTED, "sleep", pos=-1, fire_at=T + 60, duration=60)
    assert of(j, state(wake_at=T + 60)) == {"kind": "timer", "since": iso(T), "until": iso(T + 60)}
    # a short sleep in memory, past due: it fired there, recorded with what comes next
    assert of(j, state("RUNNING", owned=True), now=T + 61) is None
    j.add(ev.TIMER_FIRED, "sleep", pos=p)
    assert of(j, state("RUNNING", owned=True)) is None


def test_retries_backoff_attempt_and_final() -> None:
    j = J()
    p = j.add(ev.STEP_FAILED, "charge", pos=-1, attempt=1, retry_at=T + 30, final=False,
              error={"type": "E"})
    retry = {"kind": "retry", "name": "charge", "attempt": 2, "since": iso(T), "until": iso(T + 30)}
    assert of(j, state(wake_at=T + 30)) == retry
    assert of(j, state("RUNNING", owned=True)) == retry  # a backoff held in memory
    assert of(j, state("RUNNING", owned=True), now=T + 31,
              step_timeout=lambda name: 9.0) == {
        "kind": "step", "name": "charge", "attempt": 2, "since": iso(T + 30), "timeout": 9.0}
    j.add(ev.STEP_FAILED, "charge", pos=p, attempt=2, final=True, error={"type": "E"})
    assert of(j, state("RUNNING", owned=True), now=T + 31) is None


def test_what_its_own_worker_says_runs_wins() -> None:
    j = J()
    j.add(ev.STEP_FAILED, "a", pos=-1, attempt=1, retry_at=T, final=False)
    live = [LiveStep("b", 1, T + 0.5, None)]
    assert of(j, state("RUNNING", owned=True), live=live) == {
        "kind": "step", "name": "b", "attempt": 1, "since": iso(T + 0.5), "timeout": None}
    assert of(j, state("RUNNING", owned=True), live=[]) is None


def test_waits_for_events_signals_and_tasks() -> None:
    j = J()
    j.add(ev.WAIT_STARTED, "wait", pos=-1,
          conditions=[["event", "paid", "o-1"], ["signal", "stop", ""]], timeout_at=T + 9)
    assert of(j, state(wake_at=T + 9)) == {
        "kind": "event", "type": "paid", "key": "o-1", "since": iso(T), "until": iso(T + 9),
        "also": [{"kind": "signal", "name": "stop", "since": iso(T), "until": iso(T + 9)}]}
    t = J()
    created = t.add(ev.TASK_CREATED, "approve", pos=-1, task_id="x:2", assignee=None,
                    group="g", due=T + 50)
    assert created == 2
    wait = t.add(ev.WAIT_STARTED, "task:approve", pos=-1, conditions=[["task", "x:2", ""]],
                 timeout_at=T + 50)
    task = {"kind": "task", "task_id": "x:2", "name": "approve", "assignee": None,
            "group": "g", "claimed_by": None, "since": iso(T), "due": iso(T + 50)}
    assert of(t, state(wake_at=T + 50)) == task
    now = RunFacts(tasks={"x:2": TaskInfo("approve", "ann", "g", T + 50, "ann")})
    assert of(t, state(wake_at=T + 50), facts=now)["claimed_by"] == "ann"
    delivered = RunFacts(delivered={wait})  # decided: the run is woken with it ...
    assert of(t, state(wake_at=T), facts=delivered) == {"kind": "resume", "until": iso(T)}
    # ... and goes on (the wait's end is recorded with what it does next)
    assert of(t, state("RUNNING", owned=True), facts=delivered) is None


def test_an_escalated_task_waits_again() -> None:
    j = J()
    j.add(ev.TASK_CREATED, "approve", pos=-1, task_id="x:2", group="g", due=T + 5)
    w = j.add(ev.WAIT_STARTED, "task:approve", pos=-1, conditions=[["task", "x:2", ""]],
              timeout_at=T + 5)
    j.add(ev.WAIT_TIMED_OUT, "task:approve", pos=w)
    j.add(ev.TASK_ESCALATED, "approve", pos=2, status="OPEN", group="managers")
    j.add(ev.WAIT_STARTED, "task:approve", pos=-1, conditions=[["task", "x:2", ""]],
          timeout_at=None)
    got = of(j, state(), facts=RunFacts(tasks={"x:2": TaskInfo("approve", None, "managers",
                                                                None)}))
    assert got["kind"] == "task" and got["group"] == "managers" and got["due"] is None


def test_children_attached_and_detached() -> None:
    j = J()
    j.add(ev.CHILD_STARTED, "kid", pos=-1, child_id="c-1", detached=False)
    assert of(j, state()) == {"kind": "child", "workflow_id": "c-1", "name": "kid",
                                 "since": iso(T)}
    ended = RunFacts(children={"c-1": "COMPLETED"})  # the parent is woken for its end
    assert of(j, state(wake_at=T), facts=ended) == {"kind": "resume", "until": iso(T)}
    d = J()
    d.add(ev.CHILD_STARTED, "kid", pos=-1, child_id="c-2", detached=True)
    assert of(d, state("RUNNING", owned=True)) is None


def test_an_abandoned_wait_is_no_longer_waited_for() -> None:
    """Cancelled while waiting, the run compensates: its wait stays open in the journal,
    but what it does now is the compensation."""
    j = J()
    j.add(ev.WAIT_STARTED, "wait", pos=-1, conditions=[["signal", "s", ""]], timeout_at=None)
    j.add(ev.STEP_FAILED, "undo", pos=-1, attempt=1, retry_at=T + 20, final=False)
    assert of(j, state(wake_at=T + 20)) == {"kind": "retry", "name": "undo", "attempt": 2,
                                            "since": iso(T), "until": iso(T + 20)}


def test_parallel_steps_and_branch_lanes() -> None:
    j = J()
    a = j.add(ev.STEP_SCHEDULED, "p", pos=-1, branch=0, branches=3)
    b = j.add(ev.STEP_SCHEDULED, "p", pos=-1, branch=1, branches=3)
    c = j.add(ev.STEP_SCHEDULED, "p", pos=-1, branch=2, branches=3)
    j.add(ev.STEP_COMPLETED, "p", pos=b, attempt=1)
    j.add(ev.STEP_FAILED, "p", pos=c, attempt=1, retry_at=T + 40, final=False)
    got = of(j, state("RUNNING", owned=True))
    assert got == {"kind": "retry", "name": "p", "attempt": 2, "since": iso(T),
                   "until": iso(T + 40),
                   "also": [{"kind": "step", "name": "p", "attempt": 1, "since": iso(T),
                             "timeout": None}]}
    assert a == 2
    j.add(ev.STEP_COMPLETED, "p", pos=a, attempt=1)
    j.add(ev.STEP_COMPLETED, "p", pos=c, attempt=2)
    assert of(j, state("RUNNING", owned=True)) is None

    k = J()
    group = k.add(ev.BRANCHES_STARTED, "branches", count=2, limit=8)
    k.add(ev.TIMER_STARTED, "sleep", pos=-1, fire_at=T + 90, lane=f"{group}.0")
    k.add(ev.WAIT_STARTED, "wait", pos=-1, conditions=[["signal", "go", ""]],
          timeout_at=None, lane=f"{group}.1")
    assert of(k, state(wake_at=T + 90)) == {
        "kind": "timer", "since": iso(T), "until": iso(T + 90),
        "also": [{"kind": "signal", "name": "go", "since": iso(T), "until": None}]}
    k.add(ev.STATE_UPDATED, "done", value=1)  # the body goes on: the branches are over
    assert of(k, state("RUNNING", owned=True)) is None


def test_a_retry_cuts_the_failed_step_out() -> None:
    j = J()
    p = j.add(ev.STEP_FAILED, "a", pos=-1, attempt=1, final=True, error={})
    f = j.add(ev.WORKFLOW_FAILED, error={})
    j.add(ev.WORKFLOW_RETRIED, skip=[p, f], resume={"pos": p, "name": "a", "base": 1})
    assert of(j, state("PENDING", wake_at=T)) == {"kind": "start", "until": iso(T)}
    assert of(j, state("RUNNING", owned=True)) is None


def test_an_open_circuit_explains_an_otherwise_unexplained_wake_up() -> None:
    j = J()
    circuits = [("pay", "OPEN", T + 300), ("mail", "CLOSED", None)]
    assert of(j, state(wake_at=T + 300), circuits=circuits) == {
        "kind": "circuit", "name": "pay", "until": iso(T + 300)}
    # a timer due then explains it: no circuit
    k = J()
    k.add(ev.TIMER_STARTED, "sleep", pos=-1, fire_at=T + 300)
    assert of(k, state(wake_at=T + 300), circuits=circuits)["kind"] == "timer"
    # released by a stopping worker: due for any worker to go on
    assert of(J(), state(wake_at=T), circuits=circuits) == {"kind": "resume", "until": iso(T)}
