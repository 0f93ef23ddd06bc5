"""Human tasks: the record, who may act on it, and what each action does. Pure rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import unquote

from legato.domain import inputs
from legato.domain.times import iso
from legato.errors import InvalidInput, LegatoError

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

    def __post_init__(self) -> None:
        if not self.id:  # declared by a workflow (ctx.human_task), not yet created: check it
            check_new(self)

    def as_dict(self) -> dict[str, Any]:
        """The task as JSON-ready data, times as ISO 8601 UTC strings (``due`` None when it
        has no due date): what ``legato tasks ... --json`` prints."""
        return {"id": self.id, "workflow_id": self.workflow_id, "name": self.name,
                "status": self.status, "assignee": self.assignee, "group": self.group,
                "claimed_by": self.claimed_by, "data": self.data, "form": self.form,
                "due": iso(self.due), "escalate_to": self.escalate_to,
                "escalated": self.escalated, "four_eyes": self.four_eyes,
                "approvals": list(self.approvals), "result": self.result,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at)}


def check_new(task: Task) -> None:
    """A task about to be created: names, data and form within the input contract
    (docs/inputs.md), the form a valid JSON Schema whose ``$ref`` are local; else
    :class:`legato.InvalidInput` naming the task. Nothing is created for a refused task."""
    what = f"human task {task.name!r}"
    inputs.text(task.name, "a human task's name")
    try:
        inputs.optional_text(task.assignee, "assignee")
        inputs.optional_text(task.group, "group")
        inputs.optional_text(task.escalate_to, "escalate_to")
        if not isinstance(task.four_eyes, bool):
            raise InvalidInput(f"four_eyes must be True or False, not {task.four_eyes!r}")
        if task.data is not None:
            inputs.encode(task.data, "its data", limit=inputs.DEFAULT_MAX_PAYLOAD,
                          max_depth=inputs.MAX_DEPTH)
        if task.form is not None:
            check_form(task.form)
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc}") from None


#: the JSON text of forms found valid (each is checked once per process)
_VALID_FORMS: dict[str, None] = {}
_REF_KEYS: Final = ("$ref", "$dynamicRef", "$recursiveRef")


def check_form(form: Any) -> None:
    """``form`` is a JSON Schema (an object) that ``engine.tasks.complete`` can use:
    valid for its draft (``$schema``, else the latest), every ``$ref`` local (``#...``: a
    form never makes legato fetch anything) and, where it is a JSON pointer, found."""
    if not isinstance(form, dict):
        raise InvalidInput(f"its form must be a JSON Schema object (a dict), not"
                           f" {type(form).__name__}")
    text = inputs.encode(form, "its form", limit=inputs.DEFAULT_MAX_PAYLOAD,
                         max_depth=inputs.MAX_DEPTH)
    if text in _VALID_FORMS:
        return
    nested_ids = False
    for node, at in _nodes(form, ""):
        if at and isinstance(node.get("$id"), str):
            nested_ids = True
        for k in _REF_KEYS:
            ref = node.get(k)
            if k in node and (not isinstance(ref, str) or not ref.startswith("#")):
                raise InvalidInput(f"its form has {k} {ref!r} at {at or '(root)'}: only local"
                                   " references (starting with #) are allowed; legato never"
                                   " fetches a schema")
    import jsonschema  # here, not at import: most programs never declare a form

    cls = jsonschema.validators.validator_for(form)
    try:
        cls.check_schema(form)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidInput(f"its form is not a valid JSON Schema at {where}: {exc.message}"
                           ) from None
    if not nested_ids:  # refs resolve against the form itself: each pointer must be found
        for node, at in _nodes(form, ""):
            for k in _REF_KEYS:
                ref = node.get(k)
                if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")) \
                        and not _found(form, ref[1:]):
                    raise InvalidInput(f"its form has {k} {ref!r} at {at or '(root)'}, which"
                                       " points at nothing in the form")
    if len(_VALID_FORMS) >= 256:
        _VALID_FORMS.clear()
    _VALID_FORMS[text] = None


def _nodes(value: Any, at: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every object in ``value`` with its JSON pointer (iteratively: forms may nest)."""
    stack = [(value, at)]
    while stack:
        v, where = stack.pop()
        if isinstance(v, dict):
            yield v, where
            stack.extend((c, f"{where}/{k}") for k, c in v.items())
        elif isinstance(v, list):
            stack.extend((c, f"{where}/{i}") for i, c in enumerate(v))


def _found(doc: Any, pointer: str) -> bool:
    """Whether the JSON pointer (RFC 6901, URI-fragment encoded) names a part of ``doc``."""
    if not pointer:
        return True
    node = doc
    for raw in unquote(pointer).split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def may_act(task: Task, user: str, groups: frozenset[str]) -> bool:
    """The assignee, or a member of the task's group; a claim reserves it for the claimer."""
    if task.claimed_by is not None and task.claimed_by != user:
        return False
    return user == task.assignee or (task.group is not None and task.group in groups)


#: each action's past participle, as the audit and the messages say it
_DONE: Final = {"claim": "claimed", "complete": "completed", "reject": "rejected",
                "reassign": "reassigned"}


def _check(task: Task, user: str, groups: frozenset[str], verb: str) -> None:
    """May ``user`` (in ``groups``) ``verb`` the task ("claim", "complete", ...)? Else
    :class:`TaskClosed` or :class:`PermissionDenied`, saying so in plain words."""
    if task.status not in ACTIVE:
        raise TaskClosed(f"task {task.id} is {task.status}; it cannot be {_DONE[verb]}")
    if not may_act(task, user, groups):
        who = f"assignee {task.assignee!r}" if task.assignee else f"group {task.group!r}"
        if task.claimed_by is not None and task.claimed_by != user:
            who = f"{task.claimed_by!r}, who claimed it"
        raise PermissionDenied(f"{user!r} may not {verb} task {task.id}: it is for {who}")


def claim(task: Task, user: str, groups: frozenset[str]) -> Task:
    _check(task, user, groups, "claim")
    return replace(task, status=CLAIMED, claimed_by=user)


def complete(task: Task, user: str, groups: frozenset[str], data: Any) -> tuple[Task, bool]:
    """Returns the new task and whether the decision is final (four-eyes needs two)."""
    _check(task, user, groups, "complete")
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
    _check(task, user, groups, "reject")
    decision = {"outcome": "rejected", "data": {"reason": reason} if reason else {},
                "by": [*task.approvals, user], "task_id": task.id}
    return replace(task, status=REJECTED, result=decision)


def reassign(task: Task, user: str, groups: frozenset[str], to_user: str | None,
             to_group: str | None) -> Task:
    _check(task, user, groups, "reassign")
    if to_user is None and to_group is None:
        raise InvalidInput("reassigning a task needs to_user or to_group")
    return replace(task, assignee=to_user, group=to_group, status=OPEN, claimed_by=None)


def escalate(task: Task, due: float | None = None) -> Task:
    """Past its due time: hand the task to ``escalate_to`` (a group), due at ``due`` (None:
    no due date), or expire it. A task escalated already is returned as it is: the workflow
    asks again only when it replays the escalation (its worker died before journaling it)."""
    if task.status not in ACTIVE or task.escalated:
        return task
    if task.escalate_to:
        return replace(task, group=task.escalate_to, assignee=None, claimed_by=None,
                       status=OPEN, escalated=True, due=due)
    return replace(task, status=EXPIRED)


def expire(task: Task) -> Task:
    """Past its last due time (an escalated task past its escalation's due): EXPIRED."""
    return replace(task, status=EXPIRED) if task.status in ACTIVE else task


def escalated_task(spec: Task, task_id: str, workflow_id: str,
                   outcome: dict[str, Any]) -> dict[str, Any]:
    """What ``ctx.human_task(on_escalate=...)`` calls its step with: the escalated task as a
    dict (the keys of :meth:`Task.as_dict` a run knows without reading the store: id,
    workflow_id, name, status, assignee, group, data, due, escalate_to, escalated,
    four_eyes) and ``escalated_from`` (the assignee and group it had). Made of what the
    workflow declared and the recorded escalation (``outcome``), so a replay makes it
    again the same."""
    return {"id": task_id, "workflow_id": workflow_id, "name": spec.name,
            "status": outcome["status"], "assignee": None, "group": outcome["group"],
            "data": spec.data, "due": iso(outcome.get("due")),
            "escalate_to": spec.escalate_to, "escalated": True, "four_eyes": spec.four_eyes,
            "escalated_from": {"assignee": spec.assignee, "group": spec.group}}


def statuses(value: Any) -> tuple[str, ...] | None:
    """A status filter as people give it: None (the open tasks: OPEN and CLAIMED), one
    status, several comma-separated (``"OPEN,CLAIMED"``) or a list of them, any case;
    ``"all"`` (or every status) for no filter, which is returned as None."""
    expected = f"expected {', '.join(STATUSES)} (several comma-separated) or 'all'"
    if value is None:
        return (OPEN, CLAIMED)
    if isinstance(value, str):
        if value.strip().lower() == "all":
            return None
        parts: list[Any] = value.split(",")
    elif isinstance(value, list | tuple | set | frozenset):
        parts = list(value)
        if not parts:
            raise InvalidInput(f"status must name at least one task status; {expected}")
    else:
        raise InvalidInput(f"status must be a string or a list of task statuses, not "
                           f"{value!r}; {expected}")
    found: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise InvalidInput(f"unknown task status {part!r}; {expected}")
        name = part.strip().upper()
        if not name:
            raise InvalidInput(f"status {value!r} holds an empty status; {expected}")
        if name not in STATUSES:
            raise InvalidInput(f"unknown task status {part.strip()!r}; {expected}")
        if name not in found:
            found.append(name)
    return None if len(found) == len(STATUSES) else tuple(found)
