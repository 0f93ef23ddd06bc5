"""Virtual time: every engine-clock timer fires when a VirtualClock passes it, whether it is
kept in memory (a wait of a second or less: retry backoffs, short sleeps, a deadline while the
run is in memory) or written to the store (a suspended run's wake-up), and
``run_to_completion`` jumps to the next one whenever nothing else can progress. A step that
really runs is never skipped: its ``timeout`` and ``heartbeat_timeout`` are real time."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import legato
from legato.testing import VirtualClock, run_to_completion

Make = Callable[..., legato.Engine]
QUICK = legato.RetryPolicy(max_attempts=3, initial_interval=0.5, backoff=2.0, jitter=False)


def test_retry_backoff_passes_on_a_virtual_clock(make_engine: Make, clock: VirtualClock,
                                                 unique_name) -> None:
    calls: list[float] = []

    @legato.step(retry=QUICK)
    def flaky() -> str:
        calls.append(clock.now())
        if len(calls) == 1:
            raise ConnectionError("down")
        return "ok"

    @legato.workflow(name=unique_name("flaky"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return flaky()

    engine = make_engine(clock=clock).launch()
    start = clock.now()
    began = time.monotonic()
    h = engine.start(wf)
    assert run_to_completion(h, clock, timeout=5) == "ok"
    assert time.monotonic() - began < 4  # virtual: no real second waited per backoff
    assert calls == [start, start + 0.5]  # the clock jumped exactly to the retry time
    failed = [e for e in h.history() if e["type"] == "StepFailed"]
    assert [e["retry_at"] for e in failed] == [start + 0.5]


def test_default_retry_policy_passes_on_a_virtual_clock(make_engine: Make,
                                                        clock: VirtualClock,
                                                        unique_name) -> None:
    """The default policy waits 0.5-1 s (jitter) before the second attempt: in memory."""
    calls: list[int] = []

    @legato.step
    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return len(calls)

    @legato.workflow(name=unique_name("flaky_default"))
    def wf(ctx: legato.WorkflowContext) -> int:
        return flaky()

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    assert run_to_completion(h, clock, timeout=5) == 3


def test_short_sleep_passes_on_a_virtual_clock(make_engine: Make, clock: VirtualClock,
                                               unique_name) -> None:
    @legato.workflow(name=unique_name("nap"))
    def wf(ctx: legato.WorkflowContext) -> float:
        ctx.sleep(0.25)
        ctx.sleep(1.0)
        return ctx.now().timestamp()

    engine = make_engine(clock=clock).launch()
    start = clock.now()
    h = engine.start(wf)
    assert run_to_completion(h, clock, timeout=5) == start + 1.25
    fired = [e["at"] for e in h.history() if e["type"] == "TimerFired"]
    assert fired == [start + 0.25, start + 1.25]


def test_deadline_fires_during_an_in_memory_wait(make_engine: Make, clock: VirtualClock,
                                                 unique_name) -> None:
    @legato.workflow(name=unique_name("late"))
    def wf(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(0.8)  # in memory; the deadline comes first
        return "in time"

    engine = make_engine(clock=clock).launch()
    start = clock.now()
    h = engine.start(wf, deadline=0.5)
    with pytest.raises(legato.WorkflowFailed) as info:
        run_to_completion(h, clock, timeout=5)
    assert info.value.status == "TIMED_OUT"
    assert h.history()[-1]["type"] == "WorkflowTimedOut"
    assert clock.now() == start + 0.5


def test_a_childs_backoff_passes_while_its_parent_waits(make_engine: Make,
                                                       clock: VirtualClock,
                                                       unique_name) -> None:
    """The parent waits without a time of its own (WAITING, no wake_at) while its child,
    in memory, waits for a retry: the helper jumps to the child's timer."""
    calls: list[int] = []

    @legato.step(retry=QUICK)
    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("down")
        return "child ok"

    @legato.workflow(name=unique_name("child"))
    def child(ctx: legato.WorkflowContext) -> str:
        return flaky()

    @legato.workflow(name=unique_name("parent"))
    def parent(ctx: legato.WorkflowContext) -> str:
        return str(ctx.child(child))

    engine = make_engine(clock=clock).launch()
    h = engine.start(parent)
    assert run_to_completion(h, clock, timeout=5) == "child ok"


@pytest.mark.wallclock
def test_long_timers_and_due_dates_pass_on_a_virtual_clock(make_engine: Make,
                                                           clock: VirtualClock,
                                                           unique_name) -> None:
    """Suspended waits: a day's sleep, a wait's timeout, a human task's due date."""
    @legato.workflow(name=unique_name("long"))
    def wf(ctx: legato.WorkflowContext) -> list[str]:
        out = []
        ctx.sleep(86400)
        try:
            ctx.wait_event("never", key="k", timeout=3600)
        except legato.WaitTimeout:
            out.append("wait timed out")
        try:
            ctx.human_task("approve", assignee="nobody", due=600)
        except legato.TaskExpired:
            out.append("task expired")
        return out

    engine = make_engine(clock=clock).launch()
    start = clock.now()
    h = engine.start(wf)
    assert run_to_completion(h, clock, timeout=10) == ["wait timed out", "task expired"]
    assert clock.now() == start + 86400 + 3600 + 600


def test_a_running_step_is_never_skipped(make_engine: Make, clock: VirtualClock,
                                         unique_name) -> None:
    """While a step runs, something can progress: the helper does not jump to the run's
    deadline meanwhile. And a step's timeout is real time: a jump of the virtual clock
    while the step runs does not time it out."""
    @legato.step(timeout=30.0, retry=legato.RetryPolicy(max_attempts=1))
    def slow() -> str:
        time.sleep(0.3)
        clock.advance(3600)  # the test jumps time while the step really runs
        time.sleep(0.1)
        return "done"

    @legato.workflow(name=unique_name("slow"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return slow()

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf, deadline=7200)
    assert run_to_completion(h, clock, timeout=10) == "done"
