"""4. Many sleeping workflows: start time, store size, worker RSS, time to wake them all.

Each ``bench_sleeper`` runs one step, then ``ctx.sleep(1 day)`` (longer than the in-memory
wait limit, so the run suspends and becomes a WAITING row). Two child processes, so that
RSS is that of a process doing only this:

* ``start``: an engine on a ``legato.testing.VirtualClock`` frozen at T0 starts N workflows
  one by one through ``engine.start`` and waits until all N are WAITING. It reports the time
  to start them, the time until all are asleep, and its own RSS.
* ``wake``: a fresh worker process on the same file (VirtualClock at T0 + 1 min) launches,
  idles with N sleeping workflows in the store (its RSS is the "worker RSS" figure), then
  ``clock.advance(2 days)`` makes every timer due at once; timed until all N are COMPLETED.

The virtual clock (same process as the engine, as the engine's clock listeners require) is
used so that "time to wake" measures the engine (claim, replay the step and the timer,
complete, group-commit) and not a wall-clock wait for timers to come due.

Run as ``python -m bench.sleepers start|wake URL DB N T0`` by the driver.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Config,
    child_env,
    count_status,
    db_size,
    emit,
    fmt,
    module_cmd,
    proc_status,
    run_json,
    say,
    sqlite_url,
    table,
    tmpdir,
)

T0 = 1_900_000_000.0


def _wait_for(db: str, status: str, n: int, timeout: float) -> float:
    """Seconds until ``n`` rows have ``status``; raises on timeout. Polls (a COUNT over an
    index) every 1% of the time waited so far, so the poll neither loads the machine nor
    adds more than about 1% to the measurement."""
    t0 = time.perf_counter()
    while True:
        if count_status(db, status) >= n:
            return time.perf_counter() - t0
        waited = time.perf_counter() - t0
        if waited > timeout:
            raise TimeoutError(f"only {count_status(db, status)} of {n} are {status}")
        time.sleep(min(max(waited / 100, 0.005), 0.5))


def start_main(url: str, db: str, n: int) -> None:
    import legato
    from bench import workloads
    from legato.testing import VirtualClock

    rss_idle = proc_status()
    engine = legato.Engine(url, clock=VirtualClock(start=T0))
    with engine:
        t0 = time.perf_counter()
        for i in range(n):
            engine.start(workloads.sleeper, i)
        t_started = time.perf_counter() - t0
        t_asleep = _wait_for(db, "WAITING", n, timeout=1800) + t_started
        gc.collect()
        rss = proc_status()
    emit({"start_s": t_started, "asleep_s": t_asleep, "rss_kb": rss.get("VmRSS"),
          "hwm_kb": rss.get("VmHWM"), "rss_before_kb": rss_idle.get("VmRSS")})


def wake_main(url: str, db: str, n: int) -> None:
    import legato
    from bench import workloads
    from legato.testing import VirtualClock

    rss_before = proc_status()
    clock = VirtualClock(start=T0 + 60)
    engine = legato.Engine(url, clock=clock)
    with engine:
        time.sleep(1.0)  # let the worker settle: reap, poll, find nothing due
        gc.collect()
        rss_idle = proc_status()
        t0 = time.perf_counter()
        clock.advance(2 * workloads.SLEEP_SECONDS)
        wake_s = _wait_for(db, "COMPLETED", n, timeout=1800)
        rss_after = proc_status()
    emit({"wake_s": wake_s, "rss_idle_kb": rss_idle.get("VmRSS"),
          "rss_before_engine_kb": rss_before.get("VmRSS"),
          "rss_after_wake_kb": rss_after.get("VmRSS"), "hwm_kb": rss_after.get("VmHWM"),
          "t_wake_start": t0})


def once(sync: str, d: Path, n: int) -> dict[str, Any]:
    db = d / "sleepers.db"
    url = sqlite_url(db, sync)
    timeout = 3600
    started = run_json(module_cmd("sleepers", "start", url, str(db), str(n)), timeout=timeout,
                       env=child_env())
    size = db_size(db)
    woken = run_json(module_cmd("sleepers", "wake", url, str(db), str(n)), timeout=timeout,
                     env=child_env())
    mib = 1024.0
    return {
        "n": n,
        "start_s": started["start_s"],
        "starts_per_s": n / started["start_s"],
        "all_asleep_s": started["asleep_s"],
        "store_bytes": size["total"],
        "store_db_bytes": size["db"],
        "store_wal_bytes": size["wal"],
        "store_bytes_per_workflow": size["total"] / n,
        "starter_rss_mib": started["rss_kb"] / mib,
        "starter_peak_rss_mib": started["hwm_kb"] / mib,
        "worker_rss_mib": woken["rss_idle_kb"] / mib,
        "worker_rss_no_engine_mib": woken["rss_before_engine_kb"] / mib,
        "worker_peak_rss_mib": woken["hwm_kb"] / mib,
        "wake_s": woken["wake_s"],
        "wakes_per_s": n / woken["wake_s"],
    }


def run(cfg: Config) -> dict[str, Any]:
    n = cfg.sleepers or (10_000 if cfg.quick else 100_000)
    say(f"[sleepers] {n:,} workflows: one step, then ctx.sleep(1 day); VirtualClock;"
        " one run per mode")
    out: dict[str, Any] = {"n": n}
    rows = []
    for sync in cfg.modes:
        with tmpdir(f"sleep-{sync.lower()}") as d:
            res = once(sync, d, n)
        out[sync] = res
        rows.append([sync, fmt(res["start_s"], " s", 1), fmt(res["starts_per_s"], "/s"),
                     fmt(res["all_asleep_s"], " s", 1),
                     fmt(res["store_bytes"] / 2**20, " MiB", 1),
                     fmt(res["store_bytes_per_workflow"], " B"),
                     fmt(res["worker_rss_mib"], " MiB", 1),
                     fmt(res["worker_peak_rss_mib"], " MiB", 1),
                     fmt(res["starter_peak_rss_mib"], " MiB", 1),
                     fmt(res["wake_s"], " s", 2), fmt(res["wakes_per_s"], "/s")])
    table(["synchronous", "start all", "starts", "all asleep", "store", "per wf",
           "worker RSS", "peak (wake)", "starter peak", "wake all", "wakes"], rows)
    bare = fmt(out[cfg.modes[0]]["worker_rss_no_engine_mib"], " MiB", 1)
    say("  'worker RSS': a fresh worker process idling on the file with all of them asleep"
        f" (python + legato alone: {bare});")
    say("  'peak (wake)': its peak while waking them all; 'starter peak': the process that"
        " started them; store = db + WAL after the starter exits")
    return out


if __name__ == "__main__":
    mode, url_arg, db_arg, n_arg = sys.argv[1:5]
    if mode == "start":
        start_main(url_arg, db_arg, int(n_arg))
    elif mode == "wake":
        wake_main(url_arg, db_arg, int(n_arg))
    else:
        sys.exit(f"unknown mode {mode!r}")
