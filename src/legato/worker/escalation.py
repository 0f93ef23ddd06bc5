"""Human tasks on the worker's side: creating one, and escalating or expiring one whose due
time passed (the ``TaskOp`` request of a workflow body)."""

from __future__ import annotations

from legato.domain import tasks as human_tasks
from legato.domain.tasks import Task as HumanTask
from legato.runtime.protocol import TaskOp
from legato.store.base import Store


def task_op(store: Store, now: float, req: TaskOp) -> HumanTask:
    """Create ``req.task``, or escalate/expire the task ``req.task_id`` past its due time
    (retried when people act on it at the same moment: the save is versioned)."""
    if req.task is not None:
        return store.create_task(req.task, now)
    while True:
        cur = store.get_task(req.task_id)
        assert cur is not None
        new = human_tasks.escalate(cur)
        if new is cur:
            return cur
        action = "escalated" if new.status == human_tasks.OPEN else "expired"
        if store.save_task(new, cur.version, now, None, action, {"group": new.group}, False):
            return new
