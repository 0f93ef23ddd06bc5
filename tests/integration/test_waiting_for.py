"""``waiting_for`` in a run's description, one kind at a time, on SQLite and PostgreSQL: what
an operator looking at a run (``legato show``, the API's run page) needs to know — "it waits
for the event payment.settled of order o-1 until 10:00", not just "WAITING".

Each test reads the description two ways where it matters: through the engine whose worker
runs the run, and through a client engine on the same database (another process, as far as
what it can see goes: the store only).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import legato
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]
T0 = 1_800_000_000.0


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def waits(h: legato.WorkflowHandle, kind: str, timeout: float = 20.0) -> dict[str, Any]:
    """The run's waiting_for once it is of ``kind`` (it gets there asynchronously)."""
    end = time.monotonic() + timeout
    got = None
    while time.monotonic() < end:
        got = h.describe()["waiting_for"]
        if got is not None and got["kind"] == kind:
            return got
        time.sleep(0.01)
    raise AssertionError(f"waiting_for is {got}, not a {kind!r} (status {h.status})")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=T0)


def test_a_run_not_claimed_yet_waits_to_start(make_engine: Make, unique_name,
                                              clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("later"))
    def wf(ctx: legato.WorkflowContext) -> None:
        return None

    client = make_engine(clock=clock)  # no worker anywhere
    h = client.start(wf)
    assert h.describe()["waiting_for"] == {"kind": "start", "until": iso(T0)}


def test_a_queued_run_waits_for_its_queue(make_engine: Make, unique_name,
                                          clock: VirtualClock) -> None:
    qname = unique_name("one_at_a_time")
    legato.Queue(qname, concurrency=1)
    gate = threading.Event()

    @legato.step
    def hold() -> None:
        gate.wait(20)

    @legato.workflow(name=unique_name("queued"), queue=qname)
    def wf(ctx: legato.WorkflowContext) -> None:
        hold()

    engine = make_engine(clock=clock).launch()
    try:
        first = engine.start(wf)
        first.wait_status("RUNNING")
        clock.advance(5)
        second = engine.start(wf)
        assert waits(second, "queue") == {"kind": "queue", "queue": qname,
                                          "since": iso(T0 + 5)}
    finally:
        gate.set()
    assert second.result(timeout=30) is None


def test_a_running_step_as_its_worker_sees_it(make_engine: Make, unique_name,
                                              clock: VirtualClock) -> None:
    gate, entered = threading.Event(), threading.Event()

    @legato.step(timeout=30)
    def slow() -> str:
        entered.set()
        gate.wait(20)
        return "done"

    @legato.workflow(name=unique_name("slow"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return slow()

    engine = make_engine(clock=clock).launch()
    client = make_engine(clock=clock)
    try:
        h = engine.start(wf)
        assert entered.wait(20)
        assert waits(h, "step") == {"kind": "step", "name": slow.__legato_step__.name,
                                    "attempt": 1, "since": iso(T0), "timeout": 30.0}
        # another process sees the run RUNNING, and no record of the attempt's start (a
        # step's start is not journaled: docs/runs.md)
        assert client.handle(h.workflow_id).describe()["waiting_for"] is None
    finally:
        gate.set()
    assert h.result(timeout=30) == "done"
    assert h.describe()["waiting_for"] is None


def test_a_retry_backoff_then_the_retried_attempt(make_engine: Make, unique_name,
                                                  clock: VirtualClock) -> None:
    gate, second = threading.Event(), threading.Event()
    calls = {"n": 0}

    @legato.step(retry=legato.RetryPolicy(max_attempts=3, initial_interval=60,
                                          jitter=False))
    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("down")
        second.set()
        gate.wait(20)
        return "ok"

    @legato.workflow(name=unique_name("flaky"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return flaky()

    engine = make_engine(clock=clock).launch()
    client = make_engine(clock=clock)
    name = flaky.__legato_step__.name
    try:
        h = engine.start(wf)
        h.wait_status("WAITING")  # a minute's backoff: suspended
        expected = {"kind": "retry", "since": iso(T0), "name": name, "attempt": 2,
                    "until": iso(T0 + 60)}
        assert waits(h, "retry") == expected
        assert client.handle(h.workflow_id).describe()["waiting_for"] == expected
        clock.advance(60)
        assert second.wait(20)
        live = waits(h, "step")
        assert live["name"] == name and live["attempt"] == 2 and live["timeout"] is None
        # from the store alone: the failed attempt's record says the next one is due
        assert client.handle(h.workflow_id).describe()["waiting_for"] == {
            "kind": "step", "name": name, "attempt": 2, "since": iso(T0 + 60),
            "timeout": None}
    finally:
        gate.set()
    assert h.result(timeout=30) == "ok"


def test_a_durable_sleep_waits_for_its_timer(make_engine: Make, unique_name,
                                             clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("sleepy"))
    def wf(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(3600)
        return "awake"

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    assert h.describe()["waiting_for"] == {"kind": "timer", "since": iso(T0),
                                           "until": iso(T0 + 3600)}
    clock.advance(3600)
    assert h.result(timeout=30) == "awake"
    assert h.describe()["waiting_for"] is None


def test_an_event_wait_names_its_type_key_and_timeout(make_engine: Make, unique_name,
                                                      clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("paid"))
    def wf(ctx: legato.WorkflowContext, order: str) -> object:
        return ctx.wait_event("payment.settled", key=order, timeout=600)

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf, "o-1")
    h.wait_status("WAITING")
    expected = {"kind": "event", "since": iso(T0), "type": "payment.settled", "key": "o-1",
                "until": iso(T0 + 600)}
    assert h.describe()["waiting_for"] == expected
    assert make_engine(clock=clock).handle(h.workflow_id).describe()["waiting_for"] == expected
    engine.publish("payment.settled", key="o-1", data={"amount": 5})
    assert h.result(timeout=30) == {"amount": 5}


def test_a_signal_wait_without_a_timeout(make_engine: Make, unique_name,
                                         clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("approval"))
    def wf(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_signal("approve")

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    assert h.describe()["waiting_for"] == {"kind": "signal", "since": iso(T0),
                                           "name": "approve", "until": None}
    h.signal("approve", True)
    assert h.result(timeout=30) is True


def test_a_human_task_names_who_may_decide_and_when_it_is_due(
        make_engine: Make, unique_name, clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("review"))
    def wf(ctx: legato.WorkflowContext) -> object:
        return ctx.human_task("review claim", group="claims", due=86400,
                              escalate_to="managers")

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    got = h.describe()["waiting_for"]
    assert got == {"kind": "task", "since": iso(T0), "task_id": got["task_id"],
                   "name": "review claim",
                   "assignee": None, "group": "claims", "claimed_by": None,
                   "due": iso(T0 + 86400)}
    assert got["task_id"].startswith(h.workflow_id)
    engine.users.add("ann", groups=["claims"])
    engine.tasks.claim(got["task_id"], "ann")  # the task as it stands now, not as created
    assert h.describe()["waiting_for"]["claimed_by"] == "ann"


def test_a_parent_waits_for_its_child(make_engine: Make, unique_name,
                                      clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("child"))
    def child(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(120)
        return "grown"

    @legato.workflow(name=unique_name("parent"))
    def parent(ctx: legato.WorkflowContext) -> object:
        return ctx.child(child, workflow_id="kid-1")

    engine = make_engine(clock=clock).launch()
    h = engine.start(parent)
    h.wait_status("WAITING")
    assert h.describe()["waiting_for"] == {"kind": "child", "since": iso(T0),
                                           "workflow_id": "kid-1",
                                           "name": child.__legato_workflow__.name}
    kid = engine.handle("kid-1")
    assert waits(kid, "timer") == {"kind": "timer", "since": iso(T0), "until": iso(T0 + 120)}
    clock.advance(120)
    assert h.result(timeout=30) == "grown"


def test_a_step_held_back_by_an_open_circuit(make_engine: Make, unique_name,
                                             clock: VirtualClock) -> None:
    cb = legato.CircuitBreaker(unique_name("payments"), failure_threshold=1,
                               reset_timeout=300)
    healthy = {"on": False}

    @legato.step(circuit=cb, retry=legato.RetryPolicy(max_attempts=5, initial_interval=0))
    def charge() -> str:
        if not healthy["on"]:
            raise ConnectionError("payments down")
        return "charged"

    @legato.workflow(name=unique_name("pay"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return charge()

    engine = make_engine(clock=clock).launch()
    first = engine.start(wf)
    first.wait_status("WAITING")  # one failure opened it: the retry waits for the breaker
    expected = {"kind": "circuit", "name": cb.name, "until": iso(T0 + 300)}
    assert first.describe()["waiting_for"] == expected
    other = engine.start(wf)  # never called the dependency: held back before its attempt
    other.wait_status("WAITING")
    assert other.describe()["waiting_for"] == expected
    healthy["on"] = True
    clock.advance(300)
    deadline = time.monotonic() + 20
    while {first.status, other.status} != {"COMPLETED"} and time.monotonic() < deadline:
        time.sleep(0.05)
        clock.advance(1)
    assert first.result(timeout=10) == other.result(timeout=10) == "charged"


def test_branches_waiting_on_several_things_show_the_first_to_end(
        make_engine: Make, unique_name, clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("both"))
    def wf(ctx: legato.WorkflowContext) -> list[Any]:
        return ctx.branches([lambda: ctx.wait_signal("go"),
                             lambda: ctx.sleep(900),
                             lambda: ctx.wait_event("shipped", key="o-9", timeout=60)])

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    assert h.describe()["waiting_for"] == {
        "kind": "event", "type": "shipped", "key": "o-9", "since": iso(T0),
        "until": iso(T0 + 60),
        "also": [{"kind": "timer", "since": iso(T0), "until": iso(T0 + 900)},
                 {"kind": "signal", "since": iso(T0), "name": "go", "until": None}]}


def test_a_wait_on_several_conditions_lists_each(make_engine: Make, unique_name,
                                                 clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("any"))
    def wf(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_any([ctx.event("paid", key="o-2"), ctx.signal("cancel"),
                             ctx.timer(300)])

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    assert h.describe()["waiting_for"] == {
        "kind": "event", "type": "paid", "key": "o-2", "since": iso(T0),
        "until": iso(T0 + 300),
        "also": [{"kind": "signal", "since": iso(T0), "name": "cancel",
                  "until": iso(T0 + 300)}]}


def test_parallel_steps_in_flight_are_seen_from_anywhere(make_engine: Make, unique_name,
                                                          clock: VirtualClock) -> None:
    gate = threading.Event()
    started = threading.Semaphore(0)

    @legato.step
    def part(i: int) -> int:
        started.release()
        gate.wait(20)
        return i

    @legato.workflow(name=unique_name("fanout"))
    def wf(ctx: legato.WorkflowContext) -> list[int]:
        return ctx.map(part, [1, 2])

    engine = make_engine(clock=clock).launch()
    client = make_engine(clock=clock)
    try:
        h = engine.start(wf)
        assert started.acquire(timeout=20) and started.acquire(timeout=20)
        seen = client.handle(h.workflow_id).describe()["waiting_for"]
        step = {"kind": "step", "name": part.__legato_step__.name, "attempt": 1,
                "since": iso(T0), "timeout": None}
        assert seen == {**step, "also": [step]}
    finally:
        gate.set()
    assert h.result(timeout=30) == [1, 2]


def test_an_ended_run_waits_for_nothing(make_engine: Make, unique_name,
                                        clock: VirtualClock) -> None:
    @legato.workflow(name=unique_name("ends"))
    def wf(ctx: legato.WorkflowContext) -> object:
        return ctx.wait_signal("never")

    engine = make_engine(clock=clock).launch()
    h = engine.start(wf)
    h.wait_status("WAITING")
    h.terminate("enough")
    assert h.describe()["waiting_for"] is None
    assert engine.runs().items[0]["waiting_for"] is None
