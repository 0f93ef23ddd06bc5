"""PostgreSQL latency: start-to-result of a 3-step workflow; event-to-wake through NOTIFY.

``pg_latency``: a launched engine in this process runs one ``bench_pg_three_steps`` at a
time (start, then ``handle.result()``), 200 runs (50 with ``--quick``) after 10 warm-up
runs: p50/p90/p99 of start-to-result and of the ``engine.start`` call alone. Commits are
counted afterwards as the distinct transaction ids (``xmin``) of the runs' journal rows,
which are only ever inserted: the start's transaction, then one per transaction that
recorded steps or the end. (An in-process start is born owned by the worker: no claim.)

``pg_notify``: one ``legato worker bench.pg_workloads`` process, and a client engine (not
launched) in the driver. A trigger added to the benchmark's own schema sends
``NOTIFY bench_<schema>, '<workflow id>'`` in the transaction that records a
``bench_pg_stamp`` step (its ``StepCompleted`` journal row), so the driver, blocked in
``LISTEN``, learns the moment the step's result is committed without polling.

* event-to-wake: the client starts ``bench_pg_waiter(key)``, which suspends in
  ``ctx.wait_event("bench_e", key=key)``; once its row is ``WAITING`` with no owner (it
  holds nothing), and a pause later, the driver calls ``engine.publish("bench_e", key=key)``.
  *woke*: until the next step (``bench_pg_stamp``, which returns ``time.time()``) runs in
  the worker; *recorded*: until that step's result is committed. Both from just before
  ``publish`` (whose own duration is shown).
* pick-up: the client calls ``engine.start(bench_pg_pickup)``; the worker hears the start's
  NOTIFY, claims it and runs its one ``bench_pg_stamp`` step: *woke* and *recorded* as above,
  from just before ``start``.

Runs are sequential, in two regimes: *idle*, 20 ms apart, so that the worker, the server
and the machine have gone idle when each one begins (on a virtual machine, waking idle CPUs
costs: the same run measures one raw INSERT+COMMIT after the same pause as the baseline), and
*back to back*, 1 ms apart. Either way this is the latency of the notification path, not of
a worker busy with other runs. The driver and the worker run on the same machine, so their
``time.time()`` readings are comparable.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import Any

import psycopg

import legato
from bench import pg_workloads as wl
from bench.common import Config, fmt, percentile, say, table
from bench.pg_common import Workers, connect, fresh_schema, journal_commits, wait_terminal

IDLE_PAUSE = 0.02  # the worker and the database sit idle before each run
BUSY_PAUSE = 0.001  # runs follow each other: nothing has gone to sleep


def _stats(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 50) * 1e3, "p90": percentile(samples, 90) * 1e3,
            "p99": percentile(samples, 99) * 1e3, "mean": sum(samples) / len(samples) * 1e3,
            "max": max(samples) * 1e3}


def run(cfg: Config) -> dict[str, Any]:
    runs = 50 if cfg.quick else 200
    warm = 10
    say(f"[pg_latency] launched engine in this process: {wl.LATENCY_STEPS}-step workflow,"
        f" one at a time, {runs} runs after {warm} warm-up")
    ids = [f"lat-{i}" for i in range(runs)]
    total: list[float] = []
    starts: list[float] = []
    with fresh_schema("lat") as (schema, url):
        engine = legato.Engine(url)
        with engine:
            for i in range(warm):
                engine.start(wl.three_steps, i, workflow_id=f"warm-{i}").result(timeout=30)
            gc.collect()
            for i, wid in enumerate(ids):
                t0 = time.perf_counter()
                h = engine.start(wl.three_steps, i, workflow_id=wid)
                t1 = time.perf_counter()
                value = h.result(timeout=30)
                t2 = time.perf_counter()
                if value != i + wl.LATENCY_STEPS:
                    raise AssertionError(f"workflow {wid} returned {value!r}")
                total.append(t2 - t0)
                starts.append(t1 - t0)
        with connect() as c:
            commits = journal_commits(c, schema, ids) / runs
            after_start = journal_commits(c, schema, ids, starts=False) / runs
    lat, st = _stats(total), _stats(starts)
    out: dict[str, Any] = {
        "runs": runs, "steps": wl.LATENCY_STEPS,
        "latency_ms_p50": lat["p50"], "latency_ms_p90": lat["p90"],
        "latency_ms_p99": lat["p99"], "latency_ms_mean": lat["mean"],
        "start_call_ms_p50": st["p50"], "start_call_ms_p99": st["p99"],
        "commits_per_workflow": commits,
        "commits_after_start_per_workflow": after_start,
        "commits_per_step": after_start / wl.LATENCY_STEPS,
        "ms_per_step_after_start": (lat["p50"] - st["p50"]) / wl.LATENCY_STEPS,
    }
    table(["PostgreSQL", "3-step p50", "p90", "p99", "start() p50", "per step after start",
           "commits/workflow", "after the start", "per step"],
          [["in-process", fmt(lat["p50"], " ms", 2), fmt(lat["p90"], " ms", 2),
            fmt(lat["p99"], " ms", 2), fmt(st["p50"], " ms", 2),
            fmt(out["ms_per_step_after_start"], " ms", 2), f"{commits:.2f}",
            f"{after_start:.2f}", f"{out['commits_per_step']:.2f}"]])
    say("  start -> result of one workflow at a time; 'per step after start' = (p50 - start()"
        " p50) / 3; commits = distinct xmin of each run's journal rows (the start, then steps"
        " and the end)")
    return out


# --- NOTIFY: event-to-wake and pick-up, across processes --------------------------------------


def _add_trigger(schema: str, channel: str) -> None:
    s = f'"{schema}"'
    with connect() as c:
        c.execute(
            f"CREATE FUNCTION {s}.bench_recorded() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN PERFORM pg_notify('{channel}', NEW.workflow_id); RETURN NULL; END $$")
        c.execute(
            f"CREATE TRIGGER bench_recorded AFTER INSERT ON {s}.journal FOR EACH ROW"
            " WHEN (NEW.type = 'StepCompleted' AND NEW.name = 'bench_pg_stamp')"
            f" EXECUTE FUNCTION {s}.bench_recorded()")


def _wait_notify(conn: psycopg.Connection[Any], wid: str, timeout: float) -> float:
    """Block until the notification for ``wid`` arrives; return time.time() then."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{wid}: its step was not recorded within {timeout:g} s")
        gen = conn.notifies(timeout=left)
        for n in gen:
            if n.payload == wid:
                t = time.time()
                gen.close()
                return t


def _stamp(conn: psycopg.Connection[Any], schema: str, wid: str) -> float:
    row = conn.execute(f'SELECT data FROM "{schema}".journal WHERE workflow_id = %s'
                       " AND type = 'StepCompleted' AND name = 'bench_pg_stamp'",
                       (wid,)).fetchone()
    if row is None:
        raise AssertionError(f"{wid}: no bench_pg_stamp step in the journal")
    return float(json.loads(row[0])["result"])


def _wait_suspended(engine: legato.Engine, wid: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while True:
        row = engine.store.get(wid)
        if row is not None and row.status == "WAITING" and row.owner is None:
            return
        if time.monotonic() > end:
            raise TimeoutError(f"{wid} did not suspend: {row}")
        time.sleep(0.002)


def _raw_commit(conn: psycopg.Connection[Any], schema: str, pause: float,
                n: int) -> list[float]:
    """One single-row INSERT+COMMIT at a time, ``pause`` apart: what the machine itself
    takes for one durable write after being idle that long (the baseline of each regime)."""
    table_ = f'"{schema}".bench_raw_notify'
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table_} (id serial PRIMARY KEY, v int)")
    out: list[float] = []
    for i in range(n):
        time.sleep(pause)
        t0 = time.perf_counter()
        conn.execute(f"INSERT INTO {table_} (v) VALUES (%s)", (i,))  # autocommit
        out.append(time.perf_counter() - t0)
    return out


def _notify_regime(client: legato.Engine, conn: psycopg.Connection[Any],
                   listen: psycopg.Connection[Any], schema: str, tag: str, pause: float,
                   runs: int, warm: int) -> dict[str, dict[str, float]]:
    """event -> wake and start -> pick-up, one run at a time, ``pause`` before each."""
    ev: dict[str, list[float]] = {"woke": [], "recorded": [], "call": []}
    pk: dict[str, list[float]] = {"woke": [], "recorded": [], "call": []}

    def timed(act: Callable[[], object], wid: str, into: dict[str, list[float]] | None) -> None:
        time.sleep(pause)
        t0 = time.time()
        act()
        t1 = time.time()
        t_rec = _wait_notify(listen, wid, 30)
        if into is not None:  # not a warm-up
            into["call"].append(t1 - t0)
            into["recorded"].append(t_rec - t0)
            into["woke"].append(_stamp(conn, schema, wid) - t0)

    for i in range(warm + runs):  # event -> wake
        wid, key = f"ev-{tag}-{i}", f"k-{tag}-{i}"
        client.start(wl.waiter, key, workflow_id=wid)
        _wait_suspended(client, wid)
        timed(lambda k=key: client.publish(wl.EVENT_TYPE, key=k), wid, ev if i >= warm else None)
    for i in range(warm + runs):  # start in another process -> pick-up
        wid = f"pk-{tag}-{i}"
        timed(lambda w=wid: client.start(wl.pickup, workflow_id=w), wid,
              pk if i >= warm else None)
    raw = _raw_commit(conn, schema, pause, runs)
    return {"event": {k: _stats(v) for k, v in ev.items()},
            "pickup": {k: _stats(v) for k, v in pk.items()}, "raw": _stats(raw)}


def run_notify(cfg: Config) -> dict[str, Any]:
    runs = 30 if cfg.quick else 100
    warm = 5
    say(f"[pg_notify] one `legato worker` process; a client engine in the driver publishes /"
        f" starts; {runs} runs each after {warm} warm-up, one at a time: 'idle' runs"
        f" {IDLE_PAUSE * 1e3:.0f} ms apart, 'back to back' {BUSY_PAUSE * 1e3:.0f} ms apart")
    regimes: dict[str, dict[str, dict[str, float]]] = {}
    with fresh_schema("notify") as (schema, url), connect() as conn, connect() as listen:
        channel = f"bench_{schema}"[:63]
        client = legato.Engine(url)  # not launched; creates the tables
        try:
            _add_trigger(schema, channel)
            listen.execute(f'LISTEN "{channel}"')
            with Workers(url, 1, 500) as w:
                w.start()
                w.wait_ready()
                time.sleep(0.3)
                for tag, pause in (("idle", IDLE_PAUSE), ("busy", BUSY_PAUSE)):
                    regimes[tag] = _notify_regime(client, conn, listen, schema, tag, pause,
                                                  runs, warm)
                wait_terminal(conn, schema, 4 * (warm + runs), timeout=30)
                w.check()
        finally:
            client.shutdown()
    out: dict[str, Any] = {"runs": runs, "pause_s": IDLE_PAUSE, "busy_pause_s": BUSY_PAUSE}
    rows = []
    for tag, label in (("idle", "idle"), ("busy", "back to back")):
        r = regimes[tag]
        suffix = "" if tag == "idle" else "_busy"  # the idle regime keeps the older keys
        out[f"raw_commit_ms_p50{suffix}"] = r["raw"]["p50"]
        for name, what in (("event", "event -> wake (publish)"),
                           ("pickup", "start -> pick-up (start)")):
            d = r[name]
            out[name + suffix] = {f"{k}_ms_{s}": v for k, st in d.items()
                                  for s, v in st.items()}
            rows.append([f"{what}, {label}", fmt(d["call"]["p50"], " ms", 2),
                         fmt(d["woke"]["p50"], " ms", 2), fmt(d["woke"]["p99"], " ms", 2),
                         fmt(d["recorded"]["p50"], " ms", 2), fmt(d["recorded"]["p90"], " ms", 2),
                         fmt(d["recorded"]["p99"], " ms", 2)])
        rows.append([f"raw INSERT+COMMIT, {label}", fmt(r["raw"]["p50"], " ms", 2), "", "",
                     "", "", fmt(r["raw"]["p99"], " ms", 2)])
    table(["across processes", "call p50", "woke p50", "woke p99", "recorded p50", "p90",
           "p99"], rows)
    say("  from just before the client's publish()/start(); 'call' = that call alone;"
        " 'woke' = the next step runs in the worker (the wake-up); 'recorded' = its result"
        " committed too (trigger NOTIFY); 'raw' = one INSERT+COMMIT through psycopg after"
        " the same pause (this machine's cost of one durable write in that regime)")
    return out
