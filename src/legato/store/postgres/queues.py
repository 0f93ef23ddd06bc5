"""PostgreSQL: queues with concurrency, rate and per-key limits enforced across all workers
(as the SQLite store does in ``_admit_queued``).

Workers admit queued runs in parallel here, so admission to one queue is serialised by a
transaction-level advisory lock on the queue: the counts a claimer reads (running, started
recently, busy keys) stay true until it commits what it admitted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg

from legato.domain.queue import admit
from legato.store.postgres.arrays import TextArray
from legato.store.sql_common import ACTIVE_SQL


class QueueQueries:
    def __init__(self, schema: str) -> None:
        wf, qu = f"{schema}.workflows", f"{schema}.queues"
        waiting = ("owner IS NULL AND started_at IS NULL AND status = 'PENDING'"
                   " AND wake_at <= %s AND name = ANY(%s::text[])")
        self.queues_with_work = (f"SELECT DISTINCT queue FROM {wf} WHERE queue IS NOT NULL"
                                 f" AND {waiting} ORDER BY queue")
        self.lock = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
        self.config = (f"SELECT concurrency, rate_count, rate_period, per_key FROM {qu}"
                       " WHERE name = %s")
        self.running = (f"SELECT count(*) FROM {wf} WHERE queue = %s AND started_at IS NOT NULL"
                        f" AND status IN {ACTIVE_SQL}")
        self.recent = f"SELECT count(*) FROM {wf} WHERE queue = %s AND started_at > %s"
        self.busy_keys = (f"SELECT queue_key, count(*) FROM {wf} WHERE queue = %s"
                          " AND queue_key IS NOT NULL AND started_at IS NOT NULL"
                          f" AND status IN {ACTIVE_SQL} GROUP BY queue_key")
        self.candidates = (f"SELECT id, queue_key FROM {wf} WHERE queue = %s AND {waiting}"
                           " ORDER BY priority DESC, created_at, created_order LIMIT %s"
                           " FOR UPDATE SKIP LOCKED")
        self.put = (f"INSERT INTO {qu} VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name)"
                    " DO UPDATE SET concurrency = EXCLUDED.concurrency,"
                    " rate_count = EXCLUDED.rate_count, rate_period = EXCLUDED.rate_period,"
                    " per_key = EXCLUDED.per_key, updated_at = EXCLUDED.updated_at")
        self.names = (f"SELECT name FROM {qu} UNION SELECT DISTINCT queue FROM {wf}"
                      " WHERE queue IS NOT NULL ORDER BY 1")
        self.counts = (
            "SELECT count(*) FILTER (WHERE started_at IS NULL AND status = 'PENDING'),"
            f" count(*) FILTER (WHERE started_at IS NOT NULL AND status IN {ACTIVE_SQL}),"
            f" count(*) FILTER (WHERE completed_at > %s) FROM {wf} WHERE queue = %s")


class PostgresQueues:
    """Mixed into PostgresStore (which provides ``_conn`` and ``settings``)."""

    qq: QueueQueries

    def _conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    def _queue_lock_name(self, queue: str) -> str:
        raise NotImplementedError  # pragma: no cover - provided by PostgresStore

    def _admit_queued(self, conn: psycopg.Connection[Any], names: Sequence[str], now: float,
                      room: int, queues: Sequence[str] | None = None) -> list[str]:
        """Queued runs that may start now without breaking their queue's limits (locked
        until the caller's transaction ends). ``queues``: the result of
        ``queues_with_work`` if the caller read it already (in the same transaction)."""
        admitted: list[str] = []
        kinds = TextArray(names)
        if queues is None:
            queues = [q for (q,) in conn.execute(self.qq.queues_with_work,
                                                 (now, kinds)).fetchall()]
        for q in queues:
            slots = room - len(admitted)
            if slots <= 0:
                break
            conn.execute(self.qq.lock, (self._queue_lock_name(q),))
            cfg = conn.execute(self.qq.config, (q,)).fetchone()
            concurrency, rate_count, rate_period, per_key = cfg or (None, None, None, None)
            if concurrency is not None:
                running = conn.execute(self.qq.running, (q,)).fetchone()
                slots = min(slots, concurrency - (running[0] if running else 0))
            if rate_count is not None and rate_period is not None:
                recent = conn.execute(self.qq.recent, (q, now - rate_period)).fetchone()
                slots = min(slots, rate_count - (recent[0] if recent else 0))
            if slots <= 0:
                continue
            busy: dict[str, int] = {}
            if per_key is not None:
                busy = {k: int(n) for k, n in conn.execute(self.qq.busy_keys, (q,)).fetchall()}
            # with per-key limits some candidates are skipped: look further than ``slots``
            limit = slots if per_key is None else max(slots * 20, 100)
            candidates = conn.execute(self.qq.candidates, (q, now, kinds, limit)).fetchall()
            admitted += admit(candidates, slots, per_key, busy)
        return admitted

    def put_queue(self, name: str, concurrency: int | None, rate: tuple[int, float] | None,
                  per_key: int | None, now: float) -> None:
        with self._conn() as conn:
            conn.execute(self.qq.put, (name, concurrency, rate[0] if rate else None,
                                       rate[1] if rate else None, per_key, now))

    def queue_stats(self, now: float) -> list[dict[str, Any]]:
        out = []
        with self._conn() as conn:
            for (q,) in conn.execute(self.qq.names).fetchall():
                cfg = conn.execute(self.qq.config, (q,)).fetchone() or (None, None, None, None)
                counts = conn.execute(self.qq.counts, (now - 60, q)).fetchone()
                depth, running, done = counts or (0, 0, 0)
                out.append({"name": q, "concurrency": cfg[0],
                            "rate": None if cfg[1] is None else (cfg[1], cfg[2]),
                            "per_key_concurrency": cfg[3], "depth": depth or 0,
                            "running": running or 0, "completed_last_minute": done or 0})
        return out
