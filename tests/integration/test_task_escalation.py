"""Escalating a human task (issue 17): ``on_escalate`` runs a step once when the task is
handed to ``escalate_to``, and ``escalation_due`` gives the escalated task a due date of its
own, after which it expires. Durable: a worker that dies between the escalation and the
step, or before the escalation is journaled, loses nothing and runs the step once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import legato
from legato.runtime import faults
from legato.testing import VirtualClock, replay, run_to_completion

Make = Callable[..., legato.Engine]
HOUR = 3600.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def until(check: Callable[[], Any], timeout: float = 15) -> Any:
    end = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)
    return value


class Crash(BaseException):
    """Stands for the worker's process dying at this point (nothing catches it)."""


@pytest.fixture
def disarm() -> Iterator[None]:
    yield
    faults.disarm()


def _flow(unique_name: Callable[[str], str], calls: list[dict[str, Any]],
          escalation_due: float | timedelta | None = 2 * HOUR) -> Any:
    @legato.step
    def notify_managers(task: dict[str, Any]) -> str:
        calls.append(task)
        return f"paged {task['group']}"

    @legato.workflow(name=unique_name("esc_hook"))
    def refund(ctx: legato.WorkflowContext, amount: int) -> dict[str, Any]:
        try:
            return ctx.human_task("approve_refund", group="finance", data={"amount": amount},
                                  due=timedelta(hours=24), escalate_to="finance-managers",
                                  on_escalate=notify_managers, escalation_due=escalation_due)
        except legato.TaskExpired:
            return {"outcome": "expired"}

    return refund


def _replays(flow: Any, h: legato.WorkflowHandle) -> None:
    """The recorded history replays against the code, to the same end, running nothing."""
    got = replay(flow, h.history(), workflow_id=h.workflow_id)
    assert got.complete and got.status == h.status, got


def _users(engine: legato.Engine) -> None:
    engine.users.add("erin", groups=["finance"])
    engine.users.add("boss", groups=["finance-managers"])


@pytest.mark.wallclock
def test_the_hook_runs_once_and_the_escalated_task_has_its_own_due(
        make_engine: Make, clock: VirtualClock, unique_name: Callable[[str], str]) -> None:
    engine = make_engine(clock=clock).launch()
    _users(engine)
    calls: list[dict[str, Any]] = []
    flow = _flow(unique_name, calls)
    h = engine.start(flow, 900)
    h.wait_status("WAITING")
    (task,) = until(lambda: engine.tasks.list(group="finance"))
    assert calls == []
    clock.advance(timedelta(hours=24, seconds=1))
    until(lambda: calls)
    escalated_at = clock.now()
    h.wait_status("WAITING")
    (hooked,) = calls
    assert hooked == {
        "id": task.id, "workflow_id": h.workflow_id, "name": "approve_refund",
        "status": "OPEN", "assignee": None, "group": "finance-managers",
        "data": {"amount": 900}, "due": iso(escalated_at + 2 * HOUR),
        "escalate_to": "finance-managers", "escalated": True, "four_eyes": False,
        "escalated_from": {"assignee": None, "group": "finance"}}
    now_task = engine.tasks.get(task.id)
    assert (now_task.group, now_task.escalated, now_task.due) == (
        "finance-managers", True, escalated_at + 2 * HOUR)
    assert now_task.as_dict()["due"] == iso(escalated_at + 2 * HOUR)
    engine.tasks.complete(task.id, "boss", {"ok": True})
    assert h.result(timeout=10)["by"] == ["boss"]
    steps = [e for e in h.history() if e["type"] == "StepCompleted"]
    assert [s["result"] for s in steps] == ["paged finance-managers"]
    _replays(flow, h)
    assert len(calls) == 1


@pytest.mark.wallclock
def test_the_escalated_task_expires_at_its_escalation_due(
        make_engine: Make, clock: VirtualClock, unique_name: Callable[[str], str]) -> None:
    engine = make_engine(clock=clock).launch()
    _users(engine)
    calls: list[dict[str, Any]] = []
    flow = _flow(unique_name, calls, escalation_due=timedelta(minutes=30))
    h = engine.start(flow, 5)
    h.wait_status("WAITING")
    (task,) = until(lambda: engine.tasks.list(group="finance"))
    clock.advance(timedelta(hours=24, seconds=1))
    until(lambda: calls)
    h.wait_status("WAITING")
    clock.advance(timedelta(minutes=29))
    assert engine.tasks.get(task.id).status == "OPEN"  # not yet
    clock.advance(timedelta(minutes=1, seconds=1))
    assert h.result(timeout=10) == {"outcome": "expired"}
    assert engine.tasks.get(task.id).status == "EXPIRED"
    assert [a["action"] for a in engine.tasks.history(task.id)] == [
        "created", "escalated", "expired"]
    _replays(flow, h)
    assert len(calls) == 1


@pytest.mark.wallclock
def test_without_escalation_due_the_escalated_task_waits_for_ever(
        make_engine: Make, clock: VirtualClock, unique_name: Callable[[str], str]) -> None:
    engine = make_engine(clock=clock).launch()
    _users(engine)
    calls: list[dict[str, Any]] = []
    h = engine.start(_flow(unique_name, calls, escalation_due=None), 5)
    h.wait_status("WAITING")
    (task,) = until(lambda: engine.tasks.list(group="finance"))
    clock.advance(timedelta(hours=24, seconds=1))
    until(lambda: calls)
    assert calls[0]["due"] is None and engine.tasks.get(task.id).due is None
    h.wait_status("WAITING")
    clock.advance(timedelta(days=365))
    h.wait_status("WAITING")
    assert engine.tasks.get(task.id).status == "OPEN"
    engine.tasks.reject(task.id, "boss", reason="no")
    assert h.result(timeout=10)["outcome"] == "rejected"


def _crash_once_when(point: str, ready: Callable[[], bool]) -> None:
    """Kill the hub that reaches ``point`` once ``ready()`` holds (re-armed until then)."""
    def action() -> None:
        if ready():
            raise Crash(f"crash at {point}")
        faults.arm(point, 1, action)

    faults.arm(point, 1, action)


@pytest.mark.wallclock
@pytest.mark.parametrize("window", ["escalated, not journaled", "journaled, step not run"])
def test_a_worker_dying_around_the_escalation_loses_nothing(
        make_engine: Make, clock: VirtualClock, unique_name: Callable[[str], str],
        disarm: None, window: str) -> None:
    first = make_engine(clock=clock).launch()
    _users(first)
    calls: list[dict[str, Any]] = []
    flow = _flow(unique_name, calls)
    h = first.start(flow, 70)
    h.wait_status("WAITING")
    (task,) = until(lambda: first.tasks.list(group="finance"))

    def journaled() -> bool:
        return any(e["type"] == "HumanTaskEscalated" for e in h.history())

    if window == "escalated, not journaled":
        # the commit that would write HumanTaskEscalated: the task row is escalated already
        _crash_once_when("before_commit", lambda: first.tasks.get(task.id).escalated)
    else:  # the hook's step is about to run: its escalation is committed
        _crash_once_when("before_step", journaled)
    clock.advance(timedelta(hours=24, seconds=1))
    until(lambda: not first.healthy)
    faults.disarm()
    assert calls == []
    assert first.tasks.get(task.id).escalated
    assert journaled() == (window == "journaled, step not run")
    escalated_due = first.tasks.get(task.id).due

    second = make_engine(clock=clock).launch()  # takes the released run over, replays it
    until(lambda: calls)
    h.wait_status("WAITING")
    assert len(calls) == 1 and calls[0]["due"] == iso(escalated_due)
    assert [a["action"] for a in second.tasks.history(task.id)] == ["created", "escalated"]
    assert second.tasks.get(task.id).due == escalated_due
    second.tasks.complete(task.id, "boss")
    assert second.handle(h.workflow_id).result(timeout=10)["by"] == ["boss"]
    assert len(calls) == 1
    assert [e["type"] for e in h.history()].count("HumanTaskEscalated") == 1
    _replays(flow, h)
    assert len(calls) == 1


@pytest.mark.parametrize(("options", "words"), [
    ({"on_escalate": print}, "on_escalate must be a @legato.step"),
    ({"on_escalate": "notify"}, "on_escalate must be a @legato.step"),
    ({"escalation_due": -1}, "escalation_due"),
    ({"escalation_due": "soon"}, "escalation_due"),
    ({"escalate_to": None, "escalation_due": 60}, "escalate_to"),
    ({"due": None, "escalation_due": 60}, "due"),
])
def test_bad_escalation_options_fail_the_workflow_clearly(
        engine: legato.Engine, unique_name: Callable[[str], str], options: dict[str, Any],
        words: str) -> None:
    kwargs: dict[str, Any] = {"group": "finance", "due": 60, "escalate_to": "managers",
                              **options}

    @legato.workflow(name=unique_name("esc_bad"))
    def flow(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("approve", **kwargs)

    h = engine.start(flow)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.error is not None
    assert info.value.error["type"] == "legato.errors.InvalidInput"
    assert words in info.value.error["message"]
    assert engine.tasks.list(status="all") == []


@pytest.mark.wallclock
def test_a_hook_that_fails_for_good_fails_the_workflow_and_closes_the_task(
        make_engine: Make, clock: VirtualClock, unique_name: Callable[[str], str]) -> None:
    engine = make_engine(clock=clock).launch()
    attempts: list[str] = []

    @legato.step(retry=legato.RetryPolicy(max_attempts=2, initial_interval=0.01))
    def broken_pager(task: dict[str, Any]) -> None:
        attempts.append(task["id"])
        raise ConnectionError("pager down")

    @legato.workflow(name=unique_name("esc_broken"))
    def flow(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("approve", group="finance", due=60, escalate_to="managers",
                              on_escalate=broken_pager)

    h = engine.start(flow)
    h.wait_status("WAITING")
    (task,) = until(lambda: engine.tasks.list(group="finance"))
    clock.advance(61)
    with pytest.raises(legato.WorkflowFailed) as info:
        run_to_completion(h, clock)  # the retry's backoff is on the virtual clock too
    assert info.value.error is not None and "pager down" in info.value.error["message"]
    assert attempts == [task.id, task.id]
    assert engine.tasks.get(task.id).status == "CANCELLED"
