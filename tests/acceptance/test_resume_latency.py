"""How soon a worker process resumes runs that became runnable: woken timers, orphaned runs.

Both tests were written as expected failures documenting engine bugs, since fixed; the
docstrings name the cause.
"""

from __future__ import annotations

import time

import pytest
from acceptance_support import Inspector, Procs, check_chain, start_chain, wait_until

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


@pytest.mark.acceptance
@pytest.mark.timeout(60)
def test_durable_sleep_wakes_on_time_not_at_next_heartbeat(procs: Procs,
                                                           inspector: Inspector) -> None:
    lease, sleep_secs = 9.0, 1.2  # heartbeat every 3 s: a late wake-up is unmistakable
    client = procs.client()
    try:
        procs.spawn(lease=lease).wait_ready()
        t0 = time.monotonic()
        start_chain(client, "sleeper", [0.0], sleep_after=1, sleep_secs=sleep_secs)
        wait_until(lambda: inspector.row("sleeper")[0] in TERMINAL, 20, "the run to finish")
        took = time.monotonic() - t0
        print(f"\n[wake] a {sleep_secs}s durable sleep took {took:.2f}s (lease {lease}s)")
        check_chain(client, "sleeper", 1)
        assert took <= sleep_secs + 0.8
    finally:
        client.shutdown()


@pytest.mark.acceptance
@pytest.mark.timeout(60)
def test_orphaned_runs_resume_before_runs_queued_after_them(procs: Procs,
                                                            inspector: Inspector) -> None:
    lease = 1.5
    client = procs.client()
    try:
        a = procs.spawn(lease=lease, concurrency=2, step_threads=2).wait_ready()
        orphans = ["orphan-0", "orphan-1"]
        for wid in orphans:
            start_chain(client, wid, [0.4] * 6)
        wait_until(lambda: all(o == a.worker_id for _, o in inspector.owners(orphans).values()),
                   20, "A to run both runs")
        queued = [f"queued-{i}" for i in range(4)]
        for wid in queued:  # A is full: these wait in the queue
            start_chain(client, wid, [0.5] * 4)
        b = procs.spawn(lease=lease, concurrency=2, step_threads=2).wait_ready()
        wait_until(lambda: sum(o == b.worker_id for _, o in inspector.owners(queued).values())
                   == 2, 20, "B to fill its two slots from the queue")
        first_two = {w for w, (_, o) in inspector.owners(queued).items() if o == b.worker_id}
        a.kill9()
        wait_until(lambda: all(o != a.worker_id for _, o in inspector.owners(orphans).values()),
                   lease + 1.0, "B to release the dead worker's runs")
        mark = inspector.fx.execute("SELECT COALESCE(MAX(id), 0) FROM effects").fetchall()[0][0]

        def first_start_after_mark(wid: str) -> int | None:
            r = inspector.fx.execute(
                "SELECT MIN(id) FROM effects WHERE wid = ? AND phase = 'start' AND id > ?"
                " AND pid = ?", (wid, mark, b.pid)).fetchall()
            return r[0][0]

        wait_until(lambda: all(first_start_after_mark(w) for w in orphans), 30,
                   "B to resume the orphaned runs")
        resumed_at = max(first_start_after_mark(w) or 0 for w in orphans)
        jumped = [w for w in queued if w not in first_two
                  and (first_start_after_mark(w) or resumed_at + 1) < resumed_at]
        assert not jumped, f"runs queued later started before the orphaned ones: {jumped}"
        for wid in orphans + queued:
            wait_until(lambda w=wid: inspector.row(w)[0] in TERMINAL, 30, f"{wid} to finish")
        for wid in orphans:
            check_chain(client, wid, 6)
    finally:
        client.shutdown()
