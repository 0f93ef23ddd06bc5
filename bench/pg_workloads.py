"""The workflows of the PostgreSQL benchmarks. The driver imports this module, and so does
every ``legato worker bench.pg_workloads`` process it starts (which also registers the
SQLite benchmark's workflows of ``bench.workloads``, among them the 1,000 x 10 workload)."""

from __future__ import annotations

import time

import legato
from bench import workloads
from bench.workloads import inc, ten_steps

LATENCY_STEPS = 3
EVENT_TYPE = "bench_e"

__all__ = ["EVENT_TYPE", "LATENCY_STEPS", "inc", "pickup", "stamp", "ten_steps",
           "three_steps", "waiter", "workloads"]


@legato.step(name="bench_pg_stamp")
def stamp() -> float:
    """The wall-clock time at which the step runs (same machine: comparable across
    processes). Its journal row is what the notify benchmark waits for."""
    return time.time()


@legato.workflow(name="bench_pg_three_steps")
def three_steps(ctx: legato.WorkflowContext, n: int) -> int:
    """The latency workload: three trivial steps in a row."""
    x = n
    for _ in range(LATENCY_STEPS):
        x = inc(x)
    return x


@legato.workflow(name="bench_pg_waiter")
def waiter(ctx: legato.WorkflowContext, key: str) -> float:
    """Waits (suspended, holding nothing) for event ``bench_e`` with this key; then one
    step records when it woke."""
    ctx.wait_event(EVENT_TYPE, key=key)
    return stamp()


@legato.workflow(name="bench_pg_pickup")
def pickup(ctx: legato.WorkflowContext) -> float:
    """Started by a client in another process: its first step records when it ran."""
    return stamp()
