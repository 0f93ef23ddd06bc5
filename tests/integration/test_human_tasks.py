"""Human tasks: inbox, permissions, forms, four-eyes, escalation (issue #5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]
FORM = {"type": "object", "properties": {"approved": {"type": "boolean"}},
        "required": ["approved"]}


def _wait_task(engine: legato.Engine, **filters: object) -> legato.Task:
    import time

    end = time.monotonic() + 30  # generous: only a failing run waits it out
    while time.monotonic() < end:
        found = engine.tasks.list(**filters)  # type: ignore[arg-type]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no task for {filters}")


def test_group_member_completes_and_non_member_is_refused(
        engine: legato.Engine, unique_name) -> None:
    engine.users.add("bob", groups=["finance"])
    engine.users.add("mallory", groups=["sales"])

    @legato.workflow(name=unique_name("refund"))
    def refund(ctx: legato.WorkflowContext, amount: int) -> dict:
        return ctx.human_task("approve_refund", group="finance", data={"amount": amount},
                              form=FORM)

    h = engine.start(refund, 700)
    task = _wait_task(engine, group="finance", status="OPEN")
    assert (task.name, task.status, task.group, task.data) == (
        "approve_refund", "OPEN", "finance", {"amount": 700})
    assert [t.id for t in engine.tasks.list(user="bob")] == [task.id]
    assert engine.tasks.list(user="mallory") == []
    with pytest.raises(legato.PermissionDenied):
        engine.tasks.complete(task.id, "mallory", {"approved": True})
    with pytest.raises(legato.InvalidInput, match="approved"):
        engine.tasks.complete(task.id, "bob", {"approved": "yes"})
    assert engine.tasks.get(task.id).status == "OPEN"  # unchanged by the refusals
    engine.tasks.claim(task.id, "bob")
    assert engine.tasks.get(task.id).status == "CLAIMED"
    engine.tasks.complete(task.id, "bob", {"approved": True})
    decision = h.result(timeout=30)
    assert decision == {"outcome": "completed", "data": {"approved": True}, "by": ["bob"],
                        "task_id": task.id}
    actions = [(a["user"], a["action"]) for a in engine.tasks.history(task.id)]
    assert actions == [(None, "created"), ("bob", "claimed"), ("bob", "completed")]
    with pytest.raises(legato.TaskClosed):
        engine.tasks.reject(task.id, "bob")


def test_four_eyes_needs_two_different_approvers(engine: legato.Engine, unique_name) -> None:
    engine.users.add("ann", groups=["risk"])
    engine.users.add("ben", groups=["risk"])

    @legato.workflow(name=unique_name("four"))
    def wf(ctx: legato.WorkflowContext) -> dict:
        return ctx.human_task("release_payment", group="risk", four_eyes=True)

    h = engine.start(wf)
    task = _wait_task(engine, group="risk")
    engine.tasks.complete(task.id, "ann")
    assert engine.tasks.get(task.id).status == "OPEN"
    with pytest.raises(legato.PermissionDenied, match="four-eyes"):
        engine.tasks.complete(task.id, "ann")
    engine.tasks.complete(task.id, "ben")
    assert h.result(timeout=30)["by"] == ["ann", "ben"]


def test_rejection_and_reassignment(engine: legato.Engine, unique_name) -> None:
    engine.users.add("carol")
    engine.users.add("dave")

    @legato.workflow(name=unique_name("rej"))
    def wf(ctx: legato.WorkflowContext) -> dict:
        return ctx.human_task("sign", assignee="carol")

    h = engine.start(wf)
    task = _wait_task(engine, assignee="carol")
    engine.tasks.reassign(task.id, "carol", to_user="dave")
    with pytest.raises(legato.PermissionDenied):
        engine.tasks.reject(task.id, "carol")
    engine.tasks.reject(task.id, "dave", reason="wrong document")
    assert h.result(timeout=30) == {"outcome": "rejected",
                                    "data": {"reason": "wrong document"}, "by": ["dave"],
                                    "task_id": task.id}


@pytest.mark.wallclock
def test_escalation_on_a_virtual_clock(make_engine: Make, clock: VirtualClock,
                                       unique_name) -> None:
    engine = make_engine(clock=clock).launch()
    engine.users.add("erin", groups=["finance"])
    engine.users.add("boss", groups=["finance-managers"])

    @legato.workflow(name=unique_name("esc"))
    def wf(ctx: legato.WorkflowContext) -> dict:
        return ctx.human_task("approve_refund", group="finance", due=timedelta(hours=24),
                              escalate_to="finance-managers")

    h = engine.start(wf)
    task = _wait_task(engine, group="finance")
    h.wait_status("WAITING")
    clock.advance(timedelta(hours=24, seconds=1))
    escalated = _wait_task(engine, group="finance-managers")
    assert escalated.id == task.id and escalated.status == "OPEN"
    with pytest.raises(legato.PermissionDenied):
        engine.tasks.complete(task.id, "erin")
    engine.tasks.complete(task.id, "boss", {"note": "ok"})
    assert h.result(timeout=30)["by"] == ["boss"]
    actions = [a["action"] for a in engine.tasks.history(task.id)]
    assert actions == ["created", "escalated", "completed"]


@pytest.mark.wallclock
def test_expiry_without_escalation_raises(make_engine: Make, clock: VirtualClock,
                                          unique_name) -> None:
    engine = make_engine(clock=clock).launch()

    @legato.workflow(name=unique_name("exp"))
    def wf(ctx: legato.WorkflowContext) -> str:
        try:
            ctx.human_task("approve", assignee="nobody", due=60)
        except legato.TaskExpired:
            return "expired"
        return "answered"

    h = engine.start(wf)
    task = _wait_task(engine, assignee="nobody")
    h.wait_status("WAITING")
    clock.advance(61)
    assert h.result(timeout=30) == "expired"
    assert engine.tasks.get(task.id).status == "EXPIRED"


def test_cancelling_the_workflow_cancels_its_tasks(engine: legato.Engine,
                                                   unique_name) -> None:
    @legato.workflow(name=unique_name("cxl"))
    def wf(ctx: legato.WorkflowContext) -> dict:
        return ctx.human_task("approve", assignee="zoe")

    h = engine.start(wf)
    task = _wait_task(engine, assignee="zoe")
    h.wait_status("WAITING")
    h.cancel()
    h.wait_status("CANCELLED")
    assert engine.tasks.get(task.id).status == "CANCELLED"
