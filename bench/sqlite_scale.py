"""(info) SQLite across processes: the application starts, `legato worker` processes run.

The throughput benchmark runs everything in one process: the loop calling ``engine.start``
and the worker's hub share one interpreter, and with it the GIL. This one measures the other
deployment shape of an embedded SQLite service: a client engine (not launched) in the driver
starts the 1,000 ten-step workflows one by one, while 1 or 2 ``legato worker`` processes on
the same database file run them (SQLite has no cross-process notification: the workers find
new runs by polling, 5 ms apart while there is work). Timed from the first start until every
run has completed (the driver counts completed rows every 5 ms on its own connection), then
every result is checked. Workers are spawned and ready before the clock starts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import legato
from bench import workloads
from bench.common import Config, fmt, median, paired_ratio, say, sqlite_url, table, tmpdir
from bench.pg_common import Workers
from bench.raw import commit_rate

WORKFLOWS = 1000
WORKERS = (1, 2)


def _wait_completed(db: str, n: int, timeout: float) -> float:
    con = sqlite3.connect(db, timeout=30)
    try:
        end = time.perf_counter() + timeout
        while True:
            done = con.execute("SELECT count(*) FROM workflows WHERE status = 'COMPLETED'"
                               ).fetchone()[0]
            now = time.perf_counter()
            if done >= n:
                return now
            if now > end:
                raise TimeoutError(f"{done} of {n} workflows completed after {timeout:g} s")
            time.sleep(0.005)
    finally:
        con.close()


def _check(db: str, n: int) -> None:
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = dict(con.execute("SELECT id, result FROM workflows").fetchall())
    finally:
        con.close()
    for i in range(n):
        got = json.loads(rows[f"s{i}"])
        if got != i + workloads.STEPS:
            raise AssertionError(f"workflow s{i} returned {got!r}")


def once(db: str, sync: str, n_workers: int) -> dict[str, float]:
    url = sqlite_url(db, sync)
    client = legato.Engine(url)  # not launched: creates the schema, starts runs
    try:
        with Workers(url, n_workers, WORKFLOWS // n_workers) as w:
            w.start()
            w.wait_ready()
            time.sleep(0.2)  # past the workers' first claims of an empty table
            t0 = time.perf_counter()
            for i in range(WORKFLOWS):
                client.start(workloads.ten_steps, i, workflow_id=f"s{i}")
            t_started = time.perf_counter()
            t_done = _wait_completed(db, WORKFLOWS, 600)
            w.check()
    finally:
        client.shutdown()
    _check(db, WORKFLOWS)
    total = t_done - t0
    return {"seconds": total, "steps_per_s": WORKFLOWS * workloads.STEPS / total,
            "starts_per_s": WORKFLOWS / (t_started - t0)}


def run(cfg: Config) -> dict[str, Any]:
    reps = cfg.n_reps(3, 1)
    say(f"[scale] {WORKFLOWS} workflows x {workloads.STEPS} steps started one by one by a client"
        f" engine in the driver, run by {' or '.join(map(str, WORKERS))} `legato worker`"
        f" processes on the same file; {reps} reps per mode")
    out: dict[str, Any] = {"workflows": WORKFLOWS, "reps": reps}
    rows: list[list[str]] = []
    for sync in cfg.modes:
        res: dict[str, Any] = {}
        with tmpdir(f"scale-{sync.lower()}") as d:
            for n in WORKERS:
                runs: list[dict[str, float]] = []
                paired: list[float] = []
                for i in range(reps):
                    paired.append(commit_rate(d / f"raw{n}-{i}.db", sync, 0.5))
                    runs.append(once(str(d / f"s{n}-{i}.db"), sync, n))
                steps = median([r["steps_per_s"] for r in runs])
                res[f"workers_{n}"] = {
                    "steps_per_s": steps,
                    "steps_per_s_all": [r["steps_per_s"] for r in runs],
                    "starts_per_s": median([r["starts_per_s"] for r in runs]),
                    "paired_raw_commits_per_s": paired,
                    "paired_ratio": paired_ratio(runs, paired),
                }
                rows.append([sync, str(n), fmt(res[f"workers_{n}"]["starts_per_s"], "/s"),
                             fmt(steps, "/s"), f"{res[f'workers_{n}']['paired_ratio']:.2f}"])
        out[sync] = res
    table(["synchronous", "worker processes", "client starts", "steps", "paired /raw"], rows)
    say("  timed from the client's first start until all 1,000 completed; 'paired': median of"
        " per-rep ratios to a 0.5 s raw commit measurement just before each rep")
    return out
