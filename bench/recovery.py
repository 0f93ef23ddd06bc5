"""3. Recovery: kill -9 during step 5 of 100 running workflows, restart, time to completion.

A child process starts 100 ``bench_recover`` workflows (10 steps each) and runs them. Every
step appends ``<workflow> <step> <pid>`` to a side file when it *executes*. The fault point
``bench_step5`` inside step 5 is armed with ``LEGATO_FAULTS=bench_step5:K`` (K = half the
workflows), so the child SIGKILLs itself while workflows are in their step 5. The driver
then reads which step completions the database holds, launches a fresh process with an
engine on the same file, and times it from launch until all 100 have completed.

Counted: completed steps re-executed after the restart (their completion was committed
before the kill: must be 0) and in-flight steps re-executed (ran, but their completion was
not committed: at-least-once execution allows these).

Run as ``python -m bench.recovery child|restart DB SIDE N`` by the driver.
"""

from __future__ import annotations

import time

T_IMPORT = time.time()  # before importing legato: the restart is timed from process launch

import json  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    Config,
    child_env,
    emit,
    fmt,
    last_json,
    median,
    module_cmd,
    say,
    sqlite_url,
    table,
    tmpdir,
)

WORKFLOWS = 100
STEPS = 10


def _ids(n: int) -> list[str]:
    return [f"rec-{i}" for i in range(n)]


# --- the two child processes --------------------------------------------------------------


def child_main(url: str, side: str, n: int) -> None:
    """Start ``n`` workflows and run them until the armed fault point kills us."""
    import legato
    from bench import workloads

    engine = legato.Engine(url)
    # all rows first, then launch: every workflow is running before any reaches step 5
    handles = [engine.start(workloads.recover, side, workflow_id=wid) for wid in _ids(n)]
    with engine:
        for h in handles:
            h.result(timeout=60)
    emit({"error": "the fault point never fired"})


def restart_main(url: str, side: str, n: int) -> None:
    """A fresh process: launch an engine on the same file and wait for every workflow."""
    import legato
    from bench import workloads

    t_imported = time.time()
    engine = legato.Engine(url)
    t_engine = time.time()
    with engine:
        t_launched = time.time()
        values = [engine.handle(wid).result(timeout=120) for wid in _ids(n)]
        t_done = time.time()
    expected = sum(range(1, workloads.STEPS + 1))
    emit({"t_start": T_IMPORT, "t_imported": t_imported, "t_engine": t_engine,
          "t_launched": t_launched, "t_done": t_done,
          "wrong_results": sum(1 for v in values if v != expected)})


# --- the driver ---------------------------------------------------------------------------


def _committed(db: Path) -> set[tuple[str, int]]:
    """(workflow, step) pairs whose StepCompleted is in the journal."""
    c = sqlite3.connect(str(db), timeout=30)
    try:
        rows = c.execute("SELECT workflow_id, data FROM journal WHERE type = 'StepCompleted'"
                         " AND workflow_id LIKE 'rec-%'").fetchall()
    finally:
        c.close()
    return {(wid, int(json.loads(data)["result"])) for wid, data in rows}


def _executions(side: Path) -> list[tuple[str, int, int]]:
    if not side.exists():
        return []
    out = []
    for line in side.read_text().splitlines():
        wid, step, pid = line.split()
        out.append((wid, int(step), int(pid)))
    return out


def once(url: str, db: Path, side: Path, n: int) -> dict[str, Any]:
    kill_at = max(1, n // 2)
    env = child_env({"LEGATO_FAULTS": f"bench_step5:{kill_at}"})
    child = subprocess.run(module_cmd("recovery", "child", url, str(side), str(n)),
                           env=env, capture_output=True, text=True, timeout=180, check=False)
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the child was not killed (exit {child.returncode}):"
                           f" {child.stderr.strip()[-800:]}")
    committed = _committed(db)
    before = _executions(side)
    before_pairs = {(w, s) for w, s, _ in before}
    t_spawn = time.time()
    p = subprocess.run(module_cmd("recovery", "restart", url, str(side), str(n)),
                       env=child_env(), capture_output=True, text=True, timeout=180,
                       check=False)
    t_exit = time.time()
    if p.returncode != 0:
        raise RuntimeError(f"the restarted process failed ({p.returncode}):"
                           f" {p.stderr.strip()[-800:]}")
    r = last_json(p.stdout)
    after = _executions(side)[len(before):]
    after_pairs = Counter((w, s) for w, s, _ in after)
    in_flight = before_pairs - committed
    return {
        "recovery_s": r["t_done"] - t_spawn,  # process launch -> all complete
        "engine_to_done_s": r["t_done"] - r["t_engine"],
        "launch_to_done_s": r["t_done"] - r["t_launched"],
        "interpreter_and_import_s": r["t_imported"] - t_spawn,
        "process_exit_s": t_exit - t_spawn,
        "steps_committed_before_kill": len(committed),
        "steps_executed_before_kill": len(before_pairs),
        "in_flight_at_kill": len(in_flight),
        "reexecuted_completed_steps": sum(1 for k in after_pairs if k in committed),
        "reexecuted_in_flight_steps": sum(1 for k in after_pairs if k in in_flight),
        "steps_run_after_restart": len(after),
        "duplicate_runs_after_restart": sum(c - 1 for c in after_pairs.values()),
        "wrong_results": r["wrong_results"],
        "missing_steps": n * STEPS - len(committed | set(after_pairs)),
    }


def run(cfg: Config) -> dict[str, Any]:
    reps = cfg.n_reps(3, 1)
    n = WORKFLOWS
    say(f"[recovery] {n} workflows x {STEPS} steps in a child; SIGKILL inside step 5 (the"
        f" {n // 2}th step-5 execution); restart; {reps} reps per mode")
    out: dict[str, Any] = {"workflows": n, "steps": STEPS, "reps": reps}
    rows = []
    for sync in cfg.modes:
        runs = []
        with tmpdir(f"rec-{sync.lower()}") as d:
            for i in range(reps):
                db = d / f"rec{i}.db"
                runs.append(once(sqlite_url(db, sync), db, d / f"side{i}.txt", n))
        res = {key: median([r[key] for r in runs]) for key in
               ("recovery_s", "engine_to_done_s", "launch_to_done_s",
                "interpreter_and_import_s", "steps_committed_before_kill",
                "in_flight_at_kill")}
        for key in ("reexecuted_completed_steps", "reexecuted_in_flight_steps",
                    "duplicate_runs_after_restart", "wrong_results", "missing_steps"):
            res[key] = sum(r[key] for r in runs)  # totals over all reps: counts, not times
        res["runs"] = runs
        out[sync] = res
        rows.append([sync, fmt(res["recovery_s"], " s", 3), fmt(res["engine_to_done_s"], " s", 3),
                     fmt(res["interpreter_and_import_s"], " s", 3),
                     f"{res['steps_committed_before_kill']:.0f}",
                     f"{res['in_flight_at_kill']:.0f}",
                     str(res["reexecuted_completed_steps"]),
                     str(res["reexecuted_in_flight_steps"]), str(res["wrong_results"])])
    table(["synchronous", "launch->all done", "engine->done", "python+import",
           "committed@kill", "in flight", "re-run completed", "re-run in-flight", "wrong"],
          rows)
    say("  'launch->all done' = from spawning the new process until all 100 have completed"
        " (median); re-run counts are totals over all reps")
    return out


if __name__ == "__main__":
    mode, url_arg, side_arg, n_arg = sys.argv[1:5]
    if mode == "child":
        child_main(url_arg, side_arg, int(n_arg))
    elif mode == "restart":
        restart_main(url_arg, side_arg, int(n_arg))
    else:
        sys.exit(f"unknown mode {mode!r}")
