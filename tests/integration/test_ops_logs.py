"""The worker's operational log lines (INFO, under ``legato.worker``), one per event and each
naming the run: what an operator tails to learn that a run failed, a step gave up, a dead
worker's runs were taken over, or a circuit breaker opened or closed (both stores)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

import legato
from legato.domain.events import WORKFLOW_STARTED, Event
from legato.store.base import HOST, NewWorkflow, WorkerInfo
from legato.store.url import open_store
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]


def lines(caplog: pytest.LogCaptureFixture, logger: str, *words: str,
          timeout: float = 20.0) -> list[str]:
    """The messages of ``logger`` holding every word (waits for them to be written)."""
    end = time.monotonic() + timeout
    while True:
        found = [r.getMessage() for r in caplog.records
                 if r.name == logger and r.levelno == logging.INFO
                 and all(w in r.getMessage() for w in words)]
        if found or time.monotonic() > end:
            return found
        time.sleep(0.02)


def test_a_failed_run_and_a_step_that_gave_up_are_one_line_each(
        make_engine: Make, unique_name, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="legato.worker")

    @legato.step(retry=legato.RetryPolicy(max_attempts=2, initial_interval=0))
    def reserve(item: str) -> None:
        raise ValueError(f"no stock for {item}")

    @legato.workflow(name=unique_name("order"))
    def order(ctx: legato.WorkflowContext, item: str) -> None:
        reserve(item)

    engine = make_engine().launch()
    h = engine.start(order, "sku-1")
    with pytest.raises(legato.WorkflowFailed):
        h.result(timeout=30)
    name = order.__legato_workflow__.name
    failed = lines(caplog, "legato.worker.runs", h.workflow_id, "failed:")
    assert failed == [f"legato: run {h.workflow_id} ({name}) failed: builtins.ValueError: no"
                      " stock for sku-1"]
    gave_up = lines(caplog, "legato.worker.runs", h.workflow_id, "failed for good")
    assert len(gave_up) == 1
    assert f"step {reserve.__legato_step__.name!r}" in gave_up[0]
    assert "at attempt 2 (gave up after 2 attempt(s))" in gave_up[0]
    assert gave_up[0].endswith("ValueError: no stock for sku-1")


def test_the_runs_of_a_dead_worker_taken_over(make_engine: Make, unique_name, db_url: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="legato.worker")

    @legato.workflow(name=unique_name("orphan"))
    def wf(ctx: legato.WorkflowContext) -> str:
        return "finished elsewhere"

    name = wf.__legato_workflow__.name
    ghost = open_store(db_url)  # another process's store, then that process dies
    now = time.time()
    ghost.register_worker(WorkerInfo("ghost-worker", HOST, 4_000_000, now - 60, now - 50))
    for i in range(2):
        ghost.create(NewWorkflow(id=f"orphan-{i}", name=name, input="[]", now=now,
                                 owner="ghost-worker"),
                     Event(1, WORKFLOW_STARTED, now, name=name, data={"input": []}))
    ghost.close()
    engine = make_engine().launch()
    assert engine.handle("orphan-1").result(timeout=30) == "finished elsewhere"
    taken = lines(caplog, "legato.worker.recovery", "ghost-worker")
    assert len(taken) == 1
    assert taken[0].startswith("legato: 2 run(s) of dead worker(s) ghost-worker (pid 4000000")
    assert engine.worker_id in taken[0]


def test_a_circuit_opening_and_closing(make_engine: Make, unique_name,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="legato.worker")
    clock = VirtualClock(start=1_800_000_000.0)
    cb = legato.CircuitBreaker(unique_name("payments"), failure_threshold=1, reset_timeout=60)
    healthy = {"on": False}

    @legato.step(circuit=cb, retry=legato.RetryPolicy(max_attempts=5, initial_interval=0))
    def charge() -> str:
        if not healthy["on"]:
            raise ConnectionError("payments down")
        return "charged"

    @legato.workflow(name=unique_name("pay"))
    def pay(ctx: legato.WorkflowContext) -> str:
        return charge()

    engine = make_engine(clock=clock).launch()
    h = engine.start(pay)
    h.wait_status("WAITING")
    opened = lines(caplog, "legato.worker.circuits", repr(cb.name), "is OPEN")
    assert opened == [f"legato: circuit {cb.name!r} is OPEN (was CLOSED): 1 consecutive"
                      " failures"]
    healthy["on"] = True
    clock.advance(61)
    assert h.result(timeout=30) == "charged"
    closed = lines(caplog, "legato.worker.circuits", repr(cb.name), "is CLOSED")
    assert closed == [f"legato: circuit {cb.name!r} is CLOSED (was HALF_OPEN): probe"
                      " succeeded"]
