"""PostgreSQL: durable cron schedules (as ``sqlite_schedules``).

Each tick runs once however many workers look: advancing a schedule is a compare-and-set on
its ``next_tick``, in the same transaction as the runs it creates.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import psycopg

from legato.domain.events import Event
from legato.store.base import NewWorkflow, ScheduleRow

_COLS = "name, workflow, cron, timezone, catch_up, args, paused, next_tick, last_tick"


def _row(r: Sequence[Any]) -> ScheduleRow:
    return ScheduleRow(name=r[0], workflow=r[1], cron=r[2], timezone=r[3], catch_up=r[4],
                       args=json.loads(r[5]), paused=bool(r[6]), next_tick=float(r[7]),
                       last_tick=None if r[8] is None else float(r[8]))


class ScheduleQueries:
    def __init__(self, schema: str) -> None:
        sc = f"{schema}.schedules"
        self.lock = f"SELECT {_COLS} FROM {sc} WHERE name = %s FOR UPDATE"
        self.get = f"SELECT {_COLS} FROM {sc} WHERE name = %s"
        self.insert = (f"INSERT INTO {sc} ({_COLS}, created_at, updated_at)"
                       " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                       " ON CONFLICT (name) DO NOTHING")
        self.update = (f"UPDATE {sc} SET workflow = %s, cron = %s, timezone = %s,"
                       " catch_up = %s, args = %s, next_tick = %s, updated_at = %s"
                       " WHERE name = %s")
        self.list = f"SELECT {_COLS} FROM {sc} ORDER BY name"
        self.pause = (f"UPDATE {sc} SET paused = %s, next_tick = COALESCE(%s, next_tick),"
                      " updated_at = %s WHERE name = %s")
        self.delete = f"DELETE FROM {sc} WHERE name = %s"
        self.due = (f"SELECT {_COLS} FROM {sc} WHERE NOT paused AND next_tick <= %s"
                    " ORDER BY next_tick")
        self.next_tick = f"SELECT MIN(next_tick) FROM {sc} WHERE NOT paused"
        self.advance = (f"UPDATE {sc} SET next_tick = %s, last_tick = COALESCE(%s, last_tick),"
                        " updated_at = %s WHERE name = %s AND next_tick = %s AND NOT paused")


class PostgresSchedules:
    """Mixed into PostgresStore (which provides ``_conn`` and ``_create_params``)."""

    sq: ScheduleQueries

    def _conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    def _insert_workflows(self, conn: psycopg.Connection[Any],
                          runs: Sequence[tuple[NewWorkflow, Event]]) -> None:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    def put_schedule(self, s: ScheduleRow, now: float) -> ScheduleRow:
        with self._conn() as conn, conn.transaction():
            cur = conn.execute(self.sq.lock, (s.name,)).fetchone()
            if cur is None and conn.execute(self.sq.insert, (
                    s.name, s.workflow, s.cron, s.timezone, s.catch_up, json.dumps(s.args),
                    s.paused, s.next_tick, None, now, now)).rowcount != 1:
                cur = conn.execute(self.sq.lock, (s.name,)).fetchone()  # created meanwhile
            if cur is not None:
                old = _row(cur)
                same_clock = (old.cron, old.timezone) == (s.cron, s.timezone)
                conn.execute(self.sq.update, (
                    s.workflow, s.cron, s.timezone, s.catch_up, json.dumps(s.args),
                    old.next_tick if same_clock else s.next_tick, now, s.name))
            r = conn.execute(self.sq.get, (s.name,)).fetchone()
        assert r is not None
        return _row(r)

    def get_schedule(self, name: str) -> ScheduleRow | None:
        with self._conn() as conn:
            r = conn.execute(self.sq.get, (name,)).fetchone()
        return None if r is None else _row(r)

    def list_schedules(self) -> list[ScheduleRow]:
        with self._conn() as conn:
            return [_row(r) for r in conn.execute(self.sq.list).fetchall()]

    def set_schedule_paused(self, name: str, paused: bool, next_tick: float | None,
                            now: float) -> bool:
        with self._conn() as conn:
            return conn.execute(self.sq.pause, (paused, next_tick, now, name)).rowcount == 1

    def delete_schedule(self, name: str) -> bool:
        with self._conn() as conn:
            return conn.execute(self.sq.delete, (name,)).rowcount == 1

    def due_schedules(self, now: float) -> list[ScheduleRow]:
        with self._conn() as conn:
            return [_row(r) for r in conn.execute(self.sq.due, (now,)).fetchall()]

    def next_schedule_tick(self) -> float | None:
        with self._conn() as conn:
            r = conn.execute(self.sq.next_tick).fetchone()
        return None if r is None or r[0] is None else float(r[0])

    def advance_schedule(self, name: str, expected_next: float, new_next: float,
                         last_tick: float | None, runs: Sequence[tuple[NewWorkflow, Event]],
                         now: float) -> bool:
        with self._conn() as conn, conn.transaction():
            if conn.execute(self.sq.advance, (new_next, last_tick, now, name,
                                              expected_next)).rowcount != 1:
                return False  # another worker handled these ticks
            self._insert_workflows(conn, runs)
        return True
