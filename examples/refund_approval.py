"""Refund approval: refunds over 500 need a finance approval; unanswered after 24 h the task
escalates to the finance managers. A virtual clock makes the day pass at once.

Run it:  .venv/bin/python examples/refund_approval.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta

import legato
from legato.testing import VirtualClock

APPROVAL_FORM = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
    "required": ["approved"],
}


@legato.step
def pay_refund(order_id: str, amount: int) -> str:
    return f"refunded {amount} on {order_id} (key {legato.step_key()})"


@legato.workflow(name="refund")
def refund(ctx: legato.WorkflowContext, order_id: str, amount: int) -> str:
    if amount > 500:
        ctx.set_state("stage", "waiting for finance")
        decision = ctx.human_task(
            "approve_refund", group="finance", data={"order": order_id, "amount": amount},
            form=APPROVAL_FORM, due=timedelta(hours=24), escalate_to="finance-managers")
        if decision["outcome"] != "completed" or not decision["data"]["approved"]:
            return f"refund of {amount} on {order_id} declined by {decision['by']}"
    ctx.set_state("stage", "paying")
    return pay_refund(order_id, amount)


def wait_for_task(engine: legato.Engine, group: str) -> legato.Task:
    for _ in range(500):
        found = engine.tasks.list(group=group, status="OPEN")
        if found:
            return found[0]
        time.sleep(0.01)
    raise SystemExit(f"no task for {group}")


def main() -> int:
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp, \
            legato.Engine(f"sqlite:///{tmp}/refunds.db", clock=clock) as engine:
        engine.users.add("bob", groups=["finance"])
        engine.users.add("maria", groups=["finance-managers"])
        print(engine.start(refund, "o-1", 120).result(timeout=10))  # small: no approval
        big = engine.start(refund, "o-2", 900)
        task = wait_for_task(engine, "finance")
        print(f"task {task.id} for {task.group}: {task.data}; stage: {big.query('stage')}")
        big.wait_status("WAITING")
        clock.advance(timedelta(hours=24, minutes=1))  # nobody in finance answered
        task = wait_for_task(engine, "finance-managers")
        print(f"escalated to {task.group}")
        engine.tasks.complete(task.id, "maria", {"approved": True, "note": "ok, loyal"})
        print(big.result(timeout=10))
        for entry in engine.tasks.history(task.id):
            print(f"  {entry['action']:<10} by {entry['user'] or 'legato'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
