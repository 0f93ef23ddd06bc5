"""Issue #4 patterns survive kill -9: a crash in the middle of compensating, and a crash
while a shared circuit breaker is open."""

from __future__ import annotations

import time

import acc_common as wf
import pytest
from acceptance_support import Inspector, Procs, WorkerProc, wait_until

import legato


@pytest.mark.acceptance
@pytest.mark.timeout(90)
@pytest.mark.parametrize("kill_at", [5, 6])  # in_step hits: 3 books, fail, undo 103, undo 102
def test_crash_during_compensation_resumes_with_the_next_one(
        any_procs: Procs, any_inspector: Inspector, kill_at: int) -> None:
    client = any_procs.client()
    try:
        a = any_procs.spawn(lease=5.0, faults=f"in_step:{kill_at}").wait_ready()
        client.start(wf.SAGA_WORKFLOW, 3, workflow_id="trip")
        wait_until(lambda: not a.alive, 30, "the kill during compensation")
        b = any_procs.spawn(lease=5.0).wait_ready()
        h = client.handle("trip")
        wait_until(lambda: h.status == "FAILED", 30, "the compensated failure")
        assert h.describe()["detail"] == "compensated"
        done = any_inspector.executions("trip", "done")
        # every booking and every compensation ran to completion exactly once
        assert {k: len(v) for k, v in done.items()} == {
            ("trip", 1): 1, ("trip", 2): 1, ("trip", 3): 1,
            ("trip", 103): 1, ("trip", 102): 1, ("trip", 101): 1}, done
        # the compensations finished before the kill were not repeated by the new process
        first = [step for (w, step), pids in done.items() if pids == [a.pid] and step > 100]
        assert sorted(first, reverse=True) == [103, 102][:kill_at - 5], (first, done)
        undo_order = [e["result"] for e in h.history()
                      if e["type"] == "StepCompleted" and e["name"] == "acc_undo"]
        assert len(undo_order) == 3
        hist = h.history()
        assert [e["seq"] for e in hist] == list(range(1, len(hist) + 1))
        assert b.alive
    finally:
        client.shutdown()


@pytest.mark.acceptance
@pytest.mark.timeout(90)
def test_crash_while_circuit_open_resumes_after_reset(any_procs: Procs,
                                                      any_inspector: Inspector) -> None:
    any_procs.broken_path.write_text("down")
    client = any_procs.client()
    try:
        a = any_procs.spawn(lease=5.0).wait_ready()
        for i in range(3):
            client.start(wf.CIRCUIT_WORKFLOW, workflow_id=f"c{i}")
        wait_until(lambda: any(c["state"] == "OPEN" for c in client.circuits()), 30,
                   "the breaker to open")
        wait_until(lambda: all(client.handle(f"c{i}").status == "WAITING"
                               for i in range(3)), 30, "all three to wait durably")
        calls_while_open = len(any_inspector.executions(None, "start").get(("c0", 1), []))
        a.kill9()
        any_procs.broken_path.unlink()  # the dependency recovers while nobody runs
        t0 = time.monotonic()
        any_procs.spawn(lease=5.0).wait_ready()
        wait_until(lambda: all(client.handle(f"c{i}").status == "COMPLETED"
                               for i in range(3)), 45, "completion after the reset")
        took = time.monotonic() - t0
        (state,) = [c for c in client.circuits() if c["name"] == wf.CIRCUIT_NAME]
        assert state["state"] == "CLOSED"
        moves = [(t["source"], t["target"])
                 for t in client.circuit_transitions(wf.CIRCUIT_NAME)][::-1]
        assert moves[:1] == [("CLOSED", "OPEN")] and moves[-1] == ("HALF_OPEN", "CLOSED")
        starts = any_inspector.executions(None, "start")
        total = sum(len(v) for v in starts.values())
        # two failures opened it; at most one probe per half-open round before it closed
        assert total <= 2 + 2 * len(moves) + 3, starts
        assert calls_while_open <= 2
        assert took < 2.0 + 10, took
    finally:
        client.shutdown()


def _waiting(procs: Procs, client: legato.Engine, faults: str, workflow: str,
             wid: str) -> tuple[WorkerProc, legato.WorkflowHandle]:
    """A worker armed with ``faults``, and a run of ``workflow`` it has left waiting."""
    worker = procs.spawn(lease=5.0, faults=faults).wait_ready()
    client.start(workflow, workflow_id=wid)
    h = client.handle(wid)
    wait_until(lambda: h.status == "WAITING", 30, "the workflow to wait")
    return worker, h


@pytest.mark.acceptance
@pytest.mark.timeout(90)
def test_crash_between_event_delivery_and_consumption_loses_nothing(
        any_procs: Procs, any_inspector: Inspector) -> None:
    client = any_procs.client()
    try:
        a, h = _waiting(any_procs, client, "after_take:1", wf.WAITER_WORKFLOW, "w1")
        result = client.publish("go", key="w1", data={"n": 1})
        assert result.delivered_to == ["w1"]
        wait_until(lambda: not a.alive, 30, "the kill after the event was taken")
        hist = h.history()
        assert "WaitCompleted" not in [e["type"] for e in hist]  # taken, not yet journaled
        any_procs.spawn(lease=5.0).wait_ready()
        wait_until(lambda: h.status == "COMPLETED", 30, "the resumed workflow")
        assert h.result(timeout=1) == {"got": {"n": 1}}
        done = [e for e in h.history() if e["type"] == "WaitCompleted"]
        assert len(done) == 1 and done[0]["value"] == {"n": 1}
    finally:
        client.shutdown()


@pytest.mark.acceptance
@pytest.mark.timeout(90)
def test_woken_run_crashing_in_its_next_step_replays_the_same_wake_up(
        any_procs: Procs, any_inspector: Inspector) -> None:
    """A woken run starts its next step before the wait's completion is written (it rides
    with that step's result); killed in between, the run takes the same delivery again: the
    step is re-run with the same inputs, ctx.now() included, and the journal holds one
    completion, timed when the event was delivered."""
    client = any_procs.client()
    try:
        a, h = _waiting(any_procs, client, "after_step:1", wf.STAMPED_WAITER_WORKFLOW, "s1")
        before = time.time()
        assert client.publish("go", key="s1", data=7).delivered_to == ["s1"]
        after = time.time()
        wait_until(lambda: not a.alive, 30, "the kill after the step returned")
        assert "WaitCompleted" not in [e["type"] for e in h.history()]
        time.sleep(0.3)  # a replay that read the clock would now see a later time
        any_procs.spawn(lease=5.0).wait_ready()
        wait_until(lambda: h.status == "COMPLETED", 30, "the resumed workflow")
        seen = [float(r[0]) for r in any_inspector.fx.execute(
            "SELECT at FROM effects WHERE wid = 's1' ORDER BY id").fetchall()]
        assert len(seen) == 2 and seen[0] == seen[1], seen  # the same input both times
        assert before - 0.05 <= seen[0] <= after + 0.05, (before, seen, after)
        assert h.result(timeout=1) == {"got": 7, "now": seen[0]}
        done = [e for e in h.history() if e["type"] == "WaitCompleted"]
        assert len(done) == 1 and done[0]["value"] == 7
    finally:
        client.shutdown()


@pytest.mark.acceptance
@pytest.mark.timeout(90)
def test_crash_in_the_middle_of_concurrent_branches_resumes_each(
        any_procs: Procs, any_inspector: Inspector) -> None:
    """kill -9 while both ctx.branches branches are half way: the next worker replays each
    branch from its own events and runs only what was not recorded."""
    client = any_procs.client()
    try:
        # the 4th step body to begin (two per branch by then) kills the worker
        a = any_procs.spawn(lease=5.0, faults="in_step:4").wait_ready()
        client.start(wf.BRANCHES_WORKFLOW, 0.05, workflow_id="br")
        wait_until(lambda: not a.alive, 30, "the kill in the middle of the branches")
        h = client.handle("br")
        recorded_by_a = {e["result"]["v"] for e in h.history()
                         if e["type"] == "StepCompleted"}
        b = any_procs.spawn(lease=5.0).wait_ready()
        result = h.result(timeout=30)
        steps = [1, 2, 3, 11, 12, 13]
        assert result["sum"] == sum(wf.step_value(s) for s in steps)
        done = any_inspector.executions("br", "done")
        assert sorted(s for _, s in done) == steps
        for (_, step), pids in done.items():
            if wf.step_value(step) in recorded_by_a:  # committed before the kill: not again
                assert pids == [a.pid], (step, done)
            else:
                assert pids[-1] == b.pid, (step, done)
        assert recorded_by_a, "nothing was recorded before the kill"
        hist = h.history()
        assert [e["seq"] for e in hist] == list(range(1, len(hist) + 1))
        completed = [e for e in hist if e["type"] == "StepCompleted"]
        assert len(completed) == 6 and all(e.get("lane") for e in completed)
    finally:
        client.shutdown()
