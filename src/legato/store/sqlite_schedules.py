"""SQLite: durable cron schedules."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from legato.domain.events import Event
from legato.store.base import NewWorkflow, ScheduleRow

_COLS = "name, workflow, cron, timezone, catch_up, args, paused, next_tick, last_tick"


def _row(r: Sequence[Any]) -> ScheduleRow:
    return ScheduleRow(name=r[0], workflow=r[1], cron=r[2], timezone=r[3], catch_up=r[4],
                       args=json.loads(r[5]), paused=bool(r[6]), next_tick=float(r[7]),
                       last_tick=None if r[8] is None else float(r[8]))


class SQLiteSchedules:
    """Mixed into SQLiteStore (which provides ``_tx``, ``_conn`` and ``_create_in``)."""

    def _tx(self) -> Any:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteStore

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteStore

    def _create_in(self, c: sqlite3.Connection, new: NewWorkflow,
                   started: Event) -> tuple[Any, bool]:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteStore

    def put_schedule(self, s: ScheduleRow, now: float) -> ScheduleRow:
        with self._tx() as c:
            cur = c.execute(f"SELECT {_COLS} FROM schedules WHERE name = ?", (s.name,)).fetchone()
            if cur is None:
                c.execute(f"INSERT INTO schedules ({_COLS}, created_at, updated_at)"
                          " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                          (s.name, s.workflow, s.cron, s.timezone, s.catch_up,
                           json.dumps(s.args), int(s.paused), s.next_tick, None, now, now))
            else:
                old = _row(cur)
                same_clock = (old.cron, old.timezone) == (s.cron, s.timezone)
                c.execute("UPDATE schedules SET workflow = ?, cron = ?, timezone = ?,"
                          " catch_up = ?, args = ?, next_tick = ?, updated_at = ?"
                          " WHERE name = ?",
                          (s.workflow, s.cron, s.timezone, s.catch_up, json.dumps(s.args),
                           old.next_tick if same_clock else s.next_tick, now, s.name))
            r = c.execute(f"SELECT {_COLS} FROM schedules WHERE name = ?", (s.name,)).fetchone()
        return _row(r)

    def get_schedule(self, name: str) -> ScheduleRow | None:
        r = self._conn().execute(f"SELECT {_COLS} FROM schedules WHERE name = ?",
                                 (name,)).fetchone()
        return None if r is None else _row(r)

    def list_schedules(self) -> list[ScheduleRow]:
        return [_row(r) for r in self._conn().execute(
            f"SELECT {_COLS} FROM schedules ORDER BY name")]

    def set_schedule_paused(self, name: str, paused: bool, next_tick: float | None,
                            now: float) -> bool:
        with self._tx() as c:
            cur = c.execute("UPDATE schedules SET paused = ?,"
                            " next_tick = COALESCE(?, next_tick), updated_at = ?"
                            " WHERE name = ?", (int(paused), next_tick, now, name))
            return bool(cur.rowcount == 1)

    def delete_schedule(self, name: str) -> bool:
        with self._tx() as c:
            return bool(c.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 1)

    def due_schedules(self, now: float) -> list[ScheduleRow]:
        return [_row(r) for r in self._conn().execute(
            f"SELECT {_COLS} FROM schedules WHERE paused = 0 AND next_tick <= ?"
            " ORDER BY next_tick", (now,))]

    def next_schedule_tick(self) -> float | None:
        r = self._conn().execute("SELECT MIN(next_tick) FROM schedules WHERE paused = 0"
                                 ).fetchone()
        return None if r is None or r[0] is None else float(r[0])

    def advance_schedule(self, name: str, expected_next: float, new_next: float,
                         last_tick: float | None, runs: Sequence[tuple[NewWorkflow, Event]],
                         now: float) -> bool:
        with self._tx() as c:
            cur = c.execute("UPDATE schedules SET next_tick = ?,"
                            " last_tick = COALESCE(?, last_tick), updated_at = ?"
                            " WHERE name = ? AND next_tick = ? AND paused = 0",
                            (new_next, last_tick, now, name, expected_next))
            if cur.rowcount != 1:
                return False  # another worker handled these ticks
            for new, started in runs:
                self._create_in(c, new, started)
        return True
