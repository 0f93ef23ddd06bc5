"""2. legato: 1,000 workflows x 10 trivial steps; 10-step latency; per-step overhead.

Everything runs in this process with a launched engine (defaults: concurrency=500,
step_threads=32) on a fresh database file per repetition. The workflows are started one
after another through ``engine.start`` and then awaited through their handles, so the
measured time includes starting, running, group-committing and reporting results.
"""

from __future__ import annotations

import gc
import threading
import time
import timeit
from typing import Any

import legato
from bench import workloads
from bench.common import (
    Config,
    Stopwatch,
    fmt,
    median,
    paired_ratio,
    percentile,
    say,
    sqlite_url,
    start_stats,
    table,
    tmpdir,
)
from bench.raw import commit_rate

WORKFLOWS = 1000
LONG_WORKFLOW_STEPS = 1000
#: callers starting workflows at once in the 'threads' variant (a web server's request threads)
STARTER_THREADS = 8
#: worker process counts of the Engine(processes=N) variant
PROCESS_COUNTS = (1, 2)


def _engine(url: str, processes: int = 0) -> legato.Engine:
    return legato.Engine(url, processes=processes)


def _start_in_threads(engine: legato.Engine, workflows: int,
                      threads: int) -> list[legato.WorkflowHandle]:
    """``engine.start`` called by ``threads`` threads at once, each for its share."""
    handles: list[legato.WorkflowHandle | None] = [None] * workflows
    failed: list[BaseException] = []

    def starter(first: int) -> None:
        try:
            for i in range(first, workflows, threads):
                handles[i] = engine.start(workloads.ten_steps, i)
        except BaseException as exc:
            failed.append(exc)

    pool = [threading.Thread(target=starter, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failed:
        raise failed[0]
    return [h for h in handles if h is not None]


def throughput_once(url: str, workflows: int, bulk: bool = False,
                    threads: int = 1, processes: int = 0) -> dict[str, float]:
    """Start ``workflows`` ten-step workflows, then wait for every result: one by one with
    ``engine.start`` (from ``threads`` threads at once), or with ``bulk`` in one
    ``engine.start_many`` transaction; run by the engine's threads, or by ``processes``
    worker processes."""
    engine = _engine(url, processes)
    with engine:
        engine.start(workloads.ten_steps, -1).result(timeout=30)  # warm: threads, caches
        gc.collect()
        t0 = time.perf_counter()
        if bulk:
            handles = engine.start_many(workloads.ten_steps, [(i,) for i in range(workflows)])
        elif threads > 1:
            handles = _start_in_threads(engine, workflows, threads)
        else:
            handles = [engine.start(workloads.ten_steps, i) for i in range(workflows)]
        t_started = time.perf_counter()
        for i, h in enumerate(handles):
            value = h.result(timeout=600)
            if value != i + workloads.STEPS:
                raise AssertionError(f"workflow {i} returned {value!r}")
        t_done = time.perf_counter()
    total = t_done - t0
    return {
        "seconds": total,
        "start_seconds": t_started - t0,
        "workflows_per_s": workflows / total,
        "steps_per_s": workflows * workloads.STEPS / total,
        "starts_per_s": workflows / (t_started - t0),
    }


def execute_once(url: str, workflows: int) -> dict[str, float]:
    """The same workload with the start path taken out: all rows are written before the
    engine launches, then the worker claims and runs them (shows the runtime's own rate)."""
    engine = _engine(url)
    t0 = time.perf_counter()
    handles = [engine.start(workloads.ten_steps, i) for i in range(workflows)]
    t_written = time.perf_counter()
    gc.collect()
    t1 = time.perf_counter()
    with engine:
        for i, h in enumerate(handles):
            if h.result(timeout=600) != i + workloads.STEPS:
                raise AssertionError(f"workflow {i} returned a wrong value")
        t_done = time.perf_counter()
    return {"seconds": t_done - t1, "steps_per_s": workflows * workloads.STEPS / (t_done - t1),
            "unlaunched_starts_per_s": workflows / (t_written - t0)}


def latency(url: str, runs: int) -> list[float]:
    """Start-to-result seconds of one ten-step workflow at a time, ``runs`` times."""
    engine = _engine(url)
    samples: list[float] = []
    with engine:
        for i in range(5):  # warm-up
            engine.start(workloads.ten_steps, i).result(timeout=30)
        gc.collect()
        for i in range(runs):
            t0 = time.perf_counter()
            engine.start(workloads.ten_steps, i).result(timeout=30)
            samples.append(time.perf_counter() - t0)
    return samples


def long_workflow(url: str, steps: int) -> float:
    """Seconds per step of one workflow running ``steps`` steps in a row (nothing else runs:
    every step is its own durable commit)."""
    engine = _engine(url)
    with engine:
        engine.start(workloads.many_steps, 10).result(timeout=30)
        with Stopwatch() as sw:
            value = engine.start(workloads.many_steps, steps).result(timeout=600)
        assert value == steps
    return sw.seconds / steps


def plain_call_seconds() -> float:
    n = 200_000
    best = min(timeit.repeat("f(1)", globals={"f": workloads.plain}, number=n, repeat=5))
    return best / n


def run(cfg: Config) -> dict[str, Any]:
    reps = cfg.n_reps(5, 3)
    lat_runs = 50 if cfg.quick else 200
    long_steps = 300 if cfg.quick else LONG_WORKFLOW_STEPS
    long_reps = cfg.n_reps(3, 1)
    say(f"[throughput] {WORKFLOWS} workflows x {workloads.STEPS} steps, {reps} reps per mode;"
        f" latency over {lat_runs} sequential runs; one {long_steps}-step workflow"
        f" x {long_reps}")
    out: dict[str, Any] = {"workflows": WORKFLOWS, "steps": workloads.STEPS, "reps": reps,
                           "latency_runs": lat_runs, "long_workflow_steps": long_steps}
    plain = plain_call_seconds()
    out["plain_call_us"] = plain * 1e6
    raw = cfg.results.get("raw", {})
    rows: list[list[str]] = []
    lat_rows: list[list[str]] = []
    proc_rows: list[list[str]] = []
    for sync in cfg.modes:
        runs: list[dict[str, float]] = []
        bulks: list[dict[str, float]] = []
        threaded: list[dict[str, float]] = []
        in_procs: dict[int, list[dict[str, float]]] = {n: [] for n in PROCESS_COUNTS}
        execs: list[dict[str, float]] = []
        paired: list[float] = []
        with tmpdir(f"tp-{sync.lower()}") as d:
            for i in range(reps):  # a raw measurement beside each rep: paired ratios
                paired.append(commit_rate(d / f"raw{i}.db", sync, 0.5))
                runs.append(throughput_once(sqlite_url(d / f"tp{i}.db", sync), WORKFLOWS))
                bulks.append(throughput_once(sqlite_url(d / f"bk{i}.db", sync), WORKFLOWS,
                                             bulk=True))
                threaded.append(throughput_once(sqlite_url(d / f"th{i}.db", sync), WORKFLOWS,
                                                threads=STARTER_THREADS))
                for n in PROCESS_COUNTS:
                    in_procs[n].append(throughput_once(sqlite_url(d / f"p{n}-{i}.db", sync),
                                                       WORKFLOWS, processes=n))
                execs.append(execute_once(sqlite_url(d / f"ex{i}.db", sync), WORKFLOWS))
            lat = latency(sqlite_url(d / "lat.db", sync), lat_runs)
            per_step = [long_workflow(sqlite_url(d / f"long{i}.db", sync), long_steps)
                        for i in range(long_reps)]
        steps_s = median([r["steps_per_s"] for r in runs])
        raw_commits = raw.get(sync, {}).get("commits_per_s")
        seq_step = median(per_step)
        res = {
            **start_stats(runs, paired, raw_commits),
            "start_many_steps_per_s": median([r["steps_per_s"] for r in bulks]),
            "start_many_paired_ratio": paired_ratio(bulks, paired),
            "start_many_starts_per_s": median([r["starts_per_s"] for r in bulks]),
            "threads_steps_per_s": median([r["steps_per_s"] for r in threaded]),
            "threads_paired_ratio": paired_ratio(threaded, paired),
            **{f"processes_{n}_steps_per_s": median([r["steps_per_s"] for r in in_procs[n]])
               for n in PROCESS_COUNTS},
            **{f"processes_{n}_paired_ratio": paired_ratio(in_procs[n], paired)
               for n in PROCESS_COUNTS},
            "execute_only_paired_ratio": paired_ratio(execs, paired),
            "execute_only_steps_per_s": median([r["steps_per_s"] for r in execs]),
            "execute_only_ratio_to_raw_commits":
                median([r["steps_per_s"] for r in execs]) / raw_commits if raw_commits else None,
            "unlaunched_starts_per_s": median([r["unlaunched_starts_per_s"] for r in execs]),
            "latency_ms_p50": percentile(lat, 50) * 1e3,
            "latency_ms_p90": percentile(lat, 90) * 1e3,
            "latency_ms_p99": percentile(lat, 99) * 1e3,
            "latency_ms_mean": sum(lat) / len(lat) * 1e3,
            "sequential_step_us": seq_step * 1e6,
            "sequential_step_overhead_us": (seq_step - plain) * 1e6,
            "amortized_step_us": 1e6 / steps_s,
            "amortized_step_overhead_us": 1e6 / steps_s - plain * 1e6,
        }
        out[sync] = res
        ratio_text = "n/a" if raw_commits is None else f"{res['ratio_to_raw_commits']:.2f}"
        exec_ratio = res["execute_only_ratio_to_raw_commits"]
        rows.append([sync, fmt(res["starts_per_s"], "/s"), fmt(res["workflows_per_s"], "/s"),
                     fmt(steps_s, "/s"), ratio_text, f"{res['paired_ratio']:.2f}",
                     fmt(res["start_many_steps_per_s"], "/s"),
                     f"{res['start_many_paired_ratio']:.2f}",
                     fmt(res["threads_steps_per_s"], "/s"), f"{res['threads_paired_ratio']:.2f}",
                     fmt(res["execute_only_steps_per_s"], "/s"),
                     "n/a" if exec_ratio is None else f"{exec_ratio:.2f}",
                     f"{res['execute_only_paired_ratio']:.2f}"])
        proc_rows.append([sync, *(f"{fmt(res[f'processes_{n}_steps_per_s'], '/s')}"
                                   f" ({res[f'processes_{n}_paired_ratio']:.2f})"
                                   for n in PROCESS_COUNTS)])
        lat_rows.append([sync, fmt(res["latency_ms_p50"], " ms", 2),
                         fmt(res["latency_ms_p90"], " ms", 2),
                         fmt(res["latency_ms_p99"], " ms", 2),
                         fmt(res["amortized_step_overhead_us"], " us", 1),
                         fmt(res["sequential_step_overhead_us"], " us", 1)])
    table(["synchronous", "starts", "workflows", "steps", "steps/raw", "paired",
           "start_many steps", "paired", f"{STARTER_THREADS} threads steps", "paired",
           "execute-only steps", "exec/raw", "paired"], rows)
    say("  start 1,000 one by one (engine.start) then wait for all (medians); 'start_many':"
        " the 1,000 started in one engine.start_many transaction;"
        f" '{STARTER_THREADS} threads': engine.start called by {STARTER_THREADS} threads at"
        " once (a web server's request threads); 'execute-only': the same 1,000 written"
        " before the engine launches, timed from launch (no start path)")
    say("  '/raw': over the raw benchmark's median; 'paired': median of per-rep ratios to a"
        " 0.5 s raw measurement taken just before each rep (robust to drifting load)")
    say()
    table(["synchronous", *(f"Engine(processes={n}) steps (paired)" for n in PROCESS_COUNTS)],
          proc_rows)
    say("  the same one-by-one loop, the workflows run by the engine's worker processes"
        " (spawned at launch) instead of its threads: the start loop no longer shares a GIL"
        " with the runtime")
    say()
    table(["synchronous", "10-step p50", "p90", "p99", "step overhead (1,000 wf)",
           "step overhead (alone)"], lat_rows)
    say(f"  latency: start -> result of one workflow at a time, {lat_runs} runs; plain"
        f" function call: {plain * 1e9:.0f} ns")
    say("  'step overhead (1,000 wf)' = 1/(steps/s) - plain call (amortized over concurrent"
        f" workflows); '(alone)' = one {long_steps}-step workflow by itself, per step")
    return out
