"""PostgreSQL throughput: 1,000 workflows x 10 trivial steps (the SQLite benchmark's workload).

``pg_throughput``: in the driver process with a launched ``legato.Engine`` (defaults:
concurrency=500, step_threads=32), as ``bench/throughput.py`` does on SQLite: start 1,000
then wait for every result; and *execute-only*, the same 1,000 written before the engine
launches, timed from launch. Also: how many commits wrote the journal (distinct ``xmin`` of
the journal rows), i.e. how well commits are grouped across workflows, and the per-step time
of one long workflow running alone.

``pg_scale``: the same 1,000 x 10 run by 1, 2 and 4 ``legato worker`` processes (each with
``--concurrency 1000/N``, so together they hold as many workflows as one), three ways:

* *spawned*: a client engine (not launched) starts all 1,000 first, then the N workers are
  spawned; timed from spawning until all have ended (Python start-up and imports included);
* *released*: the N workers are up, then stopped with SIGSTOP; the client starts the 1,000;
  the workers are continued with SIGCONT and the run is timed from then: execution alone,
  without start-up or the start path (the workers run with ``--lease 60`` so that nobody's
  lease runs out while they are stopped);
* *client*: the N workers are up and idle while the client starts the 1,000 one by one
  (each start its own transaction and NOTIFY); timed from the first start.

Ends are seen by polling the count of finished rows every 5 ms on a separate connection;
every result is checked afterwards.

Every repetition uses a fresh schema and is paired with a 0.5 s raw commit measurement in
that schema just before it.
"""

from __future__ import annotations

import gc
import math
import time
from typing import Any

import legato
from bench import pg_workloads as wl
from bench.common import (
    Config,
    Stopwatch,
    fmt,
    median,
    paired_ratio,
    say,
    start_stats,
    table,
)
from bench.pg_common import (
    Workers,
    check_results,
    connect,
    fresh_schema,
    journal_commits,
    wait_terminal,
)
from bench.pg_raw import commit_rate

WORKFLOWS = 1000
STEPS = wl.workloads.STEPS
WORKER_COUNTS = (1, 2, 4)


def _ids(n: int) -> list[str]:
    return [f"tp-{i}" for i in range(n)]


def _expected(n: int) -> dict[str, int]:
    return {wid: i + STEPS for i, wid in enumerate(_ids(n))}


def throughput_once(url: str, schema: str, workflows: int) -> dict[str, float]:
    """Launched engine in this process: start ``workflows``, then wait for every result."""
    engine = legato.Engine(url)
    with engine:
        engine.start(wl.ten_steps, -1, workflow_id="warm").result(timeout=30)
        gc.collect()
        t0 = time.perf_counter()
        handles = [engine.start(wl.ten_steps, i, workflow_id=wid)
                   for i, wid in enumerate(_ids(workflows))]
        t_started = time.perf_counter()
        for i, h in enumerate(handles):
            value = h.result(timeout=600)
            if value != i + STEPS:
                raise AssertionError(f"workflow {i} returned {value!r}")
        t_done = time.perf_counter()
    with connect() as c:
        commits = journal_commits(c, schema, _ids(workflows), starts=False)
    total = t_done - t0
    return {"seconds": total, "start_seconds": t_started - t0,
            "steps_per_s": workflows * STEPS / total,
            "workflows_per_s": workflows / total,
            "starts_per_s": workflows / (t_started - t0),
            "journal_commits": commits}


def execute_once(url: str, schema: str, workflows: int) -> dict[str, float]:
    """The same workload with the start path taken out: rows written before launch."""
    engine = legato.Engine(url)
    t0 = time.perf_counter()
    handles = [engine.start(wl.ten_steps, i, workflow_id=wid)
               for i, wid in enumerate(_ids(workflows))]
    t_written = time.perf_counter()
    gc.collect()
    t1 = time.perf_counter()
    with engine:
        for i, h in enumerate(handles):
            if h.result(timeout=600) != i + STEPS:
                raise AssertionError(f"workflow {i} returned a wrong value")
        t_done = time.perf_counter()
    with connect() as c:
        commits = journal_commits(c, schema, _ids(workflows), starts=False)
    return {"seconds": t_done - t1, "steps_per_s": workflows * STEPS / (t_done - t1),
            "unlaunched_starts_per_s": workflows / (t_written - t0),
            "journal_commits": commits}


def long_workflow(url: str, steps: int) -> float:
    """Seconds per step of one workflow running ``steps`` steps alone (a commit per step)."""
    engine = legato.Engine(url)
    with engine:
        engine.start(wl.workloads.many_steps, 10).result(timeout=30)
        with Stopwatch() as sw:
            value = engine.start(wl.workloads.many_steps, steps).result(timeout=600)
        assert value == steps
    return sw.seconds / steps


def run(cfg: Config) -> dict[str, Any]:
    reps = cfg.n_reps(5, 2)
    long_steps = 100 if cfg.quick else 300
    say(f"[pg_throughput] launched engine in this process: {WORKFLOWS} workflows x {STEPS}"
        f" steps, {reps} reps (+ execute-only); one {long_steps}-step workflow alone")
    raw = cfg.results.get("pg_raw", {}).get("commits_per_s")
    runs: list[dict[str, float]] = []
    execs: list[dict[str, float]] = []
    paired: list[float] = []
    for i in range(reps):
        with fresh_schema(f"tp{i}") as (schema, url):
            paired.append(commit_rate(schema, 0.5, table_name="bench_raw"))
            runs.append(throughput_once(url, schema, WORKFLOWS))
        with fresh_schema(f"ex{i}") as (schema, url):
            execs.append(execute_once(url, schema, WORKFLOWS))
    with fresh_schema("long") as (_schema, url):
        per_step = long_workflow(url, long_steps)
    steps_s = median([r["steps_per_s"] for r in runs])
    exec_s = median([r["steps_per_s"] for r in execs])
    commits = median([r["journal_commits"] for r in runs])
    exec_commits = median([r["journal_commits"] for r in execs])
    out: dict[str, Any] = {
        "workflows": WORKFLOWS, "steps": STEPS, "reps": reps,
        **start_stats(runs, paired, raw),
        "execute_only_steps_per_s": exec_s,
        "execute_only_paired_ratio": paired_ratio(execs, paired),
        "unlaunched_starts_per_s": median([r["unlaunched_starts_per_s"] for r in execs]),
        "journal_commits": commits,
        "steps_per_commit": WORKFLOWS * STEPS / commits if commits else None,
        "execute_only_journal_commits": exec_commits,
        "execute_only_steps_per_commit": WORKFLOWS * STEPS / exec_commits
        if exec_commits else None,
        "long_workflow_steps": long_steps,
        "sequential_step_ms": per_step * 1e3,
    }
    table(["PostgreSQL", "starts", "workflows", "steps", "steps/raw", "paired",
           "execute-only steps", "paired", "steps per commit", "(execute-only)"],
          [["in-process", fmt(out["starts_per_s"], "/s"), fmt(out["workflows_per_s"], "/s"),
            fmt(steps_s, "/s"),
            "n/a" if raw is None else f"{out['ratio_to_raw_commits']:.2f}",
            f"{out['paired_ratio']:.2f}", fmt(exec_s, "/s"),
            f"{out['execute_only_paired_ratio']:.2f}",
            fmt(out["steps_per_commit"], "", 1),
            fmt(out["execute_only_steps_per_commit"], "", 1)]])
    say("  start 1,000 then wait for all (medians); 'execute-only': the same 1,000 written"
        " before the engine launches, timed from launch")
    say("  'paired': median of per-rep ratios to a 0.5 s raw commit measurement just before"
        " each rep; 'steps per commit': 10,000 steps / transactions that appended journal"
        " events after the starts (distinct xmin)")
    say(f"  one {long_steps}-step workflow alone: {per_step * 1e3:.2f} ms per step (one commit"
        " each)")
    return out


# --- worker processes ---------------------------------------------------------------------


def _write_all(url: str, workflows: int) -> None:
    """Start ``workflows`` ten-step workflows through a client engine (not launched)."""
    client = legato.Engine(url)
    try:
        for i, wid in enumerate(_ids(workflows)):
            client.start(wl.ten_steps, i, workflow_id=wid)
    finally:
        client.shutdown()


def _finish(conn: Any, schema: str, workflows: int) -> int:
    check_results(conn, schema, _expected(workflows))
    return journal_commits(conn, schema, starts=False)


def scale_spawned(n: int, workflows: int) -> dict[str, float]:
    """All rows written by a client engine first; then ``n`` workers spawned; time to done."""
    with fresh_schema(f"spawn{n}") as (schema, url), connect() as conn:
        _write_all(url, workflows)
        with Workers(url, n, math.ceil(workflows / n)) as w:
            w.start()
            t_done = wait_terminal(conn, schema, workflows, timeout=600)
            w.wait_ready()
        _finish(conn, schema, workflows)
    return {"seconds": t_done - w.spawned, "startup_s": min(w.ready) - w.spawned,
            "steps_per_s": workflows * STEPS / (t_done - w.spawned)}


def scale_released(n: int, workflows: int) -> dict[str, float]:
    """``n`` workers up, then stopped (SIGSTOP); all rows written; the workers continued
    (SIGCONT) at once and timed until done: execution alone, no start-up, no start path."""
    with fresh_schema(f"rel{n}") as (schema, url), connect() as conn:
        paired = commit_rate(schema, 0.5, table_name="bench_raw")
        legato.Engine(url).shutdown()  # create the tables before the workers race to
        with Workers(url, n, math.ceil(workflows / n), lease=60.0) as w:
            w.start()
            w.wait_ready()
            time.sleep(0.3)
            w.pause()
            _write_all(url, workflows)
            t0 = time.perf_counter()
            w.resume()
            t_done = wait_terminal(conn, schema, workflows, timeout=600)
            w.check()
        commits = _finish(conn, schema, workflows)
    return {"paired_raw": paired, "seconds": t_done - t0,
            "steps_per_s": workflows * STEPS / (t_done - t0), "journal_commits": commits}


def scale_client(n: int, workflows: int) -> dict[str, float]:
    """``n`` workers up and idle; the client starts the workflows one by one; time to done."""
    with fresh_schema(f"cli{n}") as (schema, url), connect() as conn:
        paired = commit_rate(schema, 0.5, table_name="bench_raw")
        client = legato.Engine(url)
        try:
            with Workers(url, n, math.ceil(workflows / n)) as w:
                w.start()
                w.wait_ready()
                time.sleep(0.3)  # let them settle into idle
                t0 = time.perf_counter()
                for i, wid in enumerate(_ids(workflows)):
                    client.start(wl.ten_steps, i, workflow_id=wid)
                t_started = time.perf_counter()
                t_done = wait_terminal(conn, schema, workflows, timeout=600)
                w.check()
        finally:
            client.shutdown()
        commits = _finish(conn, schema, workflows)
    return {"paired_raw": paired, "seconds": t_done - t0,
            "starts_per_s": workflows / (t_started - t0),
            "after_last_start_s": t_done - t_started,
            "steps_per_s": workflows * STEPS / (t_done - t0), "journal_commits": commits}


def run_scale(cfg: Config) -> dict[str, Any]:
    reps = cfg.n_reps(3, 1)
    say(f"[pg_scale] {WORKFLOWS} workflows x {STEPS} steps on 1, 2 and 4 `legato worker`"
        f" processes (--concurrency 1000/N); spawned, released, client-started; {reps} reps")
    raw = cfg.results.get("pg_raw", {}).get("commits_per_s")
    out: dict[str, Any] = {"workflows": WORKFLOWS, "steps": STEPS, "reps": reps,
                           "workers": list(WORKER_COUNTS)}
    rows = []
    for n in WORKER_COUNTS:
        spawned = [scale_spawned(n, WORKFLOWS) for _ in range(reps)]
        released = [scale_released(n, WORKFLOWS) for _ in range(reps)]
        client = [scale_client(n, WORKFLOWS) for _ in range(reps)]
        rel_s = median([r["steps_per_s"] for r in released])
        cli_s = median([r["steps_per_s"] for r in client])
        res = {
            "concurrency_each": math.ceil(WORKFLOWS / n),
            "spawned_steps_per_s": median([r["steps_per_s"] for r in spawned]),
            "spawned_seconds": median([r["seconds"] for r in spawned]),
            "spawned_startup_s": median([r["startup_s"] for r in spawned]),
            "released_steps_per_s": rel_s,
            "released_steps_per_s_all": [r["steps_per_s"] for r in released],
            "released_paired_ratio": median([r["steps_per_s"] / r["paired_raw"]
                                             for r in released]),
            "released_ratio_to_raw_commits": rel_s / raw if raw else None,
            "released_steps_per_commit": median([WORKFLOWS * STEPS / r["journal_commits"]
                                                 for r in released]),
            "client_steps_per_s": cli_s,
            "client_steps_per_s_all": [r["steps_per_s"] for r in client],
            "client_starts_per_s": median([r["starts_per_s"] for r in client]),
            "client_after_last_start_s": median([r["after_last_start_s"] for r in client]),
            "client_paired_ratio": median([r["steps_per_s"] / r["paired_raw"] for r in client]),
            "client_steps_per_commit": median([WORKFLOWS * STEPS / r["journal_commits"]
                                               for r in client]),
            "runs": {"spawned": spawned, "released": released, "client": client},
        }
        out[str(n)] = res
        rows.append([str(n), str(res["concurrency_each"]),
                     fmt(res["spawned_startup_s"], " s", 2),
                     fmt(res["spawned_steps_per_s"], "/s"),
                     fmt(rel_s, "/s"), f"{res['released_paired_ratio']:.2f}",
                     fmt(res["released_steps_per_commit"], "", 1),
                     fmt(res["client_starts_per_s"], "/s"), fmt(cli_s, "/s"),
                     f"{res['client_paired_ratio']:.2f}",
                     fmt(res["client_after_last_start_s"], " s", 2)])
    last = str(WORKER_COUNTS[-1])
    out["scaling_4_over_1"] = out[last]["released_steps_per_s"] / out["1"]["released_steps_per_s"]
    out["client_scaling_4_over_1"] = (out[last]["client_steps_per_s"]
                                      / out["1"]["client_steps_per_s"])
    table(["workers", "conc. each", "spawned: startup", "steps", "released: steps", "paired",
           "steps/commit", "client: starts", "steps", "paired", "done after last start"],
          rows)
    say("  spawned: 1,000 written by a client first, then N workers spawned, timed from"
        " spawning (Python start-up included; 'startup' = spawn -> first ready line)")
    say("  released: N workers ready, stopped (SIGSTOP), 1,000 written, continued (SIGCONT)"
        " and timed from then: execution alone")
    say("  client: N workers idle while a client engine starts 1,000 one by one (a transaction"
        " + NOTIFY each), timed from the first start")
    say("  'paired': steps/s over a 0.5 s raw commit measurement just before each rep;"
        f" 4 workers / 1: released {out['scaling_4_over_1']:.2f}x,"
        f" client {out['client_scaling_4_over_1']:.2f}x")
    return out
