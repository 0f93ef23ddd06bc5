"""Human tasks: the record, who may act on it, and what each action does. Pure rules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from legato.errors import LegatoError

OPEN: Final = "OPEN"
CLAIMED: Final = "CLAIMED"
COMPLETED: Final = "COMPLETED"
REJECTED: Final = "REJECTED"
EXPIRED: Final = "EXPIRED"
CANCELLED: Final = "CANCELLED"
STATUSES: Final = (OPEN, CLAIMED, COMPLETED, REJECTED, EXPIRED, CANCELLED)
ACTIVE: Final = frozenset({OPEN, CLAIMED})


class PermissionDenied(LegatoError):
    """The user may not do this to the task (not its assignee, not in its group, ...)."""


class TaskExpired(LegatoError):
    """A human task passed its due time and had no one to escalate to."""


class TaskClosed(LegatoError):
    """The task is no longer open (completed, rejected, expired or cancelled)."""


@dataclass(frozen=True)
class Task:
    """A human task in the inbox. ``data`` is what the workflow passed for the person to see;
    ``result`` the decision once made."""

    id: str
    workflow_id: str
    name: str
    status: str = OPEN
    assignee: str | None = None
    group: str | None = None
    data: Any = None
    form: dict[str, Any] | None = None
    due: float | None = None
    escalate_to: str | None = None
    four_eyes: bool = False
    approvals: tuple[str, ...] = ()
    claimed_by: str | None = None
    result: dict[str, Any] | None = None
    escalated: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def may_act(task: Task, user: str, groups: frozenset[str]) -> bool:
    """The assignee, or a member of the task's group; a claim reserves it for the claimer."""
    if task.claimed_by is not None and task.claimed_by != user:
        return False
    return user == task.assignee or (task.group is not None and task.group in groups)


def _check(task: Task, user: str, groups: frozenset[str], action: str) -> None:
    if task.status not in ACTIVE:
        raise TaskClosed(f"task {task.id} is {task.status}; it cannot be {action}")
    if not may_act(task, user, groups):
        who = f"assignee {task.assignee!r}" if task.assignee else f"group {task.group!r}"
        if task.claimed_by is not None and task.claimed_by != user:
            who = f"{task.claimed_by!r}, who claimed it"
        raise PermissionDenied(f"{user!r} may not {action.rstrip('ed')} task {task.id}: "
                               f"it is for {who}")


def claim(task: Task, user: str, groups: frozenset[str]) -> Task:
    _check(task, user, groups, "claimed")
    return replace(task, status=CLAIMED, claimed_by=user)


def complete(task: Task, user: str, groups: frozenset[str], data: Any) -> tuple[Task, bool]:
    """Returns the new task and whether the decision is final (four-eyes needs two)."""
    _check(task, user, groups, "completed")
    if task.four_eyes and user in task.approvals:
        raise PermissionDenied(f"four-eyes: {user!r} approved task {task.id} already; a "
                               "second, different approver must complete it")
    approvals = (*task.approvals, user)
    if task.four_eyes and len(approvals) < 2:
        return replace(task, approvals=approvals, status=OPEN, claimed_by=None,
                       extra={"first_data": data}), False
    decision = {"outcome": "completed", "data": data if data is not None else {},
                "by": list(approvals), "task_id": task.id}
    return replace(task, approvals=approvals, status=COMPLETED, result=decision), True


def reject(task: Task, user: str, groups: frozenset[str], reason: str | None) -> Task:
    _check(task, user, groups, "rejected")
    decision = {"outcome": "rejected", "data": {"reason": reason} if reason else {},
                "by": [*task.approvals, user], "task_id": task.id}
    return replace(task, status=REJECTED, result=decision)


def reassign(task: Task, user: str, groups: frozenset[str], to_user: str | None,
             to_group: str | None) -> Task:
    _check(task, user, groups, "reassigned")
    if to_user is None and to_group is None:
        raise LegatoError("reassign needs to_user or to_group")
    return replace(task, assignee=to_user, group=to_group, status=OPEN, claimed_by=None)


def escalate(task: Task) -> Task:
    """Past its due time: hand the task to ``escalate_to`` (a group), or expire it."""
    if task.status not in ACTIVE:
        return task
    if task.escalate_to and not task.escalated:
        return replace(task, group=task.escalate_to, assignee=None, claimed_by=None,
                       status=OPEN, escalated=True)
    return replace(task, status=EXPIRED)
