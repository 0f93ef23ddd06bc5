"""PostgreSQL's physical limit: single-row INSERT + COMMIT per second through psycopg 3.

One connection, autocommit off (psycopg sends ``BEGIN`` before the INSERT), one ~100-byte
row per transaction, ``conn.commit()``: the smallest durable write, three round trips. A
batched variant (100 rows per transaction, ``executemany``) shows what group commit can
reach on the same server, and a bare ``SELECT 1`` the round-trip rate of the connection.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bench.common import Config, fmt, median, say, table
from bench.pg_common import connect, fresh_schema

PAYLOAD = "x" * 100
BATCH = 100


def commit_rate(schema: str, seconds: float, batch: int = 1, table_name: str = "raw") -> float:
    """Rows per second committed in transactions of ``batch`` rows, for about ``seconds``."""
    t = f'"{schema}"."{table_name}"'
    with connect(autocommit=True) as c:
        c.execute(f"CREATE TABLE IF NOT EXISTS {t} (id bigserial PRIMARY KEY, wf text,"
                  " seq integer, data text)")
    c = connect(autocommit=False)
    try:
        ins = f"INSERT INTO {t} (wf, seq, data) VALUES (%s, %s, %s)"
        rows = [("wf", i, PAYLOAD) for i in range(batch)]
        for _ in range(50):  # warm: the connection, the plan, the table's pages
            c.execute(ins, rows[0])
            c.commit()
        n = 0
        t0 = time.perf_counter()
        end = t0 + seconds
        with c.cursor() as cur:
            while True:
                if batch == 1:
                    cur.execute(ins, rows[0])
                else:
                    cur.executemany(ins, rows)
                c.commit()
                n += 1
                if n % 8 == 0 and time.perf_counter() >= end:
                    break
        return n * batch / (time.perf_counter() - t0)
    finally:
        c.close()


def roundtrip_rate(seconds: float) -> float:
    """``SELECT 1`` per second on one autocommit connection (no write, no fsync)."""
    with connect(autocommit=True) as c:
        for _ in range(50):
            c.execute("SELECT 1")
        n = 0
        t0 = time.perf_counter()
        end = t0 + seconds
        while True:
            c.execute("SELECT 1").fetchone()
            n += 1
            if n % 64 == 0 and time.perf_counter() >= end:
                break
        return n / (time.perf_counter() - t0)


def run(cfg: Config) -> dict[str, Any]:
    reps = cfg.n_reps(5, 3)
    seconds = 0.3 if cfg.quick else 1.0
    say(f"[pg_raw] psycopg {psycopg.__version__}: single-row INSERT+COMMIT on one connection"
        f" (autocommit off); {reps} reps x {seconds:g}s")
    single: list[float] = []
    batched: list[float] = []
    trips: list[float] = []
    with fresh_schema("raw") as (schema, _url):
        for i in range(reps):  # alternate, so drift hits both alike
            single.append(commit_rate(schema, seconds, 1, f"single{i}"))
            batched.append(commit_rate(schema, seconds / 2, BATCH, f"batch{i}"))
            trips.append(roundtrip_rate(seconds / 3))
    out: dict[str, Any] = {
        "reps": reps, "seconds_per_rep": seconds, "batch": BATCH,
        "commits_per_s": median(single), "commits_per_s_all": single,
        "batched_rows_per_s": median(batched), "batched_rows_per_s_all": batched,
        "roundtrips_per_s": median(trips),
        "commit_ms": 1e3 / median(single), "roundtrip_ms": 1e3 / median(trips),
    }
    table(["server", "commits (median)", "min", "max", f"rows in {BATCH}-row tx",
           "SELECT 1 round trips"],
          [["PostgreSQL", fmt(median(single), "/s"), fmt(min(single), "/s"),
            fmt(max(single), "/s"), fmt(median(batched), "/s"), fmt(median(trips), "/s")]])
    say(f"  one commit = {out['commit_ms']:.2f} ms (BEGIN, INSERT, COMMIT: 3 round trips and"
        f" a WAL flush); one round trip = {out['roundtrip_ms'] * 1e3:.0f} us")
    return out
