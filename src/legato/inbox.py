"""The human-task inbox and the user directory: ``engine.tasks`` and ``engine.users``."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from legato.domain import changes as feed
from legato.domain import inputs
from legato.domain import tasks as ht
from legato.domain.actor import Actor, actor_of
from legato.domain.tasks import Task
from legato.domain.times import iso
from legato.errors import InvalidInput, LegatoError, NotFound
from legato.runtime import codec
from legato.store.base import Store

if TYPE_CHECKING:
    from legato.engine import Engine


class TaskNotFound(NotFound):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"no human task with id {task_id!r}")
        self.task_id = task_id


class TaskInbox:
    """What people do with human tasks. Every action is audited with who and when.

    >>> engine.tasks.list(group="finance")           # its open tasks (OPEN and CLAIMED)
    >>> engine.tasks.complete(task_id, "bob", data={"approved": True})
    >>> engine.tasks.history(task_id)                 # who did what, when
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def _store(self) -> Store:
        return self._engine.store

    def list(self, assignee: str | None = None, group: str | None = None,
             status: str | Iterable[str] | None = None, user: str | None = None,
             workflow_id: str | None = None, limit: int = 100) -> builtins.list[Task]:
        """Tasks by assignee and/or group; ``user=`` gives a person's inbox (assigned to
        them or to one of their groups); ``workflow_id=`` the tasks of one run. Oldest first.

        ``status`` is one status, several comma-separated (``"COMPLETED,REJECTED"``) or a
        list; None (the default) means the open ones, ``OPEN`` and ``CLAIMED``, and
        ``"all"`` (or every status) any status. Anything else is :class:`legato.InvalidInput`
        naming what is expected. ``Task.as_dict()`` gives each as JSON-ready data.
        """
        wanted = ht.statuses(status)
        assignee = inputs.optional_text(assignee, "assignee")
        group = inputs.optional_text(group, "group")
        user = inputs.optional_text(user, "user")
        workflow_id = None if workflow_id is None else inputs.lookup(workflow_id,
                                                                    "workflow_id")
        limit = inputs.integer(limit, "limit", 0, inputs.COUNT_MAX)
        groups: list[str] | None = [group] if group else None
        if user is not None:
            assignee = assignee or user
            groups = sorted((self._store.user_groups(user) or frozenset()) |
                            ({group} if group else set()))
        return list(self._store.list_tasks(assignee, groups, wanted, limit, workflow_id))

    def get(self, task_id: str) -> Task:
        task = self._store.get_task(inputs.ref(task_id, "task_id"))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def history(self, task_id: str) -> builtins.list[dict[str, Any]]:
        """The audit trail, oldest first: ``{"task_id", "at", "user", "action", "detail",
        "token_id"}`` per action (created, claimed, approved, completed, rejected,
        reassigned, escalated, expired, cancelled), ``at`` an ISO 8601 UTC string, ``user``
        None for legato's own, ``token_id`` the API token the user acted through (if any).
        Raises :class:`legato.TaskNotFound` for an unknown task."""
        self.get(task_id)
        return [{**h, "at": iso(h["at"])} for h in self._store.task_history(task_id)]

    # Each action runs as ``user`` with that user's groups; ``token_id`` (the API token the
    # user acted through, set by legato server) is recorded beside the user in the audit.

    def claim(self, task_id: str, user: str, *, token_id: str | None = None) -> Task:
        return self._act(task_id, user, "claimed", None,
                         lambda t, g: (ht.claim(t, user, g), False), token_id)

    def complete(self, task_id: str, user: str, data: Any = None, *,
                 token_id: str | None = None) -> Task:
        """Complete (approve) the task; ``data`` must match its form. With four-eyes, the
        first approval is recorded and the task stays open for a second approver."""
        task = self.get(task_id)
        if data is not None:
            codec.dumps(data, f"task {task_id}: the data", limit=self._engine.max_payload,
                        max_depth=inputs.MAX_DEPTH)
        if task.form:
            import jsonschema  # here, not at import: most programs never validate a form

            try:
                jsonschema.validate(data if data is not None else {}, task.form)
            except jsonschema.ValidationError as exc:
                where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
                raise InvalidInput(f"task {task_id}: data does not match the form at "
                                   f"{where}: {exc.message}") from None
            except jsonschema.SchemaError as exc:
                raise InvalidInput(f"task {task_id}: its form is not a valid JSON Schema: "
                                   f"{exc.message}") from None
            except Exception as exc:  # a form stored before forms were checked: a bad $ref
                raise InvalidInput(f"task {task_id}: its form cannot be used: "
                                   f"{type(exc).__name__}: {exc}") from None

        def act(t: Task, groups: frozenset[str]) -> tuple[Task, bool]:
            return ht.complete(t, user, groups, data)

        done = self._act(task_id, user, "completed", data, act, token_id)
        return done

    def reject(self, task_id: str, user: str, reason: str | None = None, *,
               token_id: str | None = None) -> Task:
        if reason is not None:
            if not isinstance(reason, str):
                raise InvalidInput(f"reason must be a string, not {type(reason).__name__}")
            codec.dumps(reason, "reason", limit=self._engine.max_payload)
        return self._act(task_id, user, "rejected", {"reason": reason},
                         lambda t, g: (ht.reject(t, user, g, reason), True), token_id)

    def reassign(self, task_id: str, user: str, to_user: str | None = None,
                 to_group: str | None = None, *, token_id: str | None = None) -> Task:
        to_user = inputs.optional_text(to_user, "to_user")
        to_group = inputs.optional_text(to_group, "to_group")
        return self._act(task_id, user, "reassigned", {"to_user": to_user,
                                                       "to_group": to_group},
                         lambda t, g: (ht.reassign(t, user, g, to_user, to_group), False),
                         token_id)

    def changes(self, after: str | None = None,
                limit: int = 100) -> tuple[builtins.list[dict[str, Any]], str]:
        """Human tasks created or changed after position ``after`` (None: from now on, no
        items), oldest change first, and the position to pass next: each ``{"task_id",
        "workflow_id", "name", "status", "assignee", "group", "updated_at"}``. The same
        feed as ``engine.run_changes`` (a late commit from another process is not missed)."""
        limit = inputs.integer(limit, "limit", 1, 1000)
        store = self._store
        if after is None:
            latest = store.latest_task_changes(feed.KEPT)
            return [], feed.start([c[:5] for c in latest]).encode()
        pos = feed.Position.decode(after)
        read = feed.read_size(pos, limit)
        rows = store.changed_tasks(pos.floor, read)
        extra = {(c[0], c[4]): c for c in rows}
        found, pos = feed.advance(pos, [c[:5] for c in rows], limit, read)
        out = []
        for c in found:
            full = extra[(c[0], c[4])]
            out.append({"task_id": c[0], "workflow_id": c[3], "name": c[1], "status": c[2],
                        "assignee": full[5], "group": full[6], "updated_at": iso(c[4])})
        return out, pos.encode()

    def _act(self, task_id: str, user: str, action: str, detail: Any,
             change: Callable[[Task, frozenset[str]], tuple[Task, bool]],
             token_id: str | None = None) -> Task:
        task_id = inputs.ref(task_id, "task_id")
        user = inputs.text(user, "user")
        token_id = inputs.optional_text(token_id, "token_id")
        groups = self._store.user_groups(user) or frozenset()
        for _ in range(20):
            cur = self.get(task_id)
            new, final = change(cur, groups)
            if not final and action == "completed":
                action = "approved"  # the first of two four-eyes approvals
            now = self._engine.clock.now()
            if self._store.save_task(new, cur.version, now, user, action, detail, final,
                                     token_id):
                if final:
                    self._engine.poke()
                return self.get(task_id)
        raise LegatoError(f"task {task_id} is changing too fast; try again")


class UserDirectory:
    """Users and their groups, kept in the store: the names that task actions and the CLI's
    ``--user`` refer to."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, name: str, groups: list[str] | tuple[str, ...] = (), *,
            actor: Actor | str | None = None) -> None:
        """Create ``name`` (if new) and add it to ``groups``; what changed is recorded in
        the operator log with ``actor``."""
        name = inputs.text(name, "user name")
        if isinstance(groups, str):
            raise InvalidInput(f"groups must be a list of group names, not the string"
                               f" {groups!r}")
        names = [inputs.text(g, "group name") for g in groups]
        who = actor_of(actor)
        store = self._engine.store
        before = store.user_groups(name)
        store.add_user(name, names, self._engine.clock.now())
        added = sorted(set(names) - (before or frozenset()))
        if before is None or added:
            self._engine.operator_log.record("user.add", name, actor=who, data={
                "created": before is None, "groups": added})

    def groups(self, name: str) -> list[str]:
        found = self._engine.store.user_groups(inputs.ref(name, "user name"))
        if found is None:
            raise NotFound(f"no user named {name!r}")
        return sorted(found)

    def list(self) -> builtins.list[dict[str, Any]]:
        return [{"name": n, "groups": g} for n, g in self._engine.store.list_users()]
