"""The workflows the benchmarks run. Imported by the driver and by every child process, so
that a restarted process has the same code registered under the same names."""

from __future__ import annotations

import os

import legato
from legato.runtime import faults

STEPS = 10
SLEEP_SECONDS = 86_400.0  # one day: far longer than the in-memory wait limit, so it suspends


def plain(x: int) -> int:
    """The step body, also called directly to measure a plain function call."""
    return x + 1


@legato.step(name="bench_inc")
def inc(x: int) -> int:
    return x + 1


@legato.workflow(name="bench_ten_steps")
def ten_steps(ctx: legato.WorkflowContext, n: int) -> int:
    """1,000 of these are the throughput workload: ten trivial steps in a row."""
    x = n
    for _ in range(STEPS):
        x = inc(x)
    return x


@legato.workflow(name="bench_many_steps")
def many_steps(ctx: legato.WorkflowContext, count: int) -> int:
    """One long sequential workflow, for the per-step cost without concurrency."""
    x = 0
    for _ in range(count):
        x = inc(x)
    return x


# --- recovery -----------------------------------------------------------------------------


def _note(side: str, line: str) -> None:
    fd = os.open(side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one O_APPEND write: atomic, survives SIGKILL
    finally:
        os.close(fd)


@legato.step(name="bench_recorded")
def recorded(side: str, wid: str, i: int) -> int:
    """Appends ``<workflow> <step> <pid>`` to the side file each time it *executes*.

    The fault point ``bench_step5`` is hit inside step 5, after the note is written: the
    recovery benchmark arms it (``LEGATO_FAULTS=bench_step5:K``) to SIGKILL the process the
    K-th time any workflow is inside its step 5.
    """
    _note(side, f"{wid} {i} {os.getpid()}\n")
    if i == 5:
        faults.hit("bench_step5")
    return i


@legato.workflow(name="bench_recover")
def recover(ctx: legato.WorkflowContext, side: str) -> int:
    total = 0
    for i in range(1, STEPS + 1):
        total += recorded(side, ctx.workflow_id, i)
    return total


# --- many sleeping workflows ---------------------------------------------------------------


@legato.workflow(name="bench_sleeper")
def sleeper(ctx: legato.WorkflowContext, n: int) -> int:
    x = inc(n)
    ctx.sleep(SLEEP_SECONDS)
    return x
