"""A worker process for the PostgreSQL chaos test (``test_postgres_chaos.py``).

Runs the ``pg_chaos`` workflow (10 steps) on a legato engine until it is killed. Every step
execution appends (workflow id, step, attempt, pid) to the ``effects`` table through its own
connection, so the test can count executions independently of legato's journal. One step in
twenty fails the first time it runs, to mix retries into the crashes.

Usage: python pg_worker.py URL --lease 1.5 --concurrency 4
Prints ``READY <worker id>`` once it is running.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
import zlib
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

import legato
from legato.cli.signals import StopSignals

WORKFLOW = "pg_chaos"
STEPS = 10
EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS effects (exec_id text PRIMARY KEY, wid text NOT NULL,"
    " step integer NOT NULL, attempt integer NOT NULL, pid integer NOT NULL,"
    " outcome text NOT NULL, at double precision NOT NULL)"
)

_effects: ConnectionPool[psycopg.Connection[Any]] | None = None


class Flaky(Exception):
    """The deliberate first-time failure of some steps."""


def step_value(step: int) -> int:
    return step * step


def expected_result(n: int) -> int:
    return n * 1000 + sum(step_value(i) for i in range(1, STEPS + 1))


def fails_first(wid: str, step: int) -> bool:
    return zlib.crc32(f"{wid}:{step}".encode()) % 20 == 0


def _record(wid: str, step: int, flaky: bool) -> tuple[int, str]:
    """Append one execution to ``effects`` (retrying while the database is away); return its
    number for this (workflow, step), counting from 1, and whether it is to fail."""
    assert _effects is not None
    exec_id = uuid.uuid4().hex
    delay = 0.02
    while True:
        try:
            with _effects.connection() as conn:
                row = conn.execute(
                    "INSERT INTO effects SELECT %s, %s, %s, c.n + 1, %s,"
                    " CASE WHEN %s AND c.n = 0 THEN 'fail' ELSE 'ok' END, %s"
                    " FROM (SELECT count(*) AS n FROM effects WHERE wid = %s AND step = %s) c"
                    " ON CONFLICT (exec_id) DO NOTHING RETURNING attempt, outcome",
                    (exec_id, wid, step, os.getpid(), flaky, time.time(), wid, step),
                ).fetchone()
                if row is None:  # inserted by an attempt whose reply was lost
                    row = conn.execute("SELECT attempt, outcome FROM effects WHERE exec_id = %s",
                                       (exec_id,)).fetchone()
                assert row is not None
                return int(row[0]), str(row[1])
        except psycopg.OperationalError:
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


@legato.step(retry=legato.RetryPolicy(max_attempts=3, initial_interval=0.05, jitter=False))
def effect(wid: str, step: int, delay: float) -> int:
    time.sleep(delay)
    _, outcome = _record(wid, step, fails_first(wid, step))
    if outcome == "fail":
        raise Flaky(f"{wid} step {step} fails the first time it runs")
    return step_value(step)


@legato.workflow(name=WORKFLOW)
def chain(ctx: legato.WorkflowContext, n: int, delays: list[float]) -> int:
    total = 0
    for i in range(1, STEPS + 1):
        total += effect(ctx.workflow_id, i, delays[i - 1])
    return n * 1000 + total


def main(argv: list[str] | None = None) -> int:
    global _effects
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--effects-url", required=True)
    p.add_argument("--lease", type=float, default=1.5)
    p.add_argument("--concurrency", type=int, default=4)
    args = p.parse_args(argv)
    _effects = ConnectionPool(args.effects_url, min_size=1, max_size=args.concurrency,
                              kwargs={"autocommit": True}, open=False, timeout=60)
    _effects.open(wait=True)
    with StopSignals() as stop:  # as `legato worker` does: a handler that cannot deadlock
        engine = legato.Engine(args.url, lease=args.lease, concurrency=args.concurrency,
                               step_threads=args.concurrency)
        engine.launch()
        print(f"READY {engine.worker_id}", flush=True)
        stop.wait(0.05)
        engine.shutdown(grace=2.0)
    _effects.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
