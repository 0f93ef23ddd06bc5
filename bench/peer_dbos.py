"""5. The peer: the same workloads through DBOS Transact on SQLite.

The driver keeps DBOS out of legato's environment: it creates ``bench/.peers/dbos`` with
``python -m venv`` and ``pip install dbos`` (reused while it imports), then runs
``bench/peers/dbos_peer.py`` there as a subprocess that prints JSON. Each throughput
repetition is a fresh process and database. DBOS runs each started workflow in a thread of
its own executor; its SQLite connections get WAL and the same ``synchronous`` as legato.

Recovery follows the legato benchmark: 100 workflows x 10 steps, the process SIGKILLs
itself inside the 50th step-5 execution (steps wait until all 100 are started), a new
process launches DBOS on the same file (DBOS recovers its pending workflows at launch) and
is timed from launch until all 100 results are in. DBOS's committed step outputs
(``operation_outputs``) tell which re-executed steps had completed.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH_DIR,
    Config,
    fmt,
    fmt_ratio,
    last_json,
    median,
    percentile,
    ratio,
    say,
    table,
    tmpdir,
)

VENV = BENCH_DIR / ".peers" / "dbos"
PEER = BENCH_DIR / "peers" / "dbos_peer.py"
PY = VENV / "bin" / "python"


def _version() -> str | None:
    if not PY.exists():
        return None
    p = subprocess.run([str(PY), "-c", "import importlib.metadata as m, dbos;"
                        " print(m.version('dbos'))"], capture_output=True, text=True,
                       timeout=120, check=False)
    return p.stdout.strip() if p.returncode == 0 else None


def ensure_venv() -> str:
    """DBOS's version, installing it into its own venv first if needed; raises why not."""
    version = _version()
    if version:
        return version
    say(f"  creating {VENV.relative_to(BENCH_DIR.parent)} and installing dbos ...")
    steps = [[sys.executable, "-m", "venv", "--clear", str(VENV)],
             [str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", "dbos"]]
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if p.returncode != 0:
            lines = (p.stderr or p.stdout).strip().splitlines()
            errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-3:]
            what = "pip install dbos" if "pip" in cmd else "python -m venv"
            raise RuntimeError(f"{what} failed: " + " | ".join(errors[-3:]))
    version = _version()
    if not version:
        raise RuntimeError("dbos installed but does not import")
    return version


def _peer(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PY), str(PEER), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _peer_json(*args: str, timeout: float = 900) -> dict[str, Any]:
    p = _peer(*args, timeout=timeout)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-6:]
        raise RuntimeError(f"dbos peer {args[0]} exited {p.returncode}: " + " | ".join(tail))
    return last_json(p.stdout)


def _committed(db: Path) -> set[tuple[str, int]] | None:
    try:
        c = sqlite3.connect(str(db), timeout=30)
        try:
            rows = c.execute("SELECT workflow_uuid, function_id FROM operation_outputs"
                             " WHERE workflow_uuid LIKE 'rec-%' AND function_name LIKE"
                             " '%recorded%' AND error IS NULL").fetchall()
        finally:
            c.close()
    except sqlite3.Error:
        return None
    return {(w, int(f)) for w, f in rows}


def _executions(side: Path) -> list[tuple[str, int]]:
    if not side.exists():
        return []
    return [(ln.split()[0], int(ln.split()[1])) for ln in side.read_text().splitlines()]


def recovery_once(d: Path, sync: str, n: int) -> dict[str, Any]:
    db, side = d / "rec.sqlite", d / "side.txt"
    p = _peer("rec-child", str(db), sync, str(side), str(n), str(n // 2), timeout=300)
    if p.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the DBOS child was not killed (exit {p.returncode}):"
                           f" {p.stderr.strip()[-500:]}")
    committed = _committed(db)
    before = _executions(side)
    t_spawn = time.time()
    r = _peer_json("rec-restart", str(db), sync, str(side), str(n), timeout=300)
    after = Counter(_executions(side)[len(before):])
    res: dict[str, Any] = {
        "recovery_s": r["t_done"] - t_spawn,
        "launch_to_done_s": r["t_done"] - r["t_launched"],
        "interpreter_and_import_s": r["t_imported"] - t_spawn,
        "wrong_results": r["wrong_results"],
        "steps_executed_before_kill": len(set(before)),
        "reexecuted_steps": sum(1 for k in after if k in set(before)),
    }
    if committed is not None:
        res["steps_committed_before_kill"] = len(committed)
        res["reexecuted_completed_steps"] = sum(1 for k in after if k in committed)
    return res


def run(cfg: Config) -> dict[str, Any]:
    workflows = 200 if cfg.quick else 1000
    reps = cfg.n_reps(3, 1)
    lat_runs = 20 if cfg.quick else 100
    rec_reps = cfg.n_reps(2, 1)
    say(f"[dbos] DBOS Transact on SQLite (own venv): {workflows} workflows x 10 steps,"
        f" {reps} reps per mode; latency over {lat_runs} runs; recovery x {rec_reps}")
    out: dict[str, Any] = {"workflows": workflows, "reps": reps, "latency_runs": lat_runs}
    try:
        out["version"] = ensure_venv()
    except Exception as exc:
        say(f"  DBOS unavailable, skipped: {exc}")
        out["error"] = str(exc)
        return out
    say(f"  dbos {out['version']}")
    legato = cfg.results.get("throughput", {})
    legato_rec = cfg.results.get("recovery", {})
    rows = []
    for sync in cfg.modes:
        res: dict[str, Any] = {}
        try:
            runs = []
            for i in range(reps):
                with tmpdir(f"dbos-{sync.lower()}") as d:
                    runs.append(_peer_json("run", str(d / f"tp{i}.sqlite"), sync,
                                           str(workflows), str(lat_runs)))
            lat = [x for r in runs for x in r.pop("latency_ms")]
            res.update({
                "steps_per_s": median([r["steps_per_s"] for r in runs]),
                "steps_per_s_all": [r["steps_per_s"] for r in runs],
                "workflows_per_s": median([r["workflows_per_s"] for r in runs]),
                "latency_ms_p50": percentile(lat, 50),
                "latency_ms_p99": percentile(lat, 99),
            })
            recs = []
            for _ in range(rec_reps):
                with tmpdir(f"dbos-rec-{sync.lower()}") as d:
                    recs.append(recovery_once(d, sync, 100))
            res["recovery"] = recs
            res["recovery_s"] = median([r["recovery_s"] for r in recs])
            res["reexecuted_completed_steps"] = sum(
                r.get("reexecuted_completed_steps", 0) for r in recs)
        except Exception as exc:
            say(f"  {sync}: DBOS run failed: {exc}")
            res["error"] = str(exc)
        mine = legato.get(sync, {})
        res["legato_steps_ratio"] = ratio(mine.get("steps_per_s"), res.get("steps_per_s"))
        res["legato_latency_speedup"] = ratio(res.get("latency_ms_p50"),
                                              mine.get("latency_ms_p50"))
        res["legato_recovery_speedup"] = ratio(res.get("recovery_s"),
                                               legato_rec.get(sync, {}).get("recovery_s"))
        out[sync] = res
        rows.append([sync, fmt(res.get("steps_per_s"), "/s"),
                     fmt(res.get("latency_ms_p50"), " ms", 1),
                     fmt(res.get("latency_ms_p99"), " ms", 1),
                     fmt(res.get("recovery_s"), " s", 2),
                     str(res.get("reexecuted_completed_steps", "n/a")),
                     fmt_ratio(res["legato_steps_ratio"]),
                     fmt_ratio(res["legato_latency_speedup"]),
                     fmt_ratio(res["legato_recovery_speedup"])])
    table(["synchronous", "DBOS steps", "10-step p50", "p99", "recovery", "re-run completed",
           "legato steps x", "latency x", "recovery x"], rows)
    say("  'x' columns: legato's advantage (its steps/s over DBOS's; DBOS's time over"
        " legato's); n/a where the legato side was not run")
    return out
