"""Reliability patterns (issue #4): sagas, parallel steps, redrive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

import legato
from legato.testing import VirtualClock, run_to_completion

Make = Callable[..., legato.Engine]
NO_RETRY = legato.RetryPolicy(max_attempts=1)


def test_saga_compensates_in_reverse_and_reraises(engine: legato.Engine, unique_name) -> None:
    log: list[str] = []

    @legato.step
    def book(what: str) -> str:
        log.append(f"book {what}")
        return f"{what}-1"

    @legato.step
    def cancel(ref: str) -> None:
        log.append(f"cancel {ref}")

    @legato.step(retry=NO_RETRY)
    def book_car() -> None:
        log.append("book car")
        raise RuntimeError("no cars left")

    @legato.workflow(name=unique_name("trip"))
    def trip(ctx: legato.WorkflowContext) -> None:
        with ctx.saga() as saga:
            saga.add(cancel, book("flight"))
            saga.add(cancel, book("hotel"))
            book_car()

    h = engine.start(trip)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.status == "FAILED"
    assert info.value.error["type"] == "builtins.RuntimeError"
    assert log == ["book flight", "book hotel", "book car", "cancel hotel-1",
                   "cancel flight-1"]
    assert h.describe()["detail"] == "compensated"


def test_saga_compensates_on_cancel(engine: legato.Engine, unique_name) -> None:
    log: list[str] = []
    gate = threading.Event()

    @legato.step
    def reserve() -> str:
        log.append("reserve")
        return "r1"

    @legato.step
    def release(ref: str) -> None:
        log.append(f"release {ref}")

    @legato.step
    def wait_gate() -> None:
        gate.wait(10)

    @legato.workflow(name=unique_name("cancel_saga"))
    def wf(ctx: legato.WorkflowContext) -> None:
        with ctx.saga() as saga:
            saga.add(release, reserve())
            wait_gate()
            reserve()

    h = engine.start(wf)
    deadline = time.monotonic() + 5
    while "reserve" not in log and time.monotonic() < deadline:
        time.sleep(0.005)
    h.cancel()
    gate.set()
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.status == "CANCELLED"
    assert log == ["reserve", "release r1"]


def test_parallel_steps_return_in_order_and_replay(make_engine: Make, clock: VirtualClock,
                                                   unique_name) -> None:
    calls: list[int] = []
    lock = threading.Lock()

    @legato.step
    def square(x: int) -> int:
        with lock:
            calls.append(x)
        time.sleep(0.01 * (5 - x))  # finish in reverse order
        return x * x

    @legato.workflow(name=unique_name("par"))
    def wf(ctx: legato.WorkflowContext) -> list[int]:
        first = ctx.parallel([lambda: square(1), lambda: square(2)])
        rest = ctx.map(square, [3, 4], limit=2)
        ctx.sleep(60)  # suspend, so the next run replays everything above
        return first + rest

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    clock.advance(61)
    assert h.result(timeout=10) == [1, 4, 9, 16]
    assert sorted(calls) == [1, 2, 3, 4]  # each ran once, replay used the journal
    types = [e["type"] for e in h.history()]
    assert types.count("StepScheduled") == 4 and types.count("StepCompleted") == 4
    keys = {e["pos"] for e in h.history() if e["type"] == "StepCompleted"}
    assert len(keys) == 4


def test_parallel_fail_fast_raises_first_failure(engine: legato.Engine, unique_name) -> None:
    @legato.step(retry=NO_RETRY)
    def maybe(x: int) -> int:
        if x == 2:
            raise ValueError("two is bad")
        return x

    @legato.workflow(name=unique_name("par_fail"))
    def wf(ctx: legato.WorkflowContext) -> str:
        try:
            ctx.map(maybe, [1, 2, 3])
        except ValueError as exc:
            return f"caught {exc}"
        return "no error"

    @legato.workflow(name=unique_name("par_all"))
    def wf_all(ctx: legato.WorkflowContext) -> list[str]:
        out = ctx.map(maybe, [1, 2, 3], fail_fast=False, return_exceptions=True)
        return [type(x).__name__ if isinstance(x, Exception) else str(x) for x in out]

    assert engine.start(wf).result(timeout=10) == "caught two is bad"
    assert engine.start(wf_all).result(timeout=10) == ["1", "ValueError", "3"]


def test_parallel_saga_compensation(engine: legato.Engine, unique_name) -> None:
    log: list[str] = []

    @legato.step
    def undo(x: str) -> None:
        log.append(x)

    @legato.step(retry=NO_RETRY)
    def fail() -> None:
        raise RuntimeError("boom")

    @legato.workflow(name=unique_name("par_saga"))
    def wf(ctx: legato.WorkflowContext) -> None:
        with ctx.saga(parallel=True) as saga:
            for x in ("a", "b", "c"):
                saga.add(undo, x)
            fail()

    with pytest.raises(legato.WorkflowFailed):
        engine.start(wf).result(timeout=10)
    assert sorted(log) == ["a", "b", "c"]


def test_parallel_branch_must_call_one_step(engine: legato.Engine, unique_name) -> None:
    @legato.workflow(name=unique_name("par_bad"))
    def wf(ctx: legato.WorkflowContext) -> None:
        ctx.parallel([lambda: 42])

    with pytest.raises(legato.WorkflowFailed) as info:
        engine.start(wf).result(timeout=10)
    assert "exactly one step call" in info.value.error["message"]


def test_redrive_resumes_from_the_failed_step(engine: legato.Engine, unique_name) -> None:
    broken = {"on": True}
    runs: list[str] = []

    @legato.step
    def first() -> str:
        runs.append("first")
        return "a"

    @legato.step(retry=legato.RetryPolicy(max_attempts=2, initial_interval=0))
    def second() -> str:
        runs.append(legato.step_key())
        if broken["on"]:
            raise ConnectionError("dependency down")
        return "b"

    @legato.workflow(name=unique_name("redrive"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return first() + second()

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=10)
    broken["on"] = False
    h.retry()
    assert h.result(timeout=10) == "ab"
    assert runs.count("first") == 1
    keys = [r for r in runs if r != "first"]
    assert len(keys) == 3 and len(set(keys)) == 1  # same idempotency key after redrive
    types = [e["type"] for e in h.history()]
    assert "WorkflowFailed" in types and "WorkflowRedriven" in types
    assert types[-1] == "WorkflowCompleted"
    with pytest.raises(legato.RetryRefused, match="only FAILED"):
        h.retry()


def test_redrive_after_failed_compensation_runs_only_the_rest(
        engine: legato.Engine, unique_name) -> None:
    log: list[str] = []
    broken = {"on": True}

    @legato.step
    def book(what: str) -> str:
        log.append(f"book {what}")
        return what

    @legato.step(retry=legato.RetryPolicy(max_attempts=1))
    def cancel(what: str) -> None:
        if what == "flight" and broken["on"]:
            log.append("cancel flight failed")
            raise ConnectionError("airline down")
        log.append(f"cancel {what}")

    @legato.step(retry=NO_RETRY)
    def book_car() -> None:
        raise RuntimeError("no cars")

    @legato.workflow(name=unique_name("comp_fail"))
    def wf(ctx: legato.WorkflowContext) -> None:
        with ctx.saga() as saga:
            saga.add(cancel, book("flight"))
            saga.add(cancel, book("hotel"))
            book_car()

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert h.describe()["detail"] == "compensation failed"
    assert info.value.error["type"] == "builtins.ConnectionError"
    broken["on"] = False
    h.retry()
    with pytest.raises(legato.WorkflowFailed) as info:
        h.result(timeout=10)
    assert info.value.error["type"] == "builtins.RuntimeError"
    assert h.describe()["detail"] == "compensated"
    assert log == ["book flight", "book hotel", "cancel hotel", "cancel flight failed",
                   "cancel flight"]
    with pytest.raises(legato.RedriveRefused, match="compensated"):  # the earlier name
        h.retry()


def test_redrive_after_a_code_fix_in_the_workflow(engine: legato.Engine, unique_name) -> None:
    state = {"fixed": False}

    @legato.step
    def fetch() -> int:
        return 41

    @legato.workflow(name=unique_name("codefix"))
    def wf(ctx: legato.WorkflowContext) -> int:
        n = fetch()
        if not state["fixed"]:
            raise KeyError("bug in the workflow")
        return n + 1

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=10)
    state["fixed"] = True
    assert engine.retry(h.workflow_id).result(timeout=10) == 42


def test_heartbeat_timeout_fails_the_attempt_and_the_retry_resumes(
        engine: legato.Engine, unique_name) -> None:
    release = threading.Event()
    seen: list[object] = []

    @legato.step(heartbeat_timeout=0.2,
                 retry=legato.RetryPolicy(max_attempts=3, initial_interval=0))
    def long_copy(n: int) -> str:
        seen.append(legato.heartbeat_details())
        start = legato.heartbeat_details() or 0
        for i in range(start, n):
            legato.heartbeat(i)
            if i == 3 and start == 0:
                release.wait(5)  # hangs without heartbeats: the attempt is abandoned
            time.sleep(0.03)
        return f"copied from {start}"

    @legato.workflow(name=unique_name("hb"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return long_copy(10)

    try:
        h = engine.start(wf)
        assert h.result(timeout=10) == "copied from 3"
    finally:
        release.set()
    assert seen == [None, 3]
    failed = [e for e in h.history() if e["type"] == "StepFailed"]
    assert failed[0]["error"]["type"] == "legato.errors.HeartbeatTimeout"
    assert failed[0]["heartbeat"] == 3


def test_heartbeating_step_may_run_longer_than_its_heartbeat_timeout(
        engine: legato.Engine, unique_name) -> None:
    @legato.step(heartbeat_timeout=0.1)
    async def steady() -> str:
        import asyncio

        for i in range(8):
            legato.heartbeat(i)
            await asyncio.sleep(0.03)
        return "done"

    @legato.workflow(name=unique_name("hb_ok"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return steady()

    h = engine.start(wf)
    assert h.result(timeout=10) == "done"
    assert not [e for e in h.history() if e["type"] == "StepFailed"]


def test_heartbeat_outside_a_step_is_an_error() -> None:
    with pytest.raises(legato.LegatoError, match="only available inside a running step"):
        legato.heartbeat()


def test_circuit_breaker_opens_and_is_shared(make_engine: Make, clock: VirtualClock,
                                             unique_name) -> None:
    name = unique_name("payments")
    cb = legato.CircuitBreaker(name, failure_threshold=2, reset_timeout=30)
    healthy = {"on": False}
    calls: list[str] = []

    @legato.step(circuit=cb, retry=legato.RetryPolicy(max_attempts=10, initial_interval=0))
    def charge(order: str) -> str:
        calls.append(order)
        if not healthy["on"]:
            raise ConnectionError("payments down")
        return f"charged {order}"

    @legato.workflow(name=unique_name("pay"))
    def pay(ctx: legato.WorkflowContext, order: str) -> str:
        return charge(order)

    engine = make_engine(clock=clock).launch()
    h1 = engine.start(pay, "o1")
    h1.wait_status("WAITING")  # two failures opened the breaker; now it waits durably
    assert calls == ["o1", "o1"]
    (state,) = [c for c in engine.circuits() if c["name"] == name]
    assert state["state"] == "OPEN" and state["failures"] == 2
    assert state["next_probe_at"] == datetime.fromtimestamp(clock.now() + 30, UTC).isoformat()
    assert state["opened_at"] == datetime.fromtimestamp(clock.now(), UTC).isoformat()
    h2 = engine.start(pay, "o2")  # another workflow: does not call the dependency at all
    h2.wait_status("WAITING")
    assert calls == ["o1", "o1"]
    healthy["on"] = True
    clock.advance(31)  # one of them probes; the other looks again a second later
    deadline = time.monotonic() + 10
    while {h1.status, h2.status} != {"COMPLETED"} and time.monotonic() < deadline:
        time.sleep(0.05)
        clock.advance(1)
    assert h1.result(timeout=10) == "charged o1"
    assert h2.result(timeout=10) == "charged o2"
    (state,) = [c for c in engine.circuits() if c["name"] == name]
    assert state["state"] == "CLOSED"
    trail = sorted(engine.circuit_transitions(name),
                   key=lambda t: datetime.fromisoformat(t["at"]))  # ISO 8601 strings
    moves = [(t["source"], t["target"]) for t in trail]
    assert moves[0] == ("CLOSED", "OPEN")  # the later two share a virtual instant
    assert sorted(moves[1:]) == [("HALF_OPEN", "CLOSED"), ("OPEN", "HALF_OPEN")]
    failed = [e for e in h1.history() if e["type"] == "StepFailed"]
    assert [e["attempt"] for e in failed] == [1, 2]  # waiting used up no attempts


def test_circuit_breaker_fail_fast(engine: legato.Engine, unique_name) -> None:
    cb = legato.CircuitBreaker(unique_name("ff"), failure_threshold=1, reset_timeout=60,
                               fail_fast=True)

    @legato.step(circuit=cb, retry=legato.RetryPolicy(max_attempts=1))
    def call() -> None:
        raise ConnectionError("down")

    @legato.workflow(name=unique_name("ffwf"))
    def wf(ctx: legato.WorkflowContext) -> str:
        try:
            call()
        except ConnectionError:
            pass
        try:
            call()
        except legato.CircuitOpen as exc:
            return f"open: {exc.circuit}"
        return "closed?"

    assert engine.start(wf).result(timeout=10) == f"open: {cb.name}"


def test_child_workflow_returns_its_result(make_engine: Make, clock: VirtualClock,
                                           unique_name) -> None:
    @legato.step
    def pack(item: str) -> str:
        return f"packed {item}"

    @legato.workflow(name=unique_name("child"))
    def ship(ctx: legato.WorkflowContext, item: str) -> str:
        ctx.sleep(60)  # the parent waits durably meanwhile
        return pack(item)

    @legato.workflow(name=unique_name("parent"))
    def order(ctx: legato.WorkflowContext, items: list[str]) -> list[str]:
        return [ctx.child(ship, item) for item in items]

    engine = make_engine(clock=clock).launch()
    h = engine.start(order, ["a", "b"], workflow_id="order-1")
    assert _wait_exists(engine, "order-1:2")
    child = engine.handle("order-1:2")
    child.wait_status("WAITING")
    h.wait_status("WAITING")
    clock.advance(61)
    assert _wait_exists(engine, "order-1:4")
    engine.handle("order-1:4").wait_status("WAITING")
    clock.advance(61)
    assert h.result(timeout=10) == ["packed a", "packed b"]
    assert child.result(timeout=1) == "packed a"
    types = [e["type"] for e in h.history()]
    assert types.count("ChildWorkflowStarted") == 2 and types.count("ChildWorkflowEnded") == 2
    names = {x.workflow_id for x in engine.list()}
    assert {"order-1", "order-1:2", "order-1:4"} <= names


def test_child_failure_raises_in_parent_and_saga_compensates(
        engine: legato.Engine, unique_name) -> None:
    log: list[str] = []

    @legato.step
    def undo(what: str) -> None:
        log.append(f"undo {what}")

    @legato.workflow(name=unique_name("bad_child"))
    def bad_child(ctx: legato.WorkflowContext) -> None:
        raise ValueError("child broke")

    @legato.workflow(name=unique_name("good_child"))
    def good_child(ctx: legato.WorkflowContext) -> str:
        return "ok"

    @legato.workflow(name=unique_name("saga_parent"))
    def parent(ctx: legato.WorkflowContext) -> str:
        with ctx.saga() as saga:
            ctx.child(good_child)
            saga.add(undo, "good child")
            try:
                ctx.child(bad_child)
            except legato.WorkflowFailed as exc:
                log.append(f"child {exc.status}")
                raise
        return "unreachable"

    with pytest.raises(legato.WorkflowFailed):
        engine.start(parent).result(timeout=10)
    assert log == ["child FAILED", "undo good child"]


@pytest.mark.wallclock
def test_cancelling_the_parent_cancels_the_child(make_engine: Make, clock: VirtualClock,
                                                 unique_name) -> None:
    @legato.workflow(name=unique_name("slow_child"))
    def slow_child(ctx: legato.WorkflowContext) -> None:
        ctx.sleep(3600)

    @legato.workflow(name=unique_name("cparent"))
    def parent(ctx: legato.WorkflowContext) -> None:
        ctx.child(slow_child, workflow_id="the-child")

    engine = make_engine(clock=clock).launch()
    h = engine.start(parent, deadline=7200)
    kid = engine.handle("the-child") if _wait_exists(engine, "the-child") else None
    assert kid is not None
    kid.wait_status("WAITING")
    assert kid.describe()["deadline"] == h.describe()["deadline"]  # inherited
    h.cancel()
    assert h.wait_status("CANCELLED") == "CANCELLED"
    assert kid.wait_status("CANCELLED") == "CANCELLED"


@pytest.mark.wallclock
def test_a_child_with_a_timeout_is_stopped_and_the_parent_told(make_engine: Make,
                                                               clock: VirtualClock,
                                                               unique_name) -> None:
    @legato.workflow(name=unique_name("sleepy_child"))
    def sleepy_child(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(3600)
        return "woke"

    @legato.workflow(name=unique_name("tparent"))
    def parent(ctx: legato.WorkflowContext) -> str:
        try:
            return str(ctx.child(sleepy_child, workflow_id="late-child", timeout=600))
        except legato.WorkflowFailed as exc:
            return f"child {exc.status}"

    engine = make_engine(clock=clock).launch()
    h = engine.start(parent)
    assert _wait_exists(engine, "late-child")
    kid = engine.handle("late-child")
    kid.wait_status("WAITING")
    d = kid.describe()
    limit = datetime.fromisoformat(d["deadline"]) - datetime.fromisoformat(d["created_at"])
    assert limit.total_seconds() == pytest.approx(600, abs=1)
    clock.advance(601)
    assert h.result(timeout=10) == "child TIMED_OUT"
    assert kid.status == "TIMED_OUT"


@pytest.mark.wallclock
def test_run_to_completion_also_skips_a_child_workflows_sleep(make_engine: Make,
                                                               clock: VirtualClock,
                                                               unique_name) -> None:
    @legato.workflow(name=unique_name("napper"))
    def napper(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(86_400)
        return "rested"

    @legato.workflow(name=unique_name("waits_for_napper"))
    def parent(ctx: legato.WorkflowContext) -> str:
        return str(ctx.child(napper))

    engine = make_engine(clock=clock).launch()
    t0 = clock.now()
    assert run_to_completion(engine.start(parent), clock) == "rested"
    assert clock.now() - t0 >= 86_400


def _wait_exists(engine: legato.Engine, wid: str, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            engine.handle(wid)
            return True
        except legato.WorkflowNotFound:
            time.sleep(0.01)
    return False


def test_saga_can_compensate_with_a_child_workflow(engine: legato.Engine, unique_name) -> None:
    log: list[str] = []

    @legato.step
    def note(x: str) -> None:
        log.append(x)

    @legato.workflow(name=unique_name("refund_wf"))
    def refund(ctx: legato.WorkflowContext, amount: int) -> None:
        note(f"refund {amount}")

    @legato.step(retry=NO_RETRY)
    def fail() -> None:
        raise RuntimeError("boom")

    @legato.workflow(name=unique_name("comp_child"))
    def wf(ctx: legato.WorkflowContext) -> None:
        with ctx.saga() as saga:
            note("charge 10")
            saga.add(refund, 10)
            fail()

    h = engine.start(wf)
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=10)
    assert log == ["charge 10", "refund 10"]
    assert h.describe()["detail"] == "compensated"
    assert "ChildWorkflowStarted" in [e["type"] for e in h.history()]


def test_start_child_detached_carries_on(make_engine: Make, clock: VirtualClock,
                                         unique_name) -> None:
    @legato.workflow(name=unique_name("detached"))
    def later(ctx: legato.WorkflowContext, x: int) -> int:
        ctx.sleep(3600)
        return x * 2

    @legato.workflow(name=unique_name("starter"))
    def starter(ctx: legato.WorkflowContext) -> str:
        kid = ctx.start_child(later, 21)
        ctx.sleep(60)  # replays the start from the journal afterwards
        return kid

    engine = make_engine(clock=clock).launch()
    h = engine.start(starter, workflow_id="boss")
    h.wait_status("WAITING")
    clock.advance(61)
    kid = h.result(timeout=10)
    assert kid == "boss:2"
    child = engine.handle(kid)
    assert child.wait_status("WAITING") == "WAITING"  # the parent ended; the child goes on
    clock.advance(3600)
    assert child.result(timeout=10) == 42
    assert len([e for e in h.history() if e["type"] == "ChildWorkflowStarted"]) == 1
