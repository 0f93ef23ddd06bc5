"""SQLite: events correlated by business key, signals, waits and the delivery inbox."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from typing import Any

from legato.store.base import Condition, Delivery, PublishResult

_TERMINAL = "('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')"


class SQLiteEvents:
    """Mixed into SQLiteStore (which provides ``_tx`` and ``_conn``)."""

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteStore

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError  # pragma: no cover - provided by SQLiteStore

    # --- delivering ---------------------------------------------------------------------

    @staticmethod
    def _deliver(c: sqlite3.Connection, wid: str, pos: int, kind: str, name: str, key: str,
                 data: str | None, source: str, now: float) -> bool:
        """Hand ``data`` to the wait (wid, pos) unless it already got something; wake it."""
        cur = c.execute("INSERT INTO inbox VALUES (?,?,?,?,?,?,?,?)"
                        " ON CONFLICT (workflow_id, pos) DO NOTHING",
                        (wid, pos, kind, name, key, data, source, now))
        if cur.rowcount != 1:
            return False
        c.execute("DELETE FROM waits WHERE workflow_id = ? AND pos = ?", (wid, pos))
        c.execute("UPDATE workflows SET wake_at = ? WHERE id = ? AND status = 'WAITING'"
                  " AND owner IS NULL", (now, wid))
        return True

    def publish(self, event_id: str, type_: str, key: str, data: str | None, now: float,
                ttl: float) -> PublishResult:
        with self._tx() as c:
            cur = c.execute("INSERT INTO events (id, type, key, data, published_at, expires_at)"
                            " VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
                            (event_id, type_, key, data, now, now + ttl))
            if cur.rowcount != 1:
                return PublishResult(event_id, [], False, duplicate=True)
            waiting = c.execute(
                "SELECT DISTINCT w.workflow_id, w.pos FROM waits w JOIN workflows f"
                " ON f.id = w.workflow_id WHERE w.kind = 'event' AND w.name = ? AND w.key = ?"
                f" AND f.status NOT IN {_TERMINAL} ORDER BY w.created_at",
                (type_, key)).fetchall()
            delivered = [wid for wid, pos in waiting
                         if self._deliver(c, wid, pos, "event", type_, key, data, event_id, now)]
            if delivered:
                c.execute("UPDATE events SET delivered = 1 WHERE id = ?", (event_id,))
        return PublishResult(event_id, delivered, not delivered)

    def send_signal(self, workflow_id: str, name: str, data: str | None, now: float) -> bool:
        with self._tx() as c:
            cur = c.execute("INSERT INTO signals (workflow_id, name, data, sent_at)"
                            " VALUES (?,?,?,?)", (workflow_id, name, data, now))
            sid = cur.lastrowid
            w = c.execute("SELECT pos FROM waits WHERE workflow_id = ? AND kind = 'signal'"
                          " AND name = ? ORDER BY pos LIMIT 1", (workflow_id, name)).fetchone()
            if w is not None and self._deliver(c, workflow_id, w[0], "signal", name, "", data,
                                               f"signal:{sid}", now):
                c.execute("UPDATE signals SET taken_pos = ? WHERE id = ?", (w[0], sid))
                return True
        return False

    # --- taking -------------------------------------------------------------------------

    def take(self, workflow_id: str, pos: int, conditions: Sequence[Condition], now: float,
             register: bool) -> Delivery | None:
        with self._tx() as c:
            got = c.execute("SELECT kind, name, key, data, source, at FROM inbox"
                            " WHERE workflow_id = ? AND pos = ?", (workflow_id, pos)).fetchone()
            if got is None:
                got = self._take_buffered(c, workflow_id, pos, conditions, now)
            if got is not None:
                c.execute("DELETE FROM waits WHERE workflow_id = ? AND pos = ?",
                          (workflow_id, pos))
                kind, name, key, data, source, at = got
                for i, cond in enumerate(conditions):
                    if (cond.kind, cond.name, cond.key) == (kind, name, key):
                        return Delivery(i, data, source, float(at))
                return Delivery(-1, data, source, float(at))  # the code waits for other things
            if register:
                c.executemany("INSERT INTO waits VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                              [(workflow_id, pos, cd.kind, cd.name, cd.key, now)
                               for cd in conditions])
            else:
                c.execute("DELETE FROM waits WHERE workflow_id = ? AND pos = ?",
                          (workflow_id, pos))
        return None

    def _take_buffered(self, c: sqlite3.Connection, wid: str, pos: int,
                       conditions: Sequence[Condition], now: float) -> tuple[Any, ...] | None:
        for cond in conditions:
            if cond.kind == "event":
                e = c.execute(
                    "SELECT id, data FROM events WHERE type = ? AND key = ? AND taken_by IS NULL"
                    " AND delivered = 0 AND expires_at > ? ORDER BY published_at, rowid LIMIT 1",
                    (cond.name, cond.key, now)).fetchone()
                if e is not None:
                    c.execute("UPDATE events SET taken_by = ? WHERE id = ?", (f"{wid}:{pos}", e[0]))
                    self._deliver(c, wid, pos, "event", cond.name, cond.key, e[1], e[0], now)
                    return ("event", cond.name, cond.key, e[1], e[0], now)
            elif cond.kind == "signal":
                s = c.execute("SELECT id, data FROM signals WHERE workflow_id = ? AND name = ?"
                              " AND taken_pos IS NULL ORDER BY id LIMIT 1",
                              (wid, cond.name)).fetchone()
                if s is not None:
                    c.execute("UPDATE signals SET taken_pos = ? WHERE id = ?", (pos, s[0]))
                    self._deliver(c, wid, pos, "signal", cond.name, "", s[1], f"signal:{s[0]}",
                                  now)
                    return ("signal", cond.name, "", s[1], f"signal:{s[0]}", now)
            elif cond.kind == "task":  # decided while no wait was registered for it
                t = c.execute("SELECT result FROM tasks WHERE id = ? AND status IN"
                              " ('COMPLETED', 'REJECTED')", (cond.name,)).fetchone()
                if t is not None:
                    self._deliver(c, wid, pos, "task", cond.name, "", t[0],
                                  f"task:{cond.name}", now)
                    return ("task", cond.name, "", t[0], f"task:{cond.name}", now)
        return None

    # --- queries and clean-up -------------------------------------------------------------

    def query_state(self, workflow_id: str, key: str) -> tuple[bool, str | None]:
        r = self._conn().execute("SELECT value FROM workflow_state WHERE workflow_id = ?"
                                 " AND key = ?", (workflow_id, key)).fetchone()
        return (False, None) if r is None else (True, r[0])

    @staticmethod
    def _set_state_in(c: sqlite3.Connection, rows: Sequence[tuple[str, str, str | None, float]]
                      ) -> None:
        c.executemany("INSERT INTO workflow_state VALUES (?,?,?,?) ON CONFLICT"
                      " (workflow_id, key) DO UPDATE SET value = excluded.value,"
                      " updated_at = excluded.updated_at", rows)

    @staticmethod
    def _forget_waits_in(c: sqlite3.Connection, ids: Sequence[str], marks: str) -> None:
        """Workflows ended: what they waited for and what they were handed are done with
        (``marks``: one ``?`` per id)."""
        c.execute(f"DELETE FROM waits WHERE workflow_id IN ({marks})", ids)
        c.execute(f"DELETE FROM inbox WHERE workflow_id IN ({marks})", ids)

    def expire_events(self, now: float) -> int:
        """Buffered events nobody took before their time-to-live (delivered ones too)."""
        with self._tx() as c:
            return int(c.execute("DELETE FROM events WHERE expires_at <= ?",
                                 (now,)).rowcount)
