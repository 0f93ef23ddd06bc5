"""PostgreSQL: users, groups, human tasks and their audit trail (as ``sqlite_tasks``).

Saving a task is guarded by its ``version`` (optimistic concurrency); handing its result to
the waiting workflow locks that workflow's row first, like every delivery (see events.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import psycopg

from legato.domain import codec
from legato.domain.tasks import Task
from legato.store.sql_common import TASK_COLUMNS, row_to_task


class TaskQueries:
    def __init__(self, schema: str) -> None:
        us, ug = f"{schema}.users", f"{schema}.user_groups"
        tk, au, wa = f"{schema}.tasks", f"{schema}.task_audit", f"{schema}.waits"
        self.user_insert = f"INSERT INTO {us} VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
        self.group_insert = f"INSERT INTO {ug} VALUES (%s, %s) ON CONFLICT DO NOTHING"
        self.user_exists = f"SELECT 1 FROM {us} WHERE name = %s"
        self.groups_of = f"SELECT group_name FROM {ug} WHERE user_name = %s"
        self.users = f"SELECT name FROM {us} ORDER BY name"
        self.memberships = f"SELECT user_name, group_name FROM {ug} ORDER BY group_name"
        marks = ", ".join(["%s"] * 18)
        self.insert = (f"INSERT INTO {tk} ({TASK_COLUMNS}) VALUES ({marks})"
                       " ON CONFLICT (id) DO NOTHING")
        self.audit = (f'INSERT INTO {au} (task_id, at, "user", action, detail)'
                      " VALUES (%s, %s, %s, %s, %s)")
        self.get = f"SELECT {TASK_COLUMNS} FROM {tk} WHERE id = %s"
        self.list = f"SELECT {TASK_COLUMNS} FROM {tk}"
        self.list_order = " ORDER BY created_at, id LIMIT %s"
        self.save = (
            f"UPDATE {tk} SET status = %s, assignee = %s, group_name = %s, approvals = %s,"
            " claimed_by = %s, result = %s, escalated = %s, updated_at = %s, version = %s"
            " WHERE id = %s AND version = %s")
        self.waiting = (f"SELECT workflow_id, pos FROM {wa} WHERE kind = 'task' AND name = %s"
                        " ORDER BY workflow_id, pos")
        self.history = (f'SELECT at, "user", action, detail FROM {au} WHERE task_id = %s'
                        " ORDER BY at, seq")


class PostgresTasks:
    """Mixed into PostgresStore (which provides ``_conn``, ``_deliver`` and the queries)."""

    tq: TaskQueries

    def _conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    def _deliver(self, conn: psycopg.Connection[Any], wid: str, pos: int, kind: str,
                 name: str, key: str, data: str | None, source: str, now: float) -> bool:
        raise NotImplementedError  # pragma: no cover - provided by PostgresEvents

    def _lock_workflows(self, conn: psycopg.Connection[Any], ids: Sequence[str]) -> None:
        raise NotImplementedError  # pragma: no cover - provided by PostgresEvents

    # --- users ----------------------------------------------------------------------------

    def add_user(self, name: str, groups: Sequence[str], now: float) -> None:
        with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(self.tq.user_insert, (name, now))
            if groups:
                cur.executemany(self.tq.group_insert, [(name, g) for g in sorted(set(groups))])

    def user_groups(self, name: str) -> frozenset[str] | None:
        with self._conn() as conn:
            if conn.execute(self.tq.user_exists, (name,)).fetchone() is None:
                return None
            return frozenset(r[0] for r in conn.execute(self.tq.groups_of, (name,)))

    def list_users(self) -> list[tuple[str, list[str]]]:
        with self._conn() as conn:
            groups: dict[str, list[str]] = {r[0]: [] for r in conn.execute(self.tq.users)}
            for user, group in conn.execute(self.tq.memberships):
                groups.setdefault(user, []).append(group)
        return list(groups.items())

    # --- tasks ----------------------------------------------------------------------------

    def create_task(self, task: Task, now: float) -> Task:
        with self._conn() as conn, conn.transaction():
            made = conn.execute(self.tq.insert, (
                task.id, task.workflow_id, task.name, task.status, task.assignee, task.group,
                codec.dumps(task.data), codec.dumps(task.form), task.due, task.escalate_to,
                task.four_eyes, "[]", None, None, False, now, now, 1)).rowcount
            if made:
                conn.execute(self.tq.audit, (task.id, now, None, "created", codec.dumps(
                    {"assignee": task.assignee, "group": task.group})))
            r = conn.execute(self.tq.get, (task.id,)).fetchone()
        assert r is not None
        return row_to_task(r)

    def get_task(self, task_id: str) -> Task | None:
        with self._conn() as conn:
            r = conn.execute(self.tq.get, (task_id,)).fetchone()
        return None if r is None else row_to_task(r)

    def list_tasks(self, assignee: str | None, groups: Sequence[str] | None,
                   status: str | None, limit: int) -> list[Task]:
        where: list[str] = []
        params: list[Any] = []
        who: list[str] = []
        if assignee is not None:
            who.append("assignee = %s")
            params.append(assignee)
        if groups:
            who.append("group_name = ANY(%s::text[])")
            params.append(list(groups))
        if who:
            where.append("(" + " OR ".join(who) + ")")
        elif groups is not None:  # a user in no group with no assignee filter sees nothing
            where.append("false")
        if status is not None:
            where.append("status = %s")
            params.append(status)
        sql = self.tq.list
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._conn() as conn:
            rows = conn.execute(sql + self.tq.list_order, (*params, limit)).fetchall()
        return [row_to_task(r) for r in rows]

    def save_task(self, task: Task, expected_version: int, now: float, user: str | None,
                  action: str, detail: Any, deliver: bool) -> bool:
        with self._conn() as conn, conn.transaction():
            if deliver:  # lock the waiting workflows before anything else (see events.py)
                self._lock_workflows(conn, [r[0] for r in conn.execute(
                    self.tq.waiting, (task.id,)).fetchall()])
            if conn.execute(self.tq.save, (
                    task.status, task.assignee, task.group, json.dumps(list(task.approvals)),
                    task.claimed_by, codec.dumps(task.result), task.escalated, now,
                    expected_version + 1, task.id, expected_version)).rowcount != 1:
                return False
            conn.execute(self.tq.audit, (task.id, now, user, action, codec.dumps(detail)))
            if deliver:
                raw = codec.dumps(task.result)
                for wid, pos in conn.execute(self.tq.waiting, (task.id,)).fetchall():
                    self._deliver(conn, wid, pos, "task", task.id, "", raw, f"task:{task.id}",
                                  now)
        return True

    def task_history(self, task_id: str) -> list[dict[str, Any]]:
        with self._conn() as conn:
            rows = conn.execute(self.tq.history, (task_id,)).fetchall()
        return [{"task_id": task_id, "at": r[0], "user": r[1], "action": r[2],
                 "detail": codec.loads(r[3])} for r in rows]
