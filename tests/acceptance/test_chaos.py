"""SQLite chaos (issue 3's chaos acceptance, SQLite variant): two worker processes on one file,
150 runs of 10 steps; every 1-2 s one worker is killed with SIGKILL and a replacement starts.
Every run must complete with the right result, journals stay gap- and duplicate-free, each
step is recorded once, and a step runs again only when a kill hit it mid-flight."""

from __future__ import annotations

import os
import random
import signal
import statistics
import time
import warnings
from dataclasses import dataclass

import pytest
from acceptance_support import Inspector, Procs, WorkerProc, check_chain, start_chain, wait_until

N_RUNS = 150
N_STEPS = 10
LEASE = 1.5
CONCURRENCY = 6  # per worker: keeps the run ~20-30 s so that it sees many kills
CHAOS_FOR = 40.0  # stop killing after this long
DEADLINE = 75.0  # everything must have completed by then
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


@dataclass
class Kill:
    proc: WorkerProc
    at: float
    owned: set[str]  # runs the killed worker held
    released: float | None = None  # seconds until no run is held by the dead worker any more
    resumed: float | None = None  # ... and each is held by a live worker (or finished)


@pytest.mark.acceptance
@pytest.mark.chaos
@pytest.mark.timeout(150)
def test_sqlite_chaos_kill9_random_worker_every_1_to_2s(procs: Procs,
                                                        inspector: Inspector) -> None:
    seed = int(os.environ.get("LEGATO_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"\n[chaos] seed {seed} (LEGATO_CHAOS_SEED to replay)")

    def spawn() -> WorkerProc:
        return procs.spawn(lease=LEASE, concurrency=CONCURRENCY, step_threads=CONCURRENCY)

    client = procs.client()
    try:
        live = [spawn(), spawn()]
        for w in live:
            w.wait_ready()
        wids = [f"chaos-{i:03d}" for i in range(N_RUNS)]
        for wid in wids:
            start_chain(client, wid, [round(rng.uniform(0.05, 0.25), 3)
                                      for _ in range(N_STEPS)])
        t0 = time.monotonic()
        kills: list[Kill] = []
        next_kill = t0 + rng.uniform(1, 2)
        while True:
            now = time.monotonic()
            states = inspector.owners(wids)
            for k in kills:
                dead = k.proc.worker_id
                if k.released is None and all(states[w][1] != dead for w in k.owned):
                    k.released = now - k.at
                if k.resumed is None and all(
                        states[w][0] in TERMINAL or states[w][1] not in (None, dead)
                        for w in k.owned):
                    k.resumed = now - k.at
            if all(st in TERMINAL for st, _ in states.values()):
                break
            assert now - t0 < DEADLINE, (
                f"not done after {DEADLINE}s: "
                f"{sum(st not in TERMINAL for st, _ in states.values())} runs left\n"
                + procs.logs())
            if (now >= next_kill and now - t0 < CHAOS_FOR
                    and all(w.ready.is_set() for w in live)):
                victim = rng.choice(live)
                at = victim.kill9()
                owned = {w for w, (_, o) in inspector.owners(wids).items()
                         if o == victim.worker_id}
                kills.append(Kill(victim, at, owned))
                live.remove(victim)
                live.append(spawn())
                next_kill = at + rng.uniform(1, 2)
            time.sleep(0.025)
        elapsed = time.monotonic() - t0

        # every dead worker was reaped (row and lock file gone); the live ones stop cleanly.
        # A replacement spawned at the last kill may not have said "ready" yet (the runs can
        # all end first): its id is only known then, and its row must not count as a dead one
        for w in live:
            w.wait_ready()
        live_ids = {w.worker_id for w in live}
        try:
            wait_until(lambda: {w for w, _, _ in inspector.workers()} <= live_ids, 10,
                       "every killed worker to be reaped")
        except AssertionError as exc:  # say what is left, for whoever has to find out why
            killed_ids = {k.proc.worker_id: (k.proc.pid, k.proc.alive) for k in kills}
            raise AssertionError(
                f"{exc}\nworkers table (id, pid, lease_until; now {time.time():.3f}): "
                f"{inspector.workers()}\nlive: "
                f"{[(w.worker_id, w.pid, w.alive) for w in live]}\nkilled: {killed_ids}\n"
                + procs.logs()) from None
        for w in live:
            w.signal(signal.SIGTERM)
        # a stop takes grace (10 s) at most when a step hangs, and here none does. One CI run
        # saw a worker still running 30 s after SIGTERM (its signal handler could deadlock:
        # see legato.cli.signals); should a stop ever be slow again, past 20 s its threads'
        # stacks are dumped and shown (as the failure, or as a warning) to say why
        assert [w.wait_exit(60, slow=20) for w in live] == [0] * len(live), procs.logs()
        for w in live:
            if w.slow_stop is not None:
                warnings.warn(f"{w.name} took over 20 s to stop after SIGTERM; its threads:\n"
                              f"{w.slow_stop}", stacklevel=1)
        assert inspector.workers() == []
        lock_dir = procs.db_path.parent / (procs.db_path.name + "-workers")
        assert not list(lock_dir.iterdir()), list(lock_dir.iterdir())

        killed = {k.proc.pid for k in kills}
        done = inspector.executions()
        began = inspector.executions(phase="start")
        every_step = {(w, s) for w in wids for s in range(1, N_STEPS + 1)}
        assert set(began) == set(done) == every_step
        for wid in wids:
            recorded = check_chain(client, wid, N_STEPS).recorded_pids
            for step in range(1, N_STEPS + 1):
                b, d = began[(wid, step)], done[(wid, step)]
                # the recorded result comes from the last attempt, which ran to its end
                assert b[-1] == d[-1] == recorded[step - 1], (wid, step, b, d, recorded)
                # every other attempt (cut short or result lost) was in a killed process
                assert all(p in killed for p in b[:-1] + d[:-1]), (wid, step, b, d, killed)
                assert len(b) <= 1 + len(kills), (wid, step, b)
        reruns = sum(len(b) - 1 for b in began.values())
        lost = sum(len(d) - 1 for d in done.values())
        # a kill cuts short at most CONCURRENCY steps (one per run the worker holds)
        assert reruns <= len(kills) * CONCURRENCY, (reruns, len(kills))

        held = [k for k in kills if k.owned]
        released = [k.released for k in held if k.released is not None]
        resumed = [k.resumed for k in held if k.resumed is not None]
        assert len(released) == len(resumed) == len(held)
        print(f"[chaos] {N_RUNS} runs x {N_STEPS} steps in {elapsed:.1f}s, {len(kills)} kills"
              f" ({len(held)} hit a worker holding runs); {reruns} step attempts re-run,"
              f" {lost} of them after the effect had completed")
        if held:
            print(f"[chaos] dead owner's runs released after a kill: median"
                  f" {statistics.median(released) * 1000:.0f} ms, max"
                  f" {max(released) * 1000:.0f} ms (lease {LEASE}s); resumed by a live worker:"
                  f" median {statistics.median(resumed):.2f}s, max {max(resumed):.2f}s")
        assert len(kills) >= 5, f"only {len(kills)} kills: the run was too short to be chaos"
        assert len(held) >= 3, "too few kills hit a worker holding runs"
        assert max(released) <= LEASE + 1.0
    finally:
        client.shutdown()
