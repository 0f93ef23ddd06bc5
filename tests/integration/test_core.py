"""The durable core's semantics on SQLite, one test per rule of issue #2."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]


def test_steps_run_once_and_are_recorded(engine: legato.Engine, unique_name) -> None:
    calls: list[str] = []

    @legato.step
    def reserve(order: str) -> dict:
        calls.append(order)
        return {"order": order, "key": legato.step_key()}

    @legato.workflow(name=unique_name("fulfil"))
    def fulfil(ctx: legato.WorkflowContext, order: str) -> dict:
        return {"stock": reserve(order)}

    h = engine.start(fulfil, "o-1", workflow_id="order-o-1")
    assert h.result(timeout=10) == {"stock": {"order": "o-1", "key": "order-o-1:2"}}
    assert h.status == "COMPLETED"
    assert calls == ["o-1"]
    types = [e["type"] for e in h.history()]
    assert types == ["WorkflowStarted", "StepCompleted", "WorkflowCompleted"]
    assert [e["seq"] for e in h.history()] == [1, 2, 3]
    d = h.describe()
    assert d["name"] == fulfil.__legato_workflow__.name
    assert d["status"] == "COMPLETED" and d["input"] == ["o-1"]
    assert d["result"] == {"stock": {"order": "o-1", "key": "order-o-1:2"}}
    assert d["created_at"] and d["completed_at"]


def test_step_outside_workflow_is_plain_call() -> None:
    @legato.step
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5


def test_retry_with_backoff_records_each_attempt(engine: legato.Engine, unique_name) -> None:
    attempts: list[str] = []

    @legato.step(retry=legato.RetryPolicy(max_attempts=4, initial_interval=0.01, backoff=2.0))
    def flaky() -> str:
        attempts.append(legato.step_key())
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @legato.workflow(name=unique_name("retry"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return flaky()

    h = engine.start(wf)
    assert h.result(timeout=10) == "ok"
    assert len(set(attempts)) == 1  # one idempotency key for every attempt
    hist = h.history()
    failed = [e for e in hist if e["type"] == "StepFailed"]
    assert [e["attempt"] for e in failed] == [1, 2]
    assert failed[0]["error"]["type"] == "builtins.ConnectionError"


def test_non_retryable_error_fails_workflow_with_original_type(
        engine: legato.Engine, unique_name) -> None:
    @legato.step(retry=legato.RetryPolicy(max_attempts=5, non_retryable=(ValueError,)))
    def bad() -> None:
        raise ValueError("no such sku")

    seen: list[str] = []

    @legato.workflow(name=unique_name("nonretry"))
    def wf(ctx: legato.WorkflowContext) -> str:
        try:
            bad()
        except ValueError as exc:
            seen.append(str(exc))
            raise
        return "unreachable"

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.status == "FAILED"
    assert info.value.error["type"] == "builtins.ValueError"
    assert seen == ["no such sku"]
    assert len([e for e in h.history() if e["type"] == "StepFailed"]) == 1


@pytest.mark.wallclock
def test_durable_sleep_with_virtual_clock(make_engine: Make, clock: VirtualClock,
                                          unique_name) -> None:
    @legato.step
    def after() -> str:
        return "woke"

    @legato.workflow(name=unique_name("sleepy"))
    def wf(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(timedelta(days=7))
        return after()

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    assert h.wait_status("WAITING") == "WAITING"
    clock.advance(timedelta(days=7))
    assert h.result(timeout=10) == "woke"
    types = [e["type"] for e in h.history()]
    assert types == ["WorkflowStarted", "TimerStarted", "TimerFired", "StepCompleted",
                     "WorkflowCompleted"]


def test_async_workflow_and_steps(engine: legato.Engine, unique_name) -> None:
    @legato.step
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    @legato.step
    def sync_add(x: int) -> int:
        return x + 1

    @legato.workflow(name=unique_name("asyncwf"))
    async def wf(ctx: legato.WorkflowContext, x: int) -> int:
        a = await fetch(x)
        b = await sync_add(a)
        await ctx.sleep_async(0.01)
        return b

    @legato.workflow(name=unique_name("syncwf"))
    def wf2(ctx: legato.WorkflowContext, x: int) -> int:
        return fetch(x) + 1  # an async step returns a plain value in a sync workflow

    assert engine.start(wf, 5).result(timeout=10) == 11
    assert engine.start(wf2, 5).result(timeout=10) == 11

    async def client() -> int:
        h = await engine.start_async(wf, 1)
        return await h.result_async(timeout=10)

    assert asyncio.run(client()) == 3


def test_cancel_stops_at_next_step_boundary(engine: legato.Engine, unique_name) -> None:
    gate = threading.Event()
    ran: list[int] = []

    @legato.step
    def slow(i: int) -> int:
        ran.append(i)
        gate.wait(10)
        return i

    @legato.workflow(name=unique_name("cancel"))
    def wf(ctx: legato.WorkflowContext) -> None:
        for i in range(5):
            slow(i)

    h = engine.start(wf)
    h.wait_status("RUNNING")
    while not ran:
        threading.Event().wait(0.005)
    h.cancel()
    gate.set()
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.status == "CANCELLED"
    assert ran == [0]
    assert h.history()[-1]["type"] == "WorkflowCancelled"


def test_cancel_waiting_workflow(make_engine: Make, clock: VirtualClock, unique_name) -> None:
    @legato.workflow(name=unique_name("cancel_wait"))
    def wf(ctx: legato.WorkflowContext) -> None:
        ctx.sleep(3600)

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    engine.handle(h.workflow_id).cancel()
    assert h.wait_status("CANCELLED") == "CANCELLED"


def test_terminate_stops_at_once(make_engine: Make, clock: VirtualClock, unique_name) -> None:
    @legato.workflow(name=unique_name("term"))
    def wf(ctx: legato.WorkflowContext) -> None:
        ctx.sleep(3600)

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    h.terminate("operator said so")
    assert h.status == "CANCELLED"
    assert "operator said so" in (h.describe()["detail"] or "")
    clock.advance(7200)
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=5)


def test_idempotent_start_and_conflict(engine: legato.Engine, unique_name) -> None:
    @legato.workflow(name=unique_name("idem"))
    def wf(ctx: legato.WorkflowContext, x: int) -> int:
        return x

    a = engine.start(wf, 1, workflow_id="same")
    b = engine.start(wf, 1, workflow_id="same")
    assert a == b and a.result(timeout=10) == 1
    with pytest.raises(legato.WorkflowConflict, match="exists already"):
        engine.start(wf, 2, workflow_id="same")


def test_unknown_workflow_and_bad_input(engine: legato.Engine) -> None:
    with pytest.raises(legato.UnknownWorkflow):
        engine.start("no_such_workflow")
    with pytest.raises(legato.WorkflowNotFound):
        engine.handle("nope")


def test_list_newest_first_with_filters(engine: legato.Engine, unique_name) -> None:
    name = unique_name("listed")

    @legato.workflow(name=name)
    def wf(ctx: legato.WorkflowContext, x: int) -> int:
        if x == 2:
            raise RuntimeError("boom")
        return x

    hs = [engine.start(wf, i) for i in range(3)]
    for h in hs:
        try:
            h.result(timeout=10)
        except legato.WorkflowFailed:
            pass
    listed = engine.list(name=name)
    assert [h.workflow_id for h in listed] == [h.workflow_id for h in reversed(hs)]
    failed = engine.list(status="FAILED", name=name)
    assert [h.workflow_id for h in failed] == [hs[2].workflow_id]


@dataclass
class Stock:
    sku: str
    qty: int


def test_dataclasses_round_trip(engine: legato.Engine, unique_name) -> None:
    @legato.step
    def reserve(s: Stock) -> Stock:
        return Stock(s.sku, s.qty - 1)

    @legato.workflow(name=unique_name("dc"))
    def wf(ctx: legato.WorkflowContext, s: Stock) -> Stock:
        assert isinstance(s, Stock)
        return reserve(s)

    assert engine.start(wf, Stock("a", 3)).result(timeout=10) == Stock("a", 2)


def test_nondeterminism_is_detected(make_engine: Make, clock: VirtualClock,
                                    unique_name) -> None:
    name = unique_name("nd")

    @legato.step
    def one() -> int:
        return 1

    @legato.step
    def two() -> int:
        return 2

    @legato.workflow(name=name)
    def v1(ctx: legato.WorkflowContext) -> int:
        one()
        ctx.sleep(60)
        return 0

    engine = make_engine(clock=clock).launch()
    h = engine.start(v1)
    h.wait_status("WAITING")
    engine.shutdown()
    legato.runtime.registry.REGISTRY.remove(name)

    @legato.workflow(name=name)
    def v2(ctx: legato.WorkflowContext) -> int:
        two()
        ctx.sleep(60)
        return 0

    engine2 = make_engine(clock=clock).launch()
    clock.advance(61)
    with pytest.raises(legato.WorkflowFailed) as info:
        engine2.handle(h.workflow_id).result(timeout=10)
    assert info.value.error["type"] == "legato.errors.NondeterminismError"
    msg = info.value.error["message"]
    assert ".two'" in msg and ".one'" in msg


def test_patched_true_for_new_false_for_old_runs(make_engine: Make, clock: VirtualClock,
                                                 unique_name) -> None:
    name = unique_name("patch")

    @legato.workflow(name=name)
    def v1(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(60)
        return "old"

    engine = make_engine(clock=clock).launch()
    old = engine.start(v1)
    old.wait_status("WAITING")
    engine.shutdown()
    legato.runtime.registry.REGISTRY.remove(name)

    @legato.workflow(name=name)
    def v2(ctx: legato.WorkflowContext) -> str:
        if ctx.patched("greeting"):
            ctx.sleep(60)
            return "new"
        ctx.sleep(60)
        return "old"

    engine2 = make_engine(clock=clock).launch()
    new = engine2.start(v2)
    new.wait_status("WAITING")
    clock.advance(61)
    assert old.result(timeout=10) == "old"
    assert new.result(timeout=10) == "new"
    assert any(e["type"] == "PatchMarker" for e in new.history())


def test_step_timeout_counts_as_failed_attempt(engine: legato.Engine, unique_name) -> None:
    release = threading.Event()

    @legato.step(timeout=0.05, retry=legato.RetryPolicy(max_attempts=2, initial_interval=0.0))
    def hang() -> str:
        release.wait(5)
        return "late"

    @legato.workflow(name=unique_name("timeout"))
    def wf(ctx: legato.WorkflowContext) -> str:
        try:
            return hang()
        except legato.StepTimeout:
            return "timed out"

    try:
        assert engine.start(wf).result(timeout=10) == "timed out"
    finally:
        release.set()


@pytest.mark.wallclock
def test_workflow_deadline_times_out(make_engine: Make, clock: VirtualClock,
                                     unique_name) -> None:
    @legato.workflow(name=unique_name("deadline"))
    def wf(ctx: legato.WorkflowContext) -> None:
        ctx.sleep(timedelta(hours=5))

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf, deadline=timedelta(hours=2))
    h.wait_status("WAITING")
    clock.advance(timedelta(hours=2, seconds=1))
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.status == "TIMED_OUT"
    assert h.status == "TIMED_OUT"


def test_logger_silent_during_replay(make_engine: Make, clock: VirtualClock, unique_name,
                                     caplog: pytest.LogCaptureFixture) -> None:
    @legato.workflow(name=unique_name("logs"))
    def wf(ctx: legato.WorkflowContext) -> None:
        ctx.logger.warning("before sleep")
        ctx.sleep(60)
        ctx.logger.warning("after sleep")

    engine = make_engine(clock=clock).launch()
    with caplog.at_level("WARNING", logger="legato.workflow"):
        h = engine.start(wf)
        h.wait_status("WAITING")
        clock.advance(61)
        h.result(timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("legato.workflow")]
    assert lines == ["before sleep", "after sleep"]


@pytest.mark.wallclock
def test_ctx_now_is_deterministic(make_engine: Make, clock: VirtualClock,
                                  unique_name) -> None:
    seen: list[float] = []

    @legato.step
    def record(t: float) -> float:
        return t

    @legato.workflow(name=unique_name("now"))
    def wf(ctx: legato.WorkflowContext) -> float:
        t0 = ctx.now().timestamp()
        seen.append(t0)
        ctx.sleep(30)
        return record(t0)

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    clock.advance(31)
    assert h.result(timeout=10) == seen[0]
    assert seen[0] == seen[1]  # the replay saw the same time as the first run
