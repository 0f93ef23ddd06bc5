"""SQLite: users, groups, human tasks and their audit trail."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from legato.domain import codec
from legato.domain.tasks import Task
from legato.store.sql_common import TASK_COLUMNS, row_to_task


class SQLiteTasks:
    """Mixed into SQLiteStore (which provides ``_tx``, ``_conn`` and ``_deliver``)."""

    def _tx(self) -> Any:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteStore

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteStore

    # --- users ----------------------------------------------------------------------------

    def add_user(self, name: str, groups: Sequence[str], now: float) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO users VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                      (name, now))
            c.executemany("INSERT INTO user_groups VALUES (?, ?) ON CONFLICT DO NOTHING",
                          [(name, g) for g in groups])

    def user_groups(self, name: str) -> frozenset[str] | None:
        c = self._conn()
        if c.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None:
            return None
        return frozenset(r[0] for r in c.execute(
            "SELECT group_name FROM user_groups WHERE user_name = ?", (name,)))

    def list_users(self) -> list[tuple[str, list[str]]]:
        c = self._conn()
        groups: dict[str, list[str]] = {r[0]: [] for r in c.execute(
            "SELECT name FROM users ORDER BY name")}
        for user, group in c.execute("SELECT user_name, group_name FROM user_groups"
                                     " ORDER BY group_name"):
            groups.setdefault(user, []).append(group)
        return list(groups.items())

    # --- tasks ----------------------------------------------------------------------------

    def create_task(self, task: Task, now: float) -> Task:
        with self._tx() as c:
            c.execute(
                f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (id) DO NOTHING",
                (task.id, task.workflow_id, task.name, task.status, task.assignee, task.group,
                 codec.dumps(task.data), codec.dumps(task.form), task.due, task.escalate_to,
                 int(task.four_eyes), "[]", None, None, 0, now, now, 1))
            if c.execute("SELECT changes()").fetchone()[0]:
                c.execute("INSERT INTO task_audit VALUES (?,?,?,?,?)",
                          (task.id, now, None, "created", codec.dumps(
                              {"assignee": task.assignee, "group": task.group})))
            r = c.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task.id,)).fetchone()
        return row_to_task(r)

    def get_task(self, task_id: str) -> Task | None:
        r = self._conn().execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?",
                                 (task_id,)).fetchone()
        return None if r is None else row_to_task(r)

    def list_tasks(self, assignee: str | None, groups: Sequence[str] | None,
                   status: str | None, limit: int) -> list[Task]:
        where: list[str] = []
        params: list[Any] = []
        who: list[str] = []
        if assignee is not None:
            who.append("assignee = ?")
            params.append(assignee)
        if groups:
            who.append(f"group_name IN ({','.join('?' * len(groups))})")
            params.extend(groups)
        if who:
            where.append("(" + " OR ".join(who) + ")")
        elif groups is not None:  # a user in no group with no assignee filter sees nothing
            where.append("0")
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {TASK_COLUMNS} FROM tasks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at, id LIMIT ?"
        return [row_to_task(r) for r in self._conn().execute(sql, (*params, limit))]

    def save_task(self, task: Task, expected_version: int, now: float, user: str | None,
                  action: str, detail: Any, deliver: bool) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "UPDATE tasks SET status = ?, assignee = ?, group_name = ?, approvals = ?,"
                " claimed_by = ?, result = ?, escalated = ?, updated_at = ?, version = ?"
                " WHERE id = ? AND version = ?",
                (task.status, task.assignee, task.group, json.dumps(list(task.approvals)),
                 task.claimed_by, codec.dumps(task.result), int(task.escalated), now,
                 expected_version + 1, task.id, expected_version))
            if cur.rowcount != 1:
                return False
            c.execute("INSERT INTO task_audit VALUES (?,?,?,?,?)",
                      (task.id, now, user, action, codec.dumps(detail)))
            if deliver:
                raw = codec.dumps(task.result)
                for wid, pos in c.execute(
                        "SELECT workflow_id, pos FROM waits WHERE kind = 'task' AND name = ?",
                        (task.id,)).fetchall():
                    self._deliver(c, wid, pos, "task", task.id, "", raw, f"task:{task.id}",
                                  now)
        return True

    @staticmethod
    def _deliver(c: sqlite3.Connection, wid: str, pos: int, kind: str, name: str, key: str,
                 data: str | None, source: str, now: float) -> bool:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteEvents

    def task_history(self, task_id: str) -> list[dict[str, Any]]:
        return [{"task_id": task_id, "at": r[0], "user": r[1], "action": r[2],
                 "detail": codec.loads(r[3])}
                for r in self._conn().execute(
                    "SELECT at, user, action, detail FROM task_audit WHERE task_id = ?"
                    " ORDER BY at, rowid", (task_id,))]

    @staticmethod
    def _cancel_tasks_in(c: sqlite3.Connection, wids: Sequence[str], marks: str,
                         now: float) -> None:
        """Workflows ended: their open human tasks are cancelled (``marks``: one ``?`` per
        id)."""
        ids = [r[0] for r in c.execute(f"SELECT id FROM tasks WHERE workflow_id IN ({marks})"
                                       " AND status IN ('OPEN', 'CLAIMED')", wids)]
        if not ids:
            return
        c.executemany("UPDATE tasks SET status = 'CANCELLED', updated_at = ?,"
                      " version = version + 1 WHERE id = ?", [(now, i) for i in ids])
        c.executemany("INSERT INTO task_audit VALUES (?,?,?,?,?)",
                      [(i, now, None, "cancelled", codec.dumps("the workflow ended"))
                       for i in ids])
