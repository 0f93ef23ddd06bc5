"""Replay is exact: ``legato.testing.replay`` runs a history under its own workflow id, an
unfinished history that the code no longer matches raises, and ``ctx.now()`` is the same
after every replayed operation as it was when the operation was first recorded (through the
worker, resuming from the store, and through ``legato.testing.replay``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import legato
from legato.testing import VirtualClock, export_history, replay, run_to_completion

Make = Callable[..., legato.Engine]


@legato.step
def greet(name: str) -> str:
    return f"hello {name}"


@legato.step
def audit(what: str) -> str:
    return f"audited {what}"


def by_id(ctx: legato.WorkflowContext) -> str:
    """Which step runs depends on the run's id (a replay under another id asks for another
    step at that position)."""
    if ctx.workflow_id.startswith(("order-", "case-")):
        return greet(ctx.workflow_id)
    return audit(ctx.workflow_id)


# --- replay under the history's own id ----------------------------------------------------


def test_replay_runs_under_the_recorded_workflow_id(make_engine: Make, clock: VirtualClock,
                                                    unique_name) -> None:
    @legato.workflow(name=unique_name("ids"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return by_id(ctx)

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf, workflow_id="order-42")
    assert h.result(timeout=10) == "hello order-42"
    history = h.history()
    out = replay(wf, history, workflow_id="order-42")
    assert out.complete and out.result == "hello order-42"
    # the exported history carries its id: no argument needed
    exported = export_history(h)
    assert exported[0]["workflow_id"] == "order-42"
    assert replay(wf, exported).result == "hello order-42"
    # an id given that the history contradicts is refused
    with pytest.raises(legato.LegatoError, match="order-42"):
        replay(wf, exported, workflow_id="order-43")


def test_replay_finds_the_id_of_a_history_with_a_human_task(make_engine: Make,
                                                            clock: VirtualClock,
                                                            unique_name) -> None:
    """A human task's id is "<workflow id>:<position>": a plain handle.history() shows it."""
    @legato.workflow(name=unique_name("ids_task"))
    def wf(ctx: legato.WorkflowContext) -> str:
        try:
            ctx.human_task("approve", assignee="nobody", due=60)
        except legato.TaskExpired:
            pass
        return by_id(ctx)

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf, workflow_id="case-7")
    assert run_to_completion(h, clock) == "hello case-7"
    assert replay(wf, h.history()).result == "hello case-7"


def test_replay_without_a_known_id_says_so(make_engine: Make, clock: VirtualClock,
                                           unique_name) -> None:
    """Not a false NondeterminismError: the history does not say which id the code read."""
    @legato.workflow(name=unique_name("ids_unknown"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return by_id(ctx)

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf, workflow_id="order-9")
    h.result(timeout=10)
    with pytest.raises(legato.LegatoError, match="workflow_id=") as info:
        replay(wf, h.history())
    assert not isinstance(info.value, legato.NondeterminismError)


# --- an unfinished history that the code no longer matches --------------------------------


def test_in_flight_history_with_a_new_step_raises(make_engine: Make, clock: VirtualClock,
                                                  unique_name) -> None:
    name = unique_name("in_flight")

    @legato.workflow(name=name)
    def old(ctx: legato.WorkflowContext) -> str:
        greet("a")
        ctx.wait_event("go", key="k")
        return greet("b")

    engine = make_engine(clock=clock).launch()
    h = engine.start(old, workflow_id="flight-1")
    h.wait_status("WAITING")
    history = h.history()
    assert [e["type"] for e in history] == ["WorkflowStarted", "StepCompleted", "WaitStarted"]
    assert not replay(old, history, workflow_id="flight-1").complete  # today's code: fine

    @legato.workflow(name=unique_name("in_flight_new"))
    def new(ctx: legato.WorkflowContext) -> str:
        greet("a")
        audit("a")  # a new step, not guarded with ctx.patched()
        ctx.wait_event("go", key="k")
        return greet("b")

    pos = history[2]["seq"]
    with pytest.raises(legato.NondeterminismError,
                       match=rf"position {pos}.*'.*audit'.*WaitStarted"):
        replay(new, history, workflow_id="flight-1")

    @legato.workflow(name=unique_name("in_flight_guarded"))
    def guarded(ctx: legato.WorkflowContext) -> str:
        greet("a")
        if ctx.patched("audit"):
            audit("a")
        ctx.wait_event("go", key="k")
        return greet("b")

    assert not replay(guarded, history, workflow_id="flight-1").complete


def test_in_flight_history_whose_code_ends_early_raises(make_engine: Make,
                                                       clock: VirtualClock,
                                                       unique_name) -> None:
    @legato.workflow(name=unique_name("early"))
    def old(ctx: legato.WorkflowContext) -> str:
        greet("a")
        ctx.sleep(3600)
        return greet("b")

    engine = make_engine(clock=clock).launch()
    h = engine.start(old, workflow_id="early-1")
    h.wait_status("WAITING")

    @legato.workflow(name=unique_name("early_new"))
    def new(ctx: legato.WorkflowContext) -> str:
        return greet("a")  # the sleep was removed

    with pytest.raises(legato.NondeterminismError, match="TimerStarted"):
        replay(new, h.history(), workflow_id="early-1")


# --- ctx.now() after ctx.set_state() (R1) -------------------------------------------------


def _late_start(make_engine: Make, clock: VirtualClock, wf: Callable[..., object],
                workflow_id: str) -> float:
    """Start ``wf`` with a client engine, then let 100 virtual seconds pass before any
    worker runs it; returns the start time."""
    client = make_engine(clock=clock)  # not launched: it records the start only
    start = clock.now()
    client.start(wf, workflow_id=workflow_id)
    clock.advance(100)
    return start


def test_now_after_set_state_on_a_resumed_run(make_engine: Make, clock: VirtualClock,
                                              unique_name) -> None:
    """The run uses ctx.now() right after ctx.set_state(), suspends, and a new engine
    resumes it from the store: the replayed time is the recorded one."""
    @legato.workflow(name=unique_name("state_now"))
    def wf(ctx: legato.WorkflowContext) -> float:
        ctx.set_state("phase", "started")
        t = ctx.now().timestamp()
        ctx.sleep(3600)
        return t

    start = _late_start(make_engine, clock, wf, "state-now-1")
    first = make_engine(clock=clock).launch()
    first.handle("state-now-1").wait_status("WAITING")
    first.shutdown(grace=1.0)  # the worker that ran it is gone: the next one replays
    second = make_engine(clock=clock).launch()
    h = second.handle("state-now-1")
    assert run_to_completion(h, clock) == start + 100
    history = h.history()
    assert [e["type"] for e in history][:2] == ["WorkflowStarted", "StateUpdated"]
    assert history[1]["at"] == start + 100
    assert replay(wf, history, workflow_id="state-now-1").result == start + 100


def test_now_after_set_state_in_a_replayed_history(make_engine: Make, clock: VirtualClock,
                                                   unique_name) -> None:
    @legato.workflow(name=unique_name("state_now_replay"))
    def wf(ctx: legato.WorkflowContext) -> float:
        ctx.set_state("phase", "started")
        return ctx.now().timestamp()

    start = _late_start(make_engine, clock, wf, "state-now-2")
    engine = make_engine(clock=clock).launch()
    h = engine.handle("state-now-2")
    assert h.result(timeout=10) == start + 100
    out = replay(wf, h.history(), workflow_id="state-now-2")
    assert out.complete and out.result == start + 100
