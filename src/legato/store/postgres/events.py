"""PostgreSQL: events correlated by business key, signals, waits and the delivery inbox.

Same semantics as ``legato.store.sqlite_events``, where every transaction runs alone. Here
transactions run side by side, so the ones that could miss each other are serialised:

* publishing an event and a workflow taking/registering a wait for the same (type, key)
  take a transaction-level advisory lock on that pair: either the wait sees the buffered
  event, or the publisher sees the registered wait; a publisher also locks the event's id,
  so that two publications of one id (even under different keys) see each other and the
  second is a duplicate that delivers nothing;
* a delivery, a signal and a wait's take lock the workflow's row first (always before the
  tables below it), so a delivery never slips between a workflow's decision to suspend and
  its commit: the commit either sees the delivery (and wakes at once) or the delivery sees
  the suspended workflow (and wakes it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg

from legato.store.base import Condition, Delivery, PublishResult
from legato.store.postgres.arrays import TextArray
from legato.store.postgres.pipeline import pipelined
from legato.store.postgres.queries import TERMINAL_SQL


class EventQueries:
    def __init__(self, schema: str) -> None:
        wf, ev, wa = f"{schema}.workflows", f"{schema}.events", f"{schema}.waits"
        ib, sg, ws = f"{schema}.inbox", f"{schema}.signals", f"{schema}.workflow_state"
        # locks are taken in the order of the array (sort it): no deadlock between takers
        self.key_locks = ("SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
                          " FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n")
        self.lock_workflows = (f"SELECT id FROM {wf} WHERE id = ANY(%s::text[])"
                               " ORDER BY id FOR UPDATE")
        self.inbox_insert = (f"INSERT INTO {ib} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                             " ON CONFLICT (workflow_id, pos) DO NOTHING")
        self.wait_delete = f"DELETE FROM {wa} WHERE workflow_id = %s AND pos = %s"
        self.wake = (f"WITH u AS (UPDATE {wf} SET wake_at = %s WHERE id = %s"
                     " AND status = 'WAITING' AND owner IS NULL RETURNING 1)"
                     " SELECT pg_notify(%s, '') FROM u")
        # Publishing, in one statement run after the event's locks (its key and its id) are
        # held, so that its snapshot sees every wait registered and every event stored
        # before. In order: a stored event with this id makes it a duplicate (nothing
        # else happens); the waits for (type, key) of workflows not ended; their rows
        # locked in id order; the event handed to each wait that has nothing yet (a signal
        # may have beaten it), that wait's rows deleted and its workflow woken if it is
        # suspended; the event stored, delivered or buffered. Returns: 1 if stored (0: a
        # duplicate), the workflows it was handed to, oldest wait first, and whether it
        # sent NOTIFY (it does if it woke any).
        # The snapshot is taken before the row locks are waited for: whatever the lock
        # holder committed (the run ended, suspended, was handed a signal) is read from the
        # rows' latest versions, never from the snapshot: the lock rechecks the status,
        # ON CONFLICT sees every delivery, and the wake-up decides on the row it updates
        # (an UPDATE ... WHERE status = 'WAITING' would test the snapshot's version, and
        # miss a run whose suspension the lock waited for).
        self.publish = (
            f"WITH dup AS (SELECT 1 FROM {ev} WHERE id = %(id)s),"
            " waiting AS MATERIALIZED (SELECT w.workflow_id, w.pos,"
            f" min(w.created_at) AS since FROM {wa} w JOIN {wf} f ON f.id = w.workflow_id"
            " WHERE w.kind = 'event' AND w.name = %(type)s AND w.key = %(key)s"
            f" AND f.status NOT IN {TERMINAL_SQL} AND NOT EXISTS (SELECT 1 FROM dup)"
            " GROUP BY w.workflow_id, w.pos),"
            f" locked AS MATERIALIZED (SELECT id FROM {wf}"
            " WHERE id IN (SELECT workflow_id FROM waiting)"
            f" AND status NOT IN {TERMINAL_SQL} ORDER BY id FOR UPDATE),"
            f" handed AS (INSERT INTO {ib} SELECT w.workflow_id, w.pos, 'event', %(type)s,"
            " %(key)s, %(data)s, %(id)s, %(now)s FROM waiting w JOIN locked l"
            " ON l.id = w.workflow_id ON CONFLICT (workflow_id, pos) DO NOTHING"
            " RETURNING workflow_id, pos),"
            f" taken AS (DELETE FROM {wa} w USING handed h"
            " WHERE w.workflow_id = h.workflow_id AND w.pos = h.pos),"
            f" woken AS (UPDATE {wf} SET wake_at = CASE WHEN status = 'WAITING'"
            " AND owner IS NULL THEN %(now)s ELSE wake_at END"
            " WHERE id IN (SELECT workflow_id FROM handed)"
            " RETURNING status = 'WAITING' AND owner IS NULL AS woke),"
            f" stored AS (INSERT INTO {ev} (id, type, key, data, published_at, expires_at,"
            " delivered) SELECT %(id)s, %(type)s, %(key)s, %(data)s, %(now)s, %(expires)s,"
            " EXISTS (SELECT 1 FROM handed) WHERE NOT EXISTS (SELECT 1 FROM dup)"
            " RETURNING 1)"
            " SELECT (SELECT count(*) FROM stored),"
            " ARRAY(SELECT w.workflow_id FROM waiting w JOIN handed h"
            " ON h.workflow_id = w.workflow_id AND h.pos = w.pos"
            " ORDER BY w.since, w.workflow_id, w.pos),"
            " (SELECT count(*) FROM (SELECT pg_notify(%(channel)s, '') FROM woken WHERE woke"
            " LIMIT 1) n)")
        self.signal_insert = (f"INSERT INTO {sg} (workflow_id, name, data, sent_at)"
                              " VALUES (%s, %s, %s, %s) RETURNING id")
        self.signal_wait = (f"SELECT pos FROM {wa} WHERE workflow_id = %s AND kind = 'signal'"
                            " AND name = %s ORDER BY pos LIMIT 1")
        self.signal_taken = f"UPDATE {sg} SET taken_pos = %s WHERE id = %s"
        self.inbox_get = (f"SELECT kind, name, key, data, source, at FROM {ib}"
                          " WHERE workflow_id = %s AND pos = %s")
        self.wait_insert = (f"INSERT INTO {wa} VALUES (%s, %s, %s, %s, %s, %s)"
                            " ON CONFLICT DO NOTHING")
        self.buffered_event = (
            f"SELECT id, data FROM {ev} WHERE type = %s AND key = %s AND taken_by IS NULL"
            " AND NOT delivered AND expires_at > %s ORDER BY published_at, seq LIMIT 1")
        self.event_taken = f"UPDATE {ev} SET taken_by = %s WHERE id = %s"
        self.queued_signal = (
            f"SELECT id, data FROM {sg} WHERE workflow_id = %s AND name = %s"
            " AND taken_pos IS NULL ORDER BY id LIMIT 1")
        self.decided_task = (f"SELECT result FROM {schema}.tasks WHERE id = %s"
                             " AND status IN ('COMPLETED', 'REJECTED')")
        self.state_get = f"SELECT value FROM {ws} WHERE workflow_id = %s AND key = %s"
        self.expire = f"DELETE FROM {ev} WHERE expires_at <= %s"


class PostgresEvents:
    """Mixed into PostgresStore (which provides ``_conn``, ``channel`` and ``lock_prefix``)."""

    ev: EventQueries
    channel: str

    def _conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    def _event_lock_name(self, type_: str, key: str) -> str:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    def _event_id_lock_name(self, event_id: str) -> str:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    # --- delivering ---------------------------------------------------------------------

    def _lock_workflows(self, conn: psycopg.Connection[Any], ids: Sequence[str]) -> None:
        """Lock these workflows' rows, in id order (as every multi-row lock here is)."""
        if ids:
            conn.execute(self.ev.lock_workflows, (TextArray(sorted(set(ids))),))

    def _deliver(self, conn: psycopg.Connection[Any], wid: str, pos: int, kind: str,
                 name: str, key: str, data: str | None, source: str, now: float) -> bool:
        """Hand ``data`` to the wait (wid, pos) unless it already got something; wake it.
        The workflow's row is locked by the caller."""
        if conn.execute(self.ev.inbox_insert,
                        (wid, pos, kind, name, key, data, source, now)).rowcount != 1:
            return False
        conn.execute(self.ev.wait_delete, (wid, pos))
        conn.execute(self.ev.wake, (now, wid, self.channel))
        return True

    def publish(self, event_id: str, type_: str, key: str, data: str | None, now: float,
                ttl: float) -> PublishResult:
        locks = sorted([self._event_lock_name(type_, key), self._event_id_lock_name(event_id)])
        try:
            with self._conn() as conn:  # one round trip, one transaction
                with pipelined(conn):
                    conn.execute(self.ev.key_locks, (TextArray(locks),))
                    cur = conn.execute(self.ev.publish, {
                        "id": event_id, "type": type_, "key": key, "data": data,
                        "now": now, "expires": now + ttl, "channel": self.channel})
                row = cur.fetchone()
        except psycopg.errors.UniqueViolation:
            # stored meanwhile by a publisher that did not take the id's lock (an older
            # legato): a duplicate after all, and everything above was rolled back
            return PublishResult(event_id, [], False, duplicate=True)
        assert row is not None
        if not row[0]:
            return PublishResult(event_id, [], False, duplicate=True)
        delivered = list(row[1])
        return PublishResult(event_id, delivered, not delivered)

    def send_signal(self, workflow_id: str, name: str, data: str | None, now: float) -> bool:
        with self._conn() as conn, conn.transaction():
            self._lock_workflows(conn, [workflow_id])
            row = conn.execute(self.ev.signal_insert, (workflow_id, name, data, now)).fetchone()
            assert row is not None
            sid = int(row[0])
            w = conn.execute(self.ev.signal_wait, (workflow_id, name)).fetchone()
            if w is not None and self._deliver(conn, workflow_id, w[0], "signal", name, "",
                                               data, f"signal:{sid}", now):
                conn.execute(self.ev.signal_taken, (w[0], sid))
                return True
        return False

    # --- taking -------------------------------------------------------------------------

    def take(self, workflow_id: str, pos: int, conditions: Sequence[Condition], now: float,
             register: bool) -> Delivery | None:
        keys = sorted({self._event_lock_name(c.name, c.key) for c in conditions
                       if c.kind == "event"})
        with self._conn() as conn, conn.transaction():
            if keys:
                conn.execute(self.ev.key_locks, (TextArray(keys),))
            self._lock_workflows(conn, [workflow_id])
            got = conn.execute(self.ev.inbox_get, (workflow_id, pos)).fetchone()
            if got is None:
                got = self._take_buffered(conn, workflow_id, pos, conditions, now)
            if got is not None:
                conn.execute(self.ev.wait_delete, (workflow_id, pos))
                kind, name, key, data, source, at = got
                for i, cond in enumerate(conditions):
                    if (cond.kind, cond.name, cond.key) == (kind, name, key):
                        return Delivery(i, data, source, float(at))
                return Delivery(-1, data, source, float(at))  # the code waits for other things
            if register:
                with conn.cursor() as cur:
                    cur.executemany(self.ev.wait_insert,
                                    [(workflow_id, pos, cd.kind, cd.name, cd.key, now)
                                     for cd in conditions])
            else:
                conn.execute(self.ev.wait_delete, (workflow_id, pos))
        return None

    def _take_buffered(self, conn: psycopg.Connection[Any], wid: str, pos: int,
                       conditions: Sequence[Condition], now: float) -> tuple[Any, ...] | None:
        for cond in conditions:
            if cond.kind == "event":
                e = conn.execute(self.ev.buffered_event, (cond.name, cond.key, now)).fetchone()
                if e is not None:
                    conn.execute(self.ev.event_taken, (f"{wid}:{pos}", e[0]))
                    self._deliver(conn, wid, pos, "event", cond.name, cond.key, e[1], e[0], now)
                    return ("event", cond.name, cond.key, e[1], e[0], now)
            elif cond.kind == "signal":
                s = conn.execute(self.ev.queued_signal, (wid, cond.name)).fetchone()
                if s is not None:
                    conn.execute(self.ev.signal_taken, (pos, s[0]))
                    self._deliver(conn, wid, pos, "signal", cond.name, "", s[1],
                                  f"signal:{s[0]}", now)
                    return ("signal", cond.name, "", s[1], f"signal:{s[0]}", now)
            elif cond.kind == "task":  # decided while no wait was registered for it
                t = conn.execute(self.ev.decided_task, (cond.name,)).fetchone()
                if t is not None:
                    self._deliver(conn, wid, pos, "task", cond.name, "", t[0],
                                  f"task:{cond.name}", now)
                    return ("task", cond.name, "", t[0], f"task:{cond.name}", now)
        return None

    # --- queries and clean-up -------------------------------------------------------------

    def query_state(self, workflow_id: str, key: str) -> tuple[bool, str | None]:
        with self._conn() as conn:
            r = conn.execute(self.ev.state_get, (workflow_id, key)).fetchone()
        return (False, None) if r is None else (True, r[0])

    def expire_events(self, now: float) -> int:
        with self._conn() as conn:
            return conn.execute(self.ev.expire, (now,)).rowcount
