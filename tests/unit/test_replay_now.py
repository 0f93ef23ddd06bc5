"""``ctx.now()`` after a replayed operation is the time recording it set, for every operation.

The histories here are written by hand in the shape a run records (tests/replay/histories
holds recorded ones): they fix event times that a live run only produces by chance (two
parallel steps ending out of order, a branch failing a moment after its step), so each test
fails on a replay that forgets to set the time.
"""

from __future__ import annotations

from typing import Any

import legato
from legato.testing import replay

T = 1_800_000_000.0
RETRY1 = legato.RetryPolicy(max_attempts=1)


@legato.step
def fetch(i: int) -> int:
    return i


@legato.step(retry=RETRY1)
def explode() -> None:
    raise ValueError("boom")


@legato.workflow(name="replay_now_state")
def state_then_now(ctx: legato.WorkflowContext) -> float:
    ctx.set_state("phase", "started")
    return ctx.now().timestamp()


@legato.workflow(name="replay_now_parallel")
def parallel_then_now(ctx: legato.WorkflowContext) -> float:
    ctx.parallel([lambda: fetch(0), lambda: fetch(1)])
    return ctx.now().timestamp()


@legato.workflow(name="replay_now_branch")
def branch_fails_then_now(ctx: legato.WorkflowContext) -> float:
    ctx.branches([explode], return_exceptions=True, fail_fast=False)
    return ctx.now().timestamp()


def started(at: float = T) -> dict[str, Any]:
    return {"seq": 1, "type": "WorkflowStarted", "at": at, "input": []}


def test_now_after_set_state() -> None:
    history = [started(),
               {"seq": 2, "type": "StateUpdated", "at": T + 100, "name": "phase",
                "value": "started"},
               {"seq": 3, "type": "WorkflowCompleted", "at": T + 100, "result": T + 100}]
    assert replay(state_then_now, history, workflow_id="w").result == T + 100


def test_now_after_parallel_steps_that_ended_out_of_order() -> None:
    """Branch 1 ended first, branch 0 ten seconds later: the caller goes on at the latest,
    although the replay replays branch 0 first."""
    history = [started(),
               {"seq": 2, "type": "StepScheduled", "at": T, "name": "fetch", "pos": 2,
                "branch": 0, "branches": 2},
               {"seq": 3, "type": "StepScheduled", "at": T, "name": "fetch", "pos": 3,
                "branch": 1, "branches": 2},
               {"seq": 4, "type": "StepCompleted", "at": T + 1, "name": "fetch", "pos": 3,
                "attempt": 1, "result": 1},
               {"seq": 5, "type": "StepCompleted", "at": T + 10, "name": "fetch", "pos": 2,
                "attempt": 1, "result": 0},
               {"seq": 6, "type": "WorkflowCompleted", "at": T + 10, "result": T + 10}]
    assert replay(parallel_then_now, history, workflow_id="w").result == T + 10


def test_now_after_a_failed_branch() -> None:
    """BranchFailed is recorded a moment after the step's final failure: the branch ends
    then, and so the caller goes on then."""
    error = {"type": "builtins.ValueError", "message": "boom"}
    history = [started(),
               {"seq": 2, "type": "BranchesStarted", "at": T, "name": "branches",
                "count": 1, "limit": 8},
               {"seq": 3, "type": "StepFailed", "at": T + 1, "name": "explode", "pos": 3,
                "attempt": 1, "error": error, "final": True, "lane": "2.0"},
               {"seq": 4, "type": "BranchFailed", "at": T + 2, "name": "branches",
                "index": 0, "error": error, "lane": "2.0"},
               {"seq": 5, "type": "WorkflowCompleted", "at": T + 2, "result": T + 2}]
    assert replay(branch_fails_then_now, history, workflow_id="w").result == T + 2
