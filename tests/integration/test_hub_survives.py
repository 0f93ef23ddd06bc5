"""Nothing user code raises can wedge a worker: a BaseException from a step or a workflow body
fails that attempt or run (recorded with its type), and the same worker then runs a healthy
workflow to completion. Each test would have been a user's bug report."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import legato

Make = Callable[..., legato.Engine]


class Custom(BaseException):
    """A user's own BaseException subclass."""


RAISED = [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), Custom("mine")]
IDS = ["SystemExit", "KeyboardInterrupt", "GeneratorExit", "Custom"]


def _type(error: dict[str, object] | None) -> str:
    """The exception's class name (errors record it qualified: ``builtins.SystemExit``)."""
    assert error is not None
    return str(error["type"]).rsplit(".", 1)[-1]


def _healthy(engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.step
    def add(a: int, b: int) -> int:
        return a + b

    @legato.workflow(name=unique_name("healthy"))
    def healthy(ctx: legato.WorkflowContext) -> int:
        return add(2, 3)

    assert engine.start(healthy).result(timeout=30) == 5


@pytest.mark.parametrize("exc", RAISED, ids=IDS)
def test_a_step_raising_a_base_exception_fails_its_attempts_and_the_run(
        engine: legato.Engine, unique_name: Callable[[str], str], exc: BaseException) -> None:
    calls: list[int] = []

    @legato.step(retry=legato.RetryPolicy(max_attempts=2, initial_interval=0.01))
    def bad() -> None:
        calls.append(1)
        raise exc

    @legato.workflow(name=unique_name("bad_step"))
    def wf(ctx: legato.WorkflowContext) -> None:
        bad()

    handle = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed) as failed:
        handle.result(timeout=30)
    assert failed.value.status == "FAILED"
    assert _type(failed.value.error) == type(exc).__name__
    assert len(calls) == 2  # retried per the policy, like any failed attempt
    types = [e["type"] for e in handle.history()]
    assert types.count("StepFailed") == 2 and types[-1] == "WorkflowFailed"
    _healthy(engine, unique_name)


@pytest.mark.parametrize("exc", RAISED, ids=IDS)
def test_a_workflow_body_raising_a_base_exception_fails_the_run(
        engine: legato.Engine, unique_name: Callable[[str], str], exc: BaseException) -> None:
    @legato.workflow(name=unique_name("bad_body"))
    def wf(ctx: legato.WorkflowContext) -> None:
        raise exc

    with pytest.raises(legato.WorkflowFailed) as failed:
        engine.start(wf).result(timeout=30)
    assert _type(failed.value.error) == type(exc).__name__
    _healthy(engine, unique_name)


def test_an_async_workflow_body_raising_system_exit_fails_the_run(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.workflow(name=unique_name("bad_async_body"))
    async def wf(ctx: legato.WorkflowContext) -> None:
        raise SystemExit(1)

    with pytest.raises(legato.WorkflowFailed) as failed:
        engine.start(wf).result(timeout=30)
    assert _type(failed.value.error) == "SystemExit"
    _healthy(engine, unique_name)


def test_a_parallel_branch_raising_a_base_exception_fails_the_run(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def part(i: int) -> int:
        if i == 2:
            raise KeyboardInterrupt
        return i

    @legato.workflow(name=unique_name("bad_branch"))
    def wf(ctx: legato.WorkflowContext) -> list[int]:
        return list(ctx.map(part, [1, 2, 3]))

    with pytest.raises(legato.WorkflowFailed) as failed:
        engine.start(wf).result(timeout=30)
    assert _type(failed.value.error) == "KeyboardInterrupt"
    _healthy(engine, unique_name)


def test_an_inline_step_raising_system_exit_fails_its_attempt(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.step(inline=True, retry=legato.RetryPolicy(max_attempts=1))
    def quick() -> None:
        raise SystemExit(2)

    @legato.workflow(name=unique_name("bad_inline"))
    def wf(ctx: legato.WorkflowContext) -> None:
        quick()

    with pytest.raises(legato.WorkflowFailed) as failed:
        engine.start(wf).result(timeout=30)
    assert _type(failed.value.error) == "SystemExit"
    _healthy(engine, unique_name)


def test_an_async_step_raising_cancelled_error_is_a_failed_attempt_and_retried(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    calls: list[int] = []

    @legato.step(retry=legato.RetryPolicy(max_attempts=3, initial_interval=0.01))
    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise asyncio.CancelledError("the client went away")
        return "done"

    @legato.workflow(name=unique_name("cancelled_step"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return flaky()

    handle = engine.start(wf)
    assert handle.result(timeout=30) == "done"
    failed = [e for e in handle.history() if e["type"] == "StepFailed"]
    assert [_type(e["error"]) for e in failed] == ["CancelledError", "CancelledError"]


def test_an_async_step_cancelled_by_its_timeout_is_a_timeout(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.step(timeout=0.05, retry=legato.RetryPolicy(max_attempts=1))
    async def slow() -> None:
        await asyncio.sleep(30)

    @legato.workflow(name=unique_name("timed_out_async"))
    def wf(ctx: legato.WorkflowContext) -> None:
        slow()

    with pytest.raises(legato.WorkflowFailed) as failed:
        engine.start(wf).result(timeout=30)
    assert _type(failed.value.error) == "StepTimeout"


# --- a hub that dies anyway (a legato defect, injected) holds nothing ----------------------


def test_a_hub_that_dies_releases_its_runs_and_waiting_results_raise(
        make_engine: Make, unique_name: Callable[[str], str]) -> None:
    from legato.runtime import faults

    @legato.workflow(name=unique_name("waits"))
    def waits(ctx: legato.WorkflowContext, key: str) -> str:
        return str(ctx.wait_event("go", key=key)["n"])

    first = make_engine().launch()
    handle = first.start(waits, "k-1", workflow_id="w-1")
    assert first.handle("w-1").wait_status("WAITING", timeout=30)
    faults.arm("hub_turn", 1, faults.raise_fault("hub_turn"))
    try:
        first.poke()
        with pytest.raises(legato.WorkerStopped, match="internal error"):
            handle.result(timeout=30)
    finally:
        faults.disarm("hub_turn")
    assert not first.healthy and isinstance(first.failure, faults.InjectedFault)
    first.start(waits, "k-2", workflow_id="w-2")  # still records starts for other workers
    second = make_engine().launch()  # another worker takes both over at once
    second.publish("go", key="k-1", data={"n": 7})
    second.publish("go", key="k-2", data={"n": 8})  # buffered if w-2 is not waiting yet
    assert second.handle("w-1").result(timeout=30) == "7"
    assert second.handle("w-2").result(timeout=30) == "8"
    first.shutdown(grace=1.0)  # and a dead engine still shuts down cleanly


def test_a_worker_that_fails_to_start_leaves_no_row_and_no_thread(make_engine: Make) -> None:
    import threading

    from legato.runtime import faults

    before = {t.ident for t in threading.enumerate()}
    engine = make_engine()
    faults.arm("worker_start", 1, faults.raise_fault("worker_start"))
    try:
        with pytest.raises(faults.InjectedFault):
            engine.launch()
    finally:
        faults.disarm("worker_start")
    assert engine.store.workers() == []
    mine = ("legato-hub", "legato-heartbeat", "legato-scheduler", "legato-step",
            "legato-async")
    left = [t.name for t in threading.enumerate()
            if t.ident not in before and t.name in mine and t.is_alive()]
    assert left == []
    engine.launch()  # and it starts once the cause is gone
    assert len(engine.store.workers()) == 1
