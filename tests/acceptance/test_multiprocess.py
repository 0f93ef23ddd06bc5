"""Several worker processes on one SQLite file: take-over, fencing, graceful shutdown."""

from __future__ import annotations

import signal
import time

import pytest
from acceptance_support import Inspector, Procs, check_chain, start_chain, wait_until

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


@pytest.mark.acceptance
@pytest.mark.timeout(90)
def test_kill9_owner_other_process_takes_over(procs: Procs, inspector: Inspector) -> None:
    """kill -9 the worker owning running runs: the other worker takes them over within
    lease + 1 s (in practice at its next heartbeat: the file lock proves the owner dead)."""
    lease, n_steps, n_runs = 1.5, 8, 4
    client = procs.client()
    try:
        workers = [procs.spawn(lease=lease).wait_ready() for _ in range(2)]
        wids = [f"takeover-{i}" for i in range(n_runs)]
        for wid in wids:
            start_chain(client, wid, [0.25] * n_steps)

        def victim_owner() -> str | None:
            st, owner, _, _ = inspector.row(wids[0])
            if st == "RUNNING" and owner and len(inspector.completed_steps(wids[0])) >= 2:
                return owner
            return None

        owner = wait_until(victim_owner, 30, "the first run to be running with 2 steps done")
        victim = next(w for w in workers if w.worker_id == owner)
        survivor = next(w for w in workers if w is not victim)
        t_kill, t_kill_wall = victim.kill9(), time.time()
        owned = [w for w, (st, o) in inspector.owners(wids).items() if o == owner]
        # the victim's lease as it stood when it died (None: already reaped)
        lease_until = next((lu for w, _, lu in inspector.workers() if w == owner), None)
        committed = {w: inspector.completed_steps(w) for w in wids}
        assert wids[0] in owned

        def taken_over() -> bool:
            now = inspector.owners(owned)
            return all(o == survivor.worker_id or st in TERMINAL for st, o in now.values())

        wait_until(taken_over, 10, "the survivor to take the runs over", interval=0.005)
        takeover = time.monotonic() - t_kill
        print(f"\n[takeover] {len(owned)} run(s) of the killed worker taken over in"
              f" {takeover * 1000:.0f} ms (lease {lease}s)")
        assert takeover <= lease + 1.0
        # same host: the dead owner's released file lock, not its lease expiry, let B in
        if lease_until is not None:
            assert t_kill_wall + takeover < lease_until, \
                f"taken over only {t_kill_wall + takeover - lease_until:.2f}s after lease expiry"

        for wid in wids:
            wait_until(lambda w=wid: inspector.row(w)[0] in TERMINAL, 30, f"{wid} to finish")
        execs = inspector.executions()
        attempts = inspector.executions(phase="start")
        for wid in wids:
            recorded = check_chain(client, wid, n_steps).recorded_pids
            for step in range(1, n_steps + 1):
                pids, began = execs[(wid, step)], attempts[(wid, step)]
                assert pids[-1] == recorded[step - 1] == began[-1]
                if step in committed[wid]:
                    assert began == pids == [pids[0]], f"{wid} committed step {step} re-ran"
                else:
                    assert len(began) <= 2, f"{wid} step {step}: {began}"
                    # only an attempt in the killed process may have been lost
                    assert all(p == victim.pid for p in began[:-1]), f"{wid} {step}: {began}"
        # a step re-runs only if the kill hit it mid-flight: one per run the victim held
        reruns = sum(len(p) - 1 for p in attempts.values())
        print(f"[takeover] {reruns} step attempt(s) cut short by the kill and re-run")
        assert reruns <= len(owned)
        assert survivor.alive
    finally:
        client.shutdown()


@pytest.mark.acceptance
@pytest.mark.timeout(90)
def test_stopped_owner_is_fenced_after_lease_expiry(procs: Procs, inspector: Inspector) -> None:
    """SIGSTOP the owner inside a slow step: it still holds its file lock, so the other worker
    waits out the lease, then takes over and completes the run. SIGCONT the old owner: its late
    step result is fenced off (nothing written), and it carries on without crashing."""
    lease = 1.0
    client = procs.client()
    try:
        a = procs.spawn(lease=lease).wait_ready()
        wid = "fenced"
        start_chain(client, wid, [0.0, 2.0, 0.0])
        wait_until(lambda: inspector.started(wid, 2, a.pid), 20, "A to enter the slow step")
        a.sigstop_outside_write_lock(procs.db_path)
        t_stop = time.monotonic()
        st, owner, epoch_a, _ = inspector.row(wid)
        assert (st, owner) == ("RUNNING", a.worker_id)
        lease_until = next(lu for wid_, _, lu in inspector.workers() if wid_ == a.worker_id)

        b = procs.spawn(lease=lease).wait_ready()
        wait_until(lambda: inspector.row(wid)[1] == b.worker_id, 20,
                   "B to take the run over", interval=0.005)
        takeover, t_take_wall = time.monotonic() - t_stop, time.time()
        print(f"\n[fencing] stopped owner's run taken over {takeover:.2f}s after SIGSTOP"
              f" (lease {lease}s)")
        assert t_take_wall >= lease_until, "taken over before the live owner's lease expired"
        assert takeover <= 2 * lease + 3.0
        assert inspector.row(wid)[2] > epoch_a

        wait_until(lambda: inspector.row(wid)[0] in TERMINAL, 20, "B to complete the run")
        check = check_chain(client, wid, 3)
        assert check.recorded_pids == [a.pid, b.pid, b.pid]
        journal = client.handle(wid).history()
        assert a.worker_id not in [w for w, _, _ in inspector.workers()], "A was not reaped"

        a.signal(signal.SIGCONT)
        wait_until(lambda: inspector.finished(wid, 2, a.pid), 20, "A to finish its stale step")
        # A's heartbeat finds its worker row gone (B reaped it) and registers afresh
        wait_until(lambda: a.worker_id in [w for w, _, _ in inspector.workers()]
                   or "declared dead" in a.stderr(), 20, "A to notice it lost its lease")
        assert a.alive, a.stderr()
        assert client.handle(wid).history() == journal, "the fenced worker wrote"
        assert check_chain(client, wid, 3).result == check.result
        assert inspector.executions(wid)[(wid, 2)] == [b.pid, a.pid]  # B's, then A's late one

        for w in (a, b):
            w.signal(signal.SIGTERM)
        assert [w.wait_exit(20) for w in (a, b)] == [0, 0], procs.logs()
        assert "Traceback" not in a.stderr()
    finally:
        client.shutdown()


@pytest.mark.acceptance
@pytest.mark.timeout(90)
def test_sigterm_is_graceful_and_another_worker_finishes(procs: Procs,
                                                          inspector: Inspector) -> None:
    """SIGTERM a worker mid-run: it finishes the steps in flight, records them, releases its
    runs and exits 0 within its grace period; another worker completes everything, and no
    step runs twice."""
    grace, n_steps, n_runs = 5.0, 8, 8
    client = procs.client()
    try:
        a = procs.spawn(lease=2.0, grace=grace).wait_ready()
        wids = [f"graceful-{i}" for i in range(n_runs)]
        for wid in wids:
            start_chain(client, wid, [0.3] * n_steps)
        wait_until(lambda: all(o == a.worker_id for _, o in inspector.owners(wids).values())
                   and inspector.completed_steps(wids[0]), 20, "A to be running every run")

        a.signal(signal.SIGTERM)
        t_term = time.monotonic()
        rc = a.wait_exit(grace + 10)
        elapsed = time.monotonic() - t_term
        print(f"\n[graceful] SIGTERM -> exit {rc} in {elapsed:.2f}s (grace {grace}s)")
        assert rc == 0, a.stderr()
        assert elapsed < grace
        assert a.stopped_line.wait(5)
        assert "Traceback" not in a.stderr(), a.stderr()
        assert a.worker_id not in [w for w, _, _ in inspector.workers()]
        # A recorded the steps it had in flight and released every unfinished run
        left = [w for w, (st, _) in inspector.owners(wids).items() if st not in TERMINAL]
        assert left, "A finished everything before SIGTERM: nothing to hand over"
        assert all(o is None for _, o in inspector.owners(wids).values())
        assert inspector.executions(phase="start") == inspector.executions()

        b = procs.spawn(lease=2.0, grace=grace).wait_ready()

        for wid in wids:
            wait_until(lambda w=wid: inspector.row(w)[0] in TERMINAL, 30, f"{wid} to finish")
        execs = inspector.executions()
        attempts = inspector.executions(phase="start")
        for wid in wids:
            check_chain(client, wid, n_steps)
            for step in range(1, n_steps + 1):
                assert len(execs[(wid, step)]) == 1, f"{wid} step {step}: {execs[(wid, step)]}"
        assert attempts == execs, "a step was cut short by the graceful shutdown"
        assert any(b.pid in p for p in execs.values())
        b.signal(signal.SIGTERM)
        assert b.wait_exit(20) == 0
    finally:
        client.shutdown()
