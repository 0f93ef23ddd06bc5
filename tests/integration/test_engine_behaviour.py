"""Engine behaviour beyond the happy path: bad values, shutdown, several engines."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import BaseModel

import legato

Make = Callable[..., legato.Engine]


class Payment(BaseModel):
    order_id: str
    cents: int


def test_pydantic_models_round_trip(engine: legato.Engine, unique_name) -> None:
    @legato.step
    def charge(p: Payment) -> Payment:
        return Payment(order_id=p.order_id, cents=p.cents + 1)

    @legato.workflow(name=unique_name("pyd"))
    def wf(ctx: legato.WorkflowContext, p: Payment) -> Payment:
        assert isinstance(p, Payment)
        return charge(p)

    assert engine.start(wf, Payment(order_id="o", cents=1)).result(timeout=10) == Payment(
        order_id="o", cents=2)


def test_non_json_input_is_refused_before_anything_is_written(
        engine: legato.Engine, unique_name) -> None:
    @legato.workflow(name=unique_name("badinput"))
    def wf(ctx: legato.WorkflowContext, x: object) -> None:
        return None

    with pytest.raises(legato.InvalidInput, match="not JSON serialisable"):
        engine.start(wf, object(), workflow_id="never-written")
    with pytest.raises(legato.WorkflowNotFound):
        engine.handle("never-written")


def test_step_returning_non_json_fails_the_step_without_retry(
        engine: legato.Engine, unique_name) -> None:
    calls = []

    @legato.step(retry=legato.RetryPolicy(max_attempts=3, initial_interval=0))
    def bad() -> object:
        calls.append(1)
        return object()

    @legato.workflow(name=unique_name("badresult"))
    def wf(ctx: legato.WorkflowContext) -> None:
        bad()

    with pytest.raises(legato.WorkflowFailed) as info:
        engine.start(wf).result(timeout=10)
    assert info.value.error["type"] == "legato.errors.InvalidInput"
    assert calls == [1]


def test_async_workflow_awaiting_foreign_awaitable_fails_clearly(
        engine: legato.Engine, unique_name) -> None:
    @legato.workflow(name=unique_name("foreign"))
    async def wf(ctx: legato.WorkflowContext) -> None:
        await asyncio.sleep(0.01)

    with pytest.raises(legato.WorkflowFailed) as info:
        engine.start(wf).result(timeout=10)
    assert "may only await legato steps" in info.value.error["message"]


def test_result_timeout_raises_timeout_error(engine: legato.Engine, unique_name) -> None:
    @legato.workflow(name=unique_name("long"))
    def wf(ctx: legato.WorkflowContext) -> None:
        ctx.sleep(3600)

    h = engine.start(wf)
    with pytest.raises(TimeoutError):
        h.result(timeout=0.05)
    h.terminate()


def test_step_failed_for_unrebuildable_error(engine: legato.Engine, unique_name) -> None:
    class LocalError(Exception):  # a local class cannot be imported back
        pass

    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def boom() -> None:
        raise LocalError("local trouble")

    seen: list[str] = []

    @legato.workflow(name=unique_name("local_err"))
    def wf(ctx: legato.WorkflowContext) -> None:
        try:
            boom()
        except LocalError as exc:  # the live run sees the original exception object
            seen.append(type(exc).__name__)
            raise

    with pytest.raises(legato.WorkflowFailed):
        engine.start(wf).result(timeout=10)
    assert seen == ["LocalError"]


def test_shutdown_lets_the_running_step_finish_and_releases_the_run(
        make_engine: Make, unique_name) -> None:
    started = threading.Event()
    finish = threading.Event()
    runs: list[int] = []

    @legato.step
    def slow(i: int) -> int:
        runs.append(i)
        if i == 0:
            started.set()
            finish.wait(5)
        return i

    @legato.workflow(name=unique_name("graceful"))
    def wf(ctx: legato.WorkflowContext) -> list[int]:
        return [slow(0), slow(1)]

    first = make_engine().launch()
    h = first.start(wf)
    assert started.wait(5)
    stopper = threading.Thread(target=first.shutdown, kwargs={"grace": 5.0})
    stopper.start()
    time.sleep(0.05)
    finish.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert h.status in ("WAITING", "PENDING", "RUNNING")
    second = make_engine().launch()
    assert second.handle(h.workflow_id).result(timeout=10) == [0, 1]
    assert runs == [0, 1]  # step 0 finished once and was not repeated


def test_two_engines_share_one_database(make_engine: Make, unique_name) -> None:
    name = unique_name("shared")
    pids: list[str] = []

    @legato.step
    def work(i: int) -> int:
        pids.append(threading.current_thread().name)
        return i * i

    @legato.workflow(name=name)
    def wf(ctx: legato.WorkflowContext, i: int) -> int:
        return work(i)

    a = make_engine().launch()
    b = make_engine().launch()
    client = make_engine()  # not launched: only inserts
    handles = [client.start(name, i) for i in range(40)]
    assert [h.result(timeout=20) for h in handles] == [i * i for i in range(40)]
    assert a.worker_id != b.worker_id


def test_client_engine_without_workers_only_records(make_engine: Make, unique_name) -> None:
    @legato.workflow(name=unique_name("later"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return "done"

    client = make_engine()
    h = client.start(wf)
    assert h.status == "PENDING"
    worker = make_engine().launch()
    assert worker.handle(h.workflow_id).result(timeout=10) == "done"


def test_a_backlog_larger_than_concurrency_is_claimed_without_waiting_for_a_poll(
        make_engine: Make, unique_name) -> None:
    # a bug report: 40 queued runs on a worker with room for one took ~0.1 s each, because
    # the hub slept a poll interval after every batch although it knew more was claimable
    @legato.workflow(name=unique_name("backlog"))
    def wf(ctx: legato.WorkflowContext, i: int) -> int:
        return i

    client = make_engine()
    handles = [client.start(wf, i) for i in range(40)]
    worker = make_engine(concurrency=1)
    t0 = time.monotonic()
    worker.launch()
    assert [h.result(timeout=30) for h in handles] == list(range(40))
    # a poll interval per run (backing off to 0.1 s) takes ~3.7 s; claiming at once takes
    # well under 0.5 s (the bound leaves room for a loaded CI machine)
    assert time.monotonic() - t0 < 3.0


def test_a_failing_wake_up_read_is_retried_at_a_pace_not_in_a_tight_loop(
        make_engine: Make) -> None:
    # a bug report: while the store could not answer "when is the next run due?", the
    # worker asked again without pause, thousands of times a second
    engine = make_engine()
    store = engine.store
    calls: list[float] = []

    def failing_next_wake(names: object) -> float | None:
        calls.append(time.monotonic())
        raise ConnectionError("the database is restarting")

    store.next_wake = failing_next_wake  # type: ignore[method-assign]
    engine.launch()
    time.sleep(0.5)
    engine.shutdown()
    assert 1 <= len(calls) <= 30, len(calls)


@pytest.mark.wallclock
def test_purge_deletes_runs_that_ended_long_ago(make_engine, clock, unique_name) -> None:
    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def work(ok: bool) -> str:
        if not ok:
            raise ValueError("no")
        return "done"

    @legato.workflow(name=unique_name("purged"))
    def wf(ctx: legato.WorkflowContext, ok: bool) -> str:
        return work(ok)

    @legato.workflow(name=unique_name("waits"))
    def waits(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_event("never", key=ctx.workflow_id)

    engine = make_engine(clock=clock).launch()
    done = engine.start(wf, True, workflow_id=unique_name("done"))
    failed = engine.start(wf, False, workflow_id=unique_name("failed"))
    waiting = engine.start(waits)
    assert done.result(timeout=10) == "done"
    with pytest.raises(legato.WorkflowFailed):
        failed.result(timeout=10)
    waiting.wait_status("WAITING")
    assert engine.purge(timedelta(days=1), dry_run=True) == 0  # not old enough yet
    clock.advance(2 * 86400)
    assert engine.purge(timedelta(days=1), status="FAILED", dry_run=True) == 1
    assert engine.purge(timedelta(days=1), status=["failed"]) == 1
    assert engine.purge(86400) == 1
    with pytest.raises(legato.WorkflowNotFound):
        engine.handle(done.workflow_id)
    assert waiting.status == "WAITING"  # not ended: never purged
    again = engine.start(wf, True, workflow_id=done.workflow_id)  # the id is free again
    assert again.result(timeout=10) == "done"
    with pytest.raises(legato.InvalidInput, match="only ended runs"):
        engine.purge(0, status="WAITING")
    with pytest.raises(legato.InvalidInput, match="older_than must be 0 or more seconds"):
        engine.purge(-5)


@pytest.mark.wallclock
def test_a_worker_with_retention_purges_ended_runs_by_itself(make_engine, clock,
                                                              unique_name) -> None:
    @legato.workflow(name=unique_name("kept"))
    def wf(ctx: legato.WorkflowContext) -> int:
        return 1

    engine = make_engine(clock=clock, retention=timedelta(hours=1), lease=0.3).launch()
    h = engine.start(wf)
    assert h.result(timeout=10) == 1
    time.sleep(0.3)  # a sweep ran meanwhile: too young; the next is due 10 minutes later
    assert engine.store.get(h.workflow_id) is not None
    clock.advance(7200)  # ... on the engine's clock: due now, and the run is old enough
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and engine.store.get(h.workflow_id) is not None:
        time.sleep(0.05)
    assert engine.store.get(h.workflow_id) is None
    with pytest.raises(legato.ConfigError, match="retention"):
        legato.Engine(engine.url, retention=-1)


def test_a_finished_run_leaves_no_cyclic_garbage(engine: legato.Engine, unique_name) -> None:
    """A run's Run, context and greenlets are freed when it ends, not left to the garbage
    collector (a backlog of cyclic garbage makes every full collection slow)."""
    import gc

    from legato.runtime.run import Fiber, Run

    @legato.step
    def inc(x: int) -> int:
        return x + 1

    @legato.workflow(name=unique_name("nogarbage"))
    def wf(ctx: legato.WorkflowContext, n: int) -> int:
        ctx.sleep(0.01)  # a short in-memory wait too
        return inc(inc(n))

    engine.start(wf, 0).result(timeout=10)  # warm
    gc.collect()
    gc.disable()
    try:
        handles = [engine.start(wf, i) for i in range(20)]
        assert [h.result(timeout=10) for h in handles] == [i + 2 for i in range(20)]
        time.sleep(0.1)  # the hub finishes its bookkeeping after the results are out
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable is kept here
        gc.collect()
        garbage = [o for o in gc.garbage if isinstance(o, Run | Fiber)]
        gc.garbage.clear()
        assert garbage == []
    finally:
        gc.set_debug(0)
        gc.enable()


def test_result_of_a_run_this_engine_completed_is_not_read_back(
        tmp_path, unique_name) -> None:
    """The engine's own worker hands the handle its result when it commits the run
    COMPLETED; result() then returns it without a query (another handle reads the store)."""
    @legato.step
    def double(x: int) -> dict:
        return {"x": x * 2}

    @legato.workflow(name=unique_name("handed"))
    def wf(ctx: legato.WorkflowContext, x: int) -> dict:
        return double(x)

    with legato.Engine(f"sqlite:///{tmp_path / 'handed.db'}") as engine:
        handle = engine.start(wf, 21)
        other = engine.handle(handle.workflow_id)
        assert other.result(timeout=10) == {"x": 42}  # waits, then reads the row
        seen: list[str] = []
        conn = engine.store._conn()  # type: ignore[attr-defined]
        conn.set_trace_callback(seen.append)
        try:
            assert handle.result(timeout=10) == {"x": 42}
            assert seen == []
            assert other.result(timeout=10) == {"x": 42}
            assert seen and seen[0].startswith("SELECT")
        finally:
            conn.set_trace_callback(None)
