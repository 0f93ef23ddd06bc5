"""The peer workload through DBOS Transact on SQLite. Runs inside bench/.peers/dbos (its own
venv); imports nothing from legato or bench. Prints one JSON object as its last line.

    python dbos_peer.py run DB SYNC WORKFLOWS LATENCY_RUNS
    python dbos_peer.py rec-child DB SYNC SIDE N KILL_AT
    python dbos_peer.py rec-restart DB SYNC SIDE N

Every SQLite connection DBOS opens is put in WAL mode with the given ``synchronous`` setting
(a SQLAlchemy ``connect`` listener on every engine), so both engines write under the same
settings. DBOS on SQLite would otherwise use a rollback journal, which is slower.
"""

from __future__ import annotations

import time

T_IMPORT = time.time()

import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

SYNC = sys.argv[3] if len(sys.argv) > 3 else "NORMAL"

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402


@event.listens_for(Engine, "connect")
def _pragmas(dbapi_conn: Any, record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute(f"PRAGMA synchronous = {SYNC}")
    cur.close()


from dbos import DBOS, SetWorkflowID  # noqa: E402

STEPS = 10
_gate = threading.Event()
_gate.set()
_step5 = 0
_lock = threading.Lock()
_kill_at = 0


@DBOS.step()
def inc(x: int) -> int:
    return x + 1


@DBOS.workflow()
def ten_steps(n: int) -> int:
    x = n
    for _ in range(STEPS):
        x = inc(x)
    return x


@DBOS.step()
def recorded(side: str, wid: str, i: int) -> int:
    _gate.wait()
    fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{wid} {i} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    if i == 5 and _kill_at:
        global _step5
        with _lock:
            _step5 += 1
            hit = _step5 == _kill_at
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)
    return i


@DBOS.workflow()
def recover(side: str) -> int:
    total = 0
    wid = DBOS.workflow_id
    assert wid is not None
    for i in range(1, STEPS + 1):
        total += recorded(side, wid, i)
    return total


def _launch(db: str) -> None:
    DBOS(config={"name": "legato_bench_peer", "system_database_url": f"sqlite:///{db}",
                 "log_level": "WARNING"})
    DBOS.launch()
    logging.getLogger("dbos").setLevel(logging.WARNING)


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def run(db: str, workflows: int, lat_runs: int) -> None:
    _launch(db)
    ten_steps(-1)  # warm-up
    t0 = time.perf_counter()
    handles = [DBOS.start_workflow(ten_steps, i) for i in range(workflows)]
    t_started = time.perf_counter()
    for i, h in enumerate(handles):
        if h.get_result() != i + STEPS:
            raise AssertionError(f"workflow {i} returned a wrong value")
    total = time.perf_counter() - t0
    lat = []
    for i in range(lat_runs):
        t = time.perf_counter()
        h = DBOS.start_workflow(ten_steps, i)
        h.get_result()
        lat.append(time.perf_counter() - t)
    DBOS.destroy()
    emit({"seconds": total, "start_seconds": t_started - t0,
          "workflows_per_s": workflows / total, "steps_per_s": workflows * STEPS / total,
          "latency_ms_p50": pct(lat, 50) * 1e3, "latency_ms_p99": pct(lat, 99) * 1e3,
          "latency_ms": [x * 1e3 for x in lat]})


def rec_child(db: str, side: str, n: int, kill_at: int) -> None:
    global _kill_at
    _kill_at = kill_at
    _launch(db)
    _gate.clear()  # every workflow is started before any step runs
    handles = []
    for i in range(n):
        with SetWorkflowID(f"rec-{i}"):
            handles.append(DBOS.start_workflow(recover, side))
    _gate.set()
    for h in handles:
        h.get_result()
    emit({"error": "the kill never happened"})


def rec_restart(db: str, n: int) -> None:
    t_imported = time.time()
    _launch(db)  # recovers this executor's pending workflows
    t_launched = time.time()
    values = [DBOS.retrieve_workflow(f"rec-{i}").get_result() for i in range(n)]
    t_done = time.time()
    DBOS.destroy()
    expected = sum(range(1, STEPS + 1))
    emit({"t_start": T_IMPORT, "t_imported": t_imported, "t_launched": t_launched,
          "t_done": t_done, "wrong_results": sum(1 for v in values if v != expected)})


def main() -> None:
    mode, db = sys.argv[1], sys.argv[2]
    if mode == "run":
        run(db, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "rec-child":
        rec_child(db, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif mode == "rec-restart":
        rec_restart(db, int(sys.argv[5]))
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
