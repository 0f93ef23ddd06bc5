"""Human tasks on the worker's side: creating one, and escalating or expiring one whose due
time passed (the ``TaskOp`` request of a workflow body)."""

from __future__ import annotations

from dataclasses import replace

from legato.domain import tasks as human_tasks
from legato.domain.tasks import Task as HumanTask
from legato.domain.times import iso
from legato.runtime.protocol import TaskOp
from legato.store.base import Store


def task_op(store: Store, now: float, req: TaskOp) -> HumanTask:
    """Create ``req.task``, or escalate/expire the task ``req.task_id`` past its due time
    (retried when people act on it at the same moment: the save is versioned). Escalating
    a task escalated already changes nothing: a run asks again only when it replays an
    escalation its worker did not live to journal."""
    if req.task is not None:
        return store.create_task(req.task, now)
    while True:
        cur = store.get_task(req.task_id)
        assert cur is not None
        new = human_tasks.expire(cur) if req.expire \
            else human_tasks.escalate(cur, req.escalation_due)
        if new is cur:
            return cur
        if new.status == human_tasks.OPEN:
            action, detail = "escalated", {"group": new.group, "due": iso(new.due)}
        else:
            action, detail = "expired", {"group": new.group}
        if store.save_task(new, cur.version, now, None, action, detail, False):
            return replace(new, version=cur.version + 1, updated_at=now)
