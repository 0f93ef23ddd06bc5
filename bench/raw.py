"""1. The physical limit: single-row INSERT + COMMIT per second from Python's sqlite3 (WAL).

Each commit is one ``BEGIN IMMEDIATE; INSERT one ~100-byte row; COMMIT`` on one connection,
the smallest durable write the engine can make. A batched variant (100 rows per commit)
shows what group commit can reach on the same file.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import Config, fmt, median, say, table, tmpdir

PAYLOAD = "x" * 100
BATCH = 100


def _open(path: Path, sync: str) -> sqlite3.Connection:
    c = sqlite3.connect(str(path), isolation_level=None)
    mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    assert str(mode).lower() == "wal", mode
    c.execute(f"PRAGMA synchronous = {sync}")
    c.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, wf TEXT, seq INTEGER,"
              " data TEXT)")
    return c


def commit_rate(path: Path, sync: str, seconds: float, batch: int = 1) -> float:
    """Rows per second committed in transactions of ``batch`` rows, for about ``seconds``."""
    c = _open(path, sync)
    try:
        rows = [("wf", i, PAYLOAD) for i in range(batch)]
        ins = "INSERT INTO t (wf, seq, data) VALUES (?, ?, ?)"
        for _ in range(50):  # warm the page cache and the WAL
            c.execute("BEGIN IMMEDIATE")
            c.execute(ins, rows[0])
            c.execute("COMMIT")
        n = 0
        t0 = time.perf_counter()
        end = t0 + seconds
        while True:
            c.execute("BEGIN IMMEDIATE")
            if batch == 1:
                c.execute(ins, rows[0])
            else:
                c.executemany(ins, rows)
            c.execute("COMMIT")
            n += 1
            if n % 16 == 0 and time.perf_counter() >= end:
                break
        return n * batch / (time.perf_counter() - t0)
    finally:
        c.close()


def run(cfg: Config) -> dict[str, Any]:
    reps = cfg.n_reps(5, 3)
    seconds = 0.3 if cfg.quick else 1.0
    say(f"[raw] single-row INSERT+COMMIT, WAL; {reps} reps x {seconds:g}s per mode")
    out: dict[str, Any] = {"reps": reps, "seconds_per_rep": seconds, "batch": BATCH}
    rows = []
    for sync in cfg.modes:
        single: list[float] = []
        batched: list[float] = []
        with tmpdir(f"raw-{sync.lower()}") as d:
            for i in range(reps):  # alternate, so drift hits both alike
                single.append(commit_rate(d / f"single{i}.db", sync, seconds))
                batched.append(commit_rate(d / f"batch{i}.db", sync, seconds / 2, BATCH))
        out[sync] = {
            "commits_per_s": median(single),
            "commits_per_s_all": single,
            "batched_rows_per_s": median(batched),
            "batched_rows_per_s_all": batched,
        }
        rows.append([sync, fmt(median(single), "/s"), fmt(min(single), "/s"),
                     fmt(max(single), "/s"), fmt(median(batched), "/s")])
    table(["synchronous", "commits (median)", "min", "max", f"rows in {BATCH}-row tx"], rows)
    return out
