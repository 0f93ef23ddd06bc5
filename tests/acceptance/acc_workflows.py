"""The workflow the acceptance tests run inside real worker processes.

``acc_chain`` runs one step per entry of ``delays``; each step sleeps for its delay and then
appends a row (workflow id, step, pid, idempotency key) to a side SQLite database through its
own connection: the externally visible effect whose repetitions the tests count. Each step
writes a ``start`` row when its code begins and a ``done`` row when it ends, so a test sees
both attempts cut short by a kill and completed executions whose result was lost. The workflow
optionally sleeps durably after step ``sleep_after``.

The side database's path comes from the environment variable ``LEGATO_ACC_EFFECTS``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from acc_common import (
    BRANCHES_WORKFLOW,
    BROKEN_ENV,
    CIRCUIT_NAME,
    CIRCUIT_WORKFLOW,
    EFFECTS_ENV,
    INLINE_ENV,
    SAGA_WORKFLOW,
    STAMPED_WAITER_WORKFLOW,
    STEP,
    WAITER_WORKFLOW,
    WORKFLOW,
    step_value,
)

import legato


def _record(wid: str, step: int, phase: str, at: float | None = None) -> None:
    con = sqlite3.connect(os.environ[EFFECTS_ENV], timeout=30, isolation_level=None)
    try:
        con.execute(
            "INSERT INTO effects (wid, step, pid, key, phase, at) VALUES (?,?,?,?,?,?)",
            (wid, step, os.getpid(), legato.step_key(), phase,
             time.time() if at is None else at),
        )
    finally:
        con.close()


# with LEGATO_ACC_INLINE=1 the chain's step runs on the worker's hub thread (inline) always
@legato.step(name=STEP, retry=legato.RetryPolicy(max_attempts=5, initial_interval=0.05),
             inline=True if os.environ.get(INLINE_ENV) == "1" else None)
def effect(wid: str, step: int, delay: float) -> dict[str, Any]:
    _record(wid, step, "start")
    if delay > 0:
        time.sleep(delay)
    _record(wid, step, "done")
    return {"v": step_value(step), "pid": os.getpid(),
            "thread": threading.current_thread().name}


@legato.workflow(name=WORKFLOW)
def chain(ctx: legato.WorkflowContext, delays: list[float], sleep_after: int,
          sleep_secs: float) -> dict[str, Any]:
    values: list[int] = []
    pids: list[int] = []
    for i, delay in enumerate(delays, start=1):
        r = effect(ctx.workflow_id, i, delay)
        values.append(r["v"])
        pids.append(r["pid"])
        if i == sleep_after:
            ctx.sleep(sleep_secs)
    return {"sum": sum(values), "pids": pids}


# --- sagas and circuit breakers across crashes ----------------------------------------------

@legato.step(name="acc_book", retry=legato.RetryPolicy(max_attempts=3, initial_interval=0.05))
def book(wid: str, step: int) -> int:
    _record(wid, step, "done")
    return step


@legato.step(name="acc_undo", retry=legato.RetryPolicy(max_attempts=3, initial_interval=0.05))
def undo(wid: str, step: int) -> None:
    _record(wid, step, "start")
    time.sleep(0.05)
    _record(wid, step, "done")


@legato.step(name="acc_fail", retry=legato.RetryPolicy(max_attempts=1))
def fail(wid: str) -> None:
    raise RuntimeError("the third booking is impossible")


@legato.workflow(name=SAGA_WORKFLOW)
def saga(ctx: legato.WorkflowContext, n: int) -> None:
    """Books 1..n, then fails: the undo steps are numbered 101..100+n (newest first)."""
    with ctx.saga() as s:
        for i in range(1, n + 1):
            s.add(undo, ctx.workflow_id, 100 + book(ctx.workflow_id, i))
        fail(ctx.workflow_id)


CIRCUIT = legato.CircuitBreaker(CIRCUIT_NAME, failure_threshold=2, reset_timeout=2.0)


@legato.step(name="acc_guarded", circuit=CIRCUIT,
             retry=legato.RetryPolicy(max_attempts=20, initial_interval=0.05))
def guarded(wid: str) -> str:
    _record(wid, 1, "start")
    if os.path.exists(os.environ[BROKEN_ENV]):
        raise ConnectionError("dependency down")
    _record(wid, 1, "done")
    return "ok"


@legato.workflow(name=CIRCUIT_WORKFLOW)
def circuit_user(ctx: legato.WorkflowContext) -> str:
    return guarded(ctx.workflow_id)


@legato.workflow(name=WAITER_WORKFLOW)
def waiter(ctx: legato.WorkflowContext) -> dict[str, Any]:
    """Waits for the event "go" keyed by its own id, then records a step."""
    data = ctx.wait_event("go", key=ctx.workflow_id)
    effect(ctx.workflow_id, 1, 0.0)
    return {"got": data}


@legato.step(name="acc_stamp")
def stamp(wid: str, now: float) -> float:
    """Records the time it was handed (as the effect's ``at``)."""
    _record(wid, 1, "start", at=now)
    return now


@legato.workflow(name=STAMPED_WAITER_WORKFLOW)
def stamped_waiter(ctx: legato.WorkflowContext) -> dict[str, Any]:
    """Waits for "go" keyed by its own id, then hands the workflow's time to a step."""
    data = ctx.wait_event("go", key=ctx.workflow_id)
    return {"got": data, "now": stamp(ctx.workflow_id, ctx.now().timestamp())}


@legato.workflow(name=BRANCHES_WORKFLOW)
def branches(ctx: legato.WorkflowContext, delay: float) -> dict[str, Any]:
    """Two concurrent branches of three steps each: steps 1-3 and 11-13."""
    def branch(first: int) -> Any:
        return lambda: [effect(ctx.workflow_id, first + i, delay) for i in range(3)]

    done = ctx.branches([branch(1), branch(11)])
    results = [r for b in done for r in b]
    return {"sum": sum(r["v"] for r in results), "pids": [r["pid"] for r in results]}
