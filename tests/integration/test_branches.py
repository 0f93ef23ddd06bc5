"""``ctx.branches``: concurrent multi-step branches of one workflow, on both stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]
NO_RETRY = legato.RetryPolicy(max_attempts=1)


def test_branches_run_concurrently_and_each_replays_from_its_own_events(
        make_engine: Make, clock: VirtualClock, unique_name) -> None:
    both = threading.Barrier(2, timeout=5)  # passes only if both branches' steps run at once
    ran: list[str] = []
    lock = threading.Lock()

    @legato.step(retry=NO_RETRY)
    def meet(tag: str) -> str:
        with lock:
            ran.append(tag)
        both.wait()
        return tag

    @legato.step
    def plain(tag: str) -> str:
        with lock:
            ran.append(tag)
        return tag

    @legato.workflow(name=unique_name("branches"))
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        def a() -> list[str]:
            first = meet("a1")
            ctx.sleep(120)  # suspends the run once b is done: a wake-up replays both
            return [first, plain("a2"), ctx.now().isoformat()]

        def b() -> list[str]:
            return [meet("b1"), plain("b2"), plain("b3")]

        out: list[object] = list(ctx.branches([a, b]))
        return [*out, plain("after")]

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    clock.advance(121)
    result = h.result(timeout=10)
    assert result[1] == ["b1", "b2", "b3"] and result[2] == "after"
    assert result[0][:2] == ["a1", "a2"]
    assert sorted(ran) == ["a1", "a2", "after", "b1", "b2", "b3"]  # none ran twice
    history = h.history()
    tagged = {e["seq"]: e.get("lane") for e in history}
    started = next(e for e in history if e["type"] == "BranchesStarted")
    assert started["count"] == 2
    by_branch: dict[object, list[str]] = {}
    for e in history:
        if e["type"] == "StepCompleted":
            by_branch.setdefault(tagged[e["seq"]], []).append(e["result"])
    assert by_branch == {f"{started['seq']}.0": ["a1", "a2"],
                         f"{started['seq']}.1": ["b1", "b2", "b3"], None: ["after"]}
    # the branch's clock is its own: after its timer, a2 ran at the timer's time
    fired = next(e for e in history if e["type"] == "TimerFired")
    assert tagged[fired["seq"]] == f"{started['seq']}.0"


def test_a_failing_branch_stops_its_siblings(engine: legato.Engine, unique_name) -> None:
    ran: list[str] = []

    @legato.step
    def slow(tag: str) -> str:
        ran.append(tag)
        # ends once the sibling's step failure is committed (the sibling fails right after)
        wid = legato.step_key().rsplit(":", 1)[0]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
                e["type"] == "StepFailed" for e in engine.handle(wid).history()):
            time.sleep(0.01)
        return tag

    @legato.step
    def fast(tag: str) -> str:
        ran.append(tag)
        return tag

    @legato.step(retry=NO_RETRY)
    def broken() -> None:
        ran.append("broken")
        raise ValueError("card declined")

    @legato.workflow(name=unique_name("failfast"))
    def wf(ctx: legato.WorkflowContext) -> None:
        ctx.branches([lambda: [slow("a1"), fast("a2")], broken, lambda: fast("c")], limit=2)

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.error["type"] == "builtins.ValueError"
    assert sorted(ran) == ["a1", "broken"]  # a2 stopped at its boundary, c never started
    failed = [e for e in h.history() if e["type"] == "BranchFailed"]
    assert len(failed) == 1 and failed[0]["index"] == 1
    assert failed[0]["error"]["message"] == "card declined"


def test_without_fail_fast_every_branch_runs_and_failures_come_back(
        engine: legato.Engine, unique_name) -> None:
    @legato.step(retry=NO_RETRY)
    def check(x: int) -> int:
        if x == 2:
            raise KeyError(x)
        return x * 10

    @legato.workflow(name=unique_name("noff"))
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        def branch(x: int) -> Callable[[], int]:
            return lambda: check(x) + check(x + 100)

        out = ctx.branches([branch(1), branch(2), branch(3)], fail_fast=False,
                           return_exceptions=True)
        return [o if isinstance(o, int) else type(o).__name__ for o in out]

    assert engine.start(wf).result(timeout=10) == [1020, "KeyError", 1060]


def test_a_redrive_resumes_inside_the_branch_that_failed(engine: legato.Engine,
                                                         unique_name) -> None:
    broken = {"on": True}
    runs: list[str] = []

    @legato.step
    def ok(tag: str) -> str:
        runs.append(tag)
        return tag

    @legato.step(retry=legato.RetryPolicy(max_attempts=2, initial_interval=0))
    def flaky() -> str:
        runs.append(legato.step_key())
        if broken["on"]:
            raise ConnectionError("dependency down")
        return "fixed"

    @legato.workflow(name=unique_name("redrive"))
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        return list(ctx.branches([lambda: [ok("a1"), ok("a2")],
                                  lambda: [ok("b1"), flaky()]]))

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=10)
    broken["on"] = False
    h.retry()
    assert h.result(timeout=10) == [["a1", "a2"], ["b1", "fixed"]]
    assert sorted(r for r in runs if ":" not in r) == ["a1", "a2", "b1"]  # not again
    keys = [r for r in runs if ":" in r]
    assert len(keys) == 3 and len(set(keys)) == 1  # the same idempotency key throughout


def test_changing_the_branches_under_a_running_workflow_is_nondeterminism(
        make_engine: Make, clock: VirtualClock, unique_name) -> None:
    count = {"n": 2}

    @legato.step
    def one(i: int) -> int:
        return i

    @legato.workflow(name=unique_name("nd"))
    def wf(ctx: legato.WorkflowContext) -> list[int]:
        out = ctx.branches([lambda i=i: one(i) for i in range(count["n"])])
        ctx.sleep(60)
        return out

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    count["n"] = 3
    clock.advance(61)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert "starts 3 branches but the journal recorded 2" in info.value.error["message"]


def test_async_workflow_with_async_branches(engine: legato.Engine, unique_name) -> None:
    @legato.step
    async def double(x: int) -> int:
        return 2 * x

    @legato.workflow(name=unique_name("async"))
    async def wf(ctx: legato.WorkflowContext) -> list[int]:
        async def branch(x: int) -> int:
            return await double(x) + await double(x)

        return await ctx.branches_async([lambda: branch(1), lambda: branch(5)])

    assert engine.start(wf).result(timeout=10) == [4, 20]



def test_branches_each_waiting_for_an_event_wake_for_either(engine: legato.Engine,
                                                            unique_name) -> None:
    @legato.step
    def note(what: object) -> object:
        return what

    @legato.workflow(name=unique_name("waits"))
    def wf(ctx: legato.WorkflowContext, order: str) -> list[object]:
        def paid() -> object:
            return note(ctx.wait_event("paid", key=order))

        def packed() -> object:
            return note(ctx.wait_event("packed", key=order))

        return ctx.branches([paid, packed])

    h = engine.start(wf, "o-7")
    h.wait_status("WAITING")  # both branches wait, the run holds no thread
    engine.publish("packed", key="o-7", data={"box": 3})
    deadline = time.monotonic() + 10  # the packed branch goes on; the paid one still waits
    while time.monotonic() < deadline and not any(
            e["type"] == "StepCompleted" for e in h.history()):
        time.sleep(0.01)
    h.wait_status("WAITING")
    engine.publish("paid", key="o-7", data=42)
    assert h.result(timeout=10) == [42, {"box": 3}]
    completions = [e for e in h.history() if e["type"] == "WaitCompleted"]
    assert len(completions) == 2 and len({e["lane"] for e in completions}) == 2


def test_nested_branches_replay_after_a_wake_up(make_engine: Make, clock: VirtualClock,
                                                unique_name) -> None:
    ran: list[int] = []

    @legato.step
    def leaf(x: int) -> int:
        ran.append(x)
        return x

    @legato.workflow(name=unique_name("nested"))
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        def outer(base: int) -> Callable[[], list[int]]:
            def run() -> list[int]:
                inner = ctx.branches([lambda: leaf(base + 1), lambda: leaf(base + 2)])
                if base == 10:
                    ctx.sleep(30)  # one nested path suspends the whole run
                return [*inner, leaf(base + 3)]
            return run

        return ctx.branches([outer(10), outer(20)])

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    clock.advance(31)
    assert h.result(timeout=10) == [[11, 12, 13], [21, 22, 23]]
    assert sorted(ran) == [11, 12, 13, 21, 22, 23]
    lanes = {e.get("lane") for e in h.history() if e["type"] == "StepCompleted"}
    assert len(lanes) == 6  # four inner lanes, two outer ones
    replayed = legato.testing.replay(wf, h.history())
    assert replayed.complete and replayed.result == [[11, 12, 13], [21, 22, 23]]


def test_parallel_steps_inside_a_branch_replay_from_the_branch(make_engine: Make,
                                                               clock: VirtualClock,
                                                               unique_name) -> None:
    ran: list[int] = []

    @legato.step
    def square(x: int) -> int:
        ran.append(x)
        return x * x

    @legato.workflow(name=unique_name("mapinbranch"))
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        def mapped() -> list[int]:
            out = ctx.map(square, [1, 2, 3])
            ctx.sleep(30)
            return out

        return ctx.branches([mapped, lambda: square(4)])

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    clock.advance(31)
    assert h.result(timeout=10) == [[1, 4, 9], 16]
    assert sorted(ran) == [1, 2, 3, 4]
    scheduled = [e for e in h.history() if e["type"] == "StepScheduled"]
    assert len(scheduled) == 3 and len({e["lane"] for e in scheduled}) == 1


def test_cancelling_a_run_stops_every_branch(engine: legato.Engine, unique_name) -> None:
    ran: list[str] = []

    @legato.step
    def note(what: str) -> str:
        ran.append(what)
        return what

    @legato.workflow(name=unique_name("cancel"))
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        def waits() -> object:
            ctx.wait_event("never", key=ctx.workflow_id)
            return note("after the event")

        def sleeps() -> object:
            ctx.sleep(3600)
            return note("after the sleep")

        return ctx.branches([waits, sleeps])

    h = engine.start(wf)
    h.wait_status("WAITING")
    h.cancel()
    assert h.wait_status("CANCELLED") == "CANCELLED"
    assert ran == []
    assert h.history()[-1]["type"] == "WorkflowCancelled"


@pytest.mark.wallclock
def test_a_deadline_ends_a_run_with_branches_timed_out(make_engine: Make, clock: VirtualClock,
                                                       unique_name) -> None:
    @legato.step
    def one() -> int:
        return 1

    @legato.workflow(name=unique_name("deadline"), deadline=60)
    def wf(ctx: legato.WorkflowContext) -> list[object]:
        def slow() -> int:
            ctx.sleep(3600)
            return one()

        return ctx.branches([slow, one])

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    clock.advance(61)
    assert h.wait_status("TIMED_OUT") == "TIMED_OUT"
    steps = [e for e in h.history() if e["type"] == "StepCompleted"]
    assert len(steps) == 1  # the quick branch's step; the sleeping branch never got to its
