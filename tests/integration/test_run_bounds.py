"""Every run can end: a history that grows for ever fails at Engine(history_limit=), and a
workflow body that never parks is caught by the watchdog, which hands the worker's other runs
to other workers and fails the run when it parks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

import legato

Make = Callable[..., legato.Engine]


def _type(error: dict[str, object] | None) -> str:
    assert error is not None
    return str(error["type"]).rsplit(".", 1)[-1]


@legato.step
def tick(i: int) -> int:
    return i


def test_a_run_that_loops_for_ever_fails_at_its_history_limit(
        make_engine: Make, unique_name: Callable[[str], str],
        caplog: pytest.LogCaptureFixture) -> None:
    @legato.workflow(name=unique_name("forever"))
    def forever(ctx: legato.WorkflowContext) -> None:
        i = 0
        while True:
            try:
                tick(i)
            except Exception:  # even code that swallows every error cannot go on
                pass
            i += 1

    @legato.workflow(name=unique_name("short"))
    def short(ctx: legato.WorkflowContext) -> int:
        return tick(1) + tick(2)

    engine = make_engine(history_limit=40).launch()
    with caplog.at_level(logging.WARNING, logger="legato"), \
            pytest.raises(legato.WorkflowFailed) as failed:
        engine.start(forever).result(timeout=60)
    assert _type(failed.value.error) == "HistoryLimitExceeded"
    assert "history limit of 40 events" in failed.value.error["message"]
    assert any("has recorded 8 events (the limit is 40)" in r.getMessage()
               for r in caplog.records)
    history = engine.handle(failed.value.workflow_id).history()
    assert len(history) == 40 and history[-1]["type"] == "WorkflowFailed"  # at most 40
    assert engine.start(short).result(timeout=30) == 3  # the worker goes on


def test_history_limit_and_watchdog_are_checked(make_engine: Make) -> None:
    for bad in ({"history_limit": 5}, {"history_limit": 1.5}, {"watchdog": 0},
                {"watchdog": float("nan")}):
        with pytest.raises(legato.ConfigError):
            make_engine(**bad)


def test_the_watchdog_hands_other_runs_over_and_fails_the_busy_one(
        make_engine: Make, unique_name: Callable[[str], str],
        caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()

    @legato.workflow(name=unique_name("busy"))
    def busy(ctx: legato.WorkflowContext) -> int:
        end = time.monotonic() + 120  # a bug: a loop that never parks (bounded for the test)
        while not release.is_set() and time.monotonic() < end:
            pass
        return tick(1)

    @legato.workflow(name=unique_name("patient"))
    def patient(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(0.3)  # a short wait: kept in the worker's memory, the run stays owned
        return "done"

    stuck = make_engine(watchdog=0.2).launch()
    other = make_engine().launch()
    with caplog.at_level(logging.ERROR, logger="legato"):
        waiting = stuck.start(patient, workflow_id="patient-1")
        blocked = stuck.start(busy, workflow_id="busy-1")
        try:
            # the run held up behind the busy body is taken over by the other worker
            assert other.handle(waiting.workflow_id).result(timeout=60) == "done"
        finally:
            release.set()
        with pytest.raises(legato.WorkflowFailed) as failed:
            blocked.result(timeout=60)
    assert _type(failed.value.error) == "WorkflowBlocked"
    assert "without parking" in failed.value.error["message"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "busy-1" in logged and "in busy" in logged  # the run and where it was stuck
    assert stuck.healthy
    assert stuck.start(patient, workflow_id="patient-2").result(timeout=30) == "done"


def test_a_run_of_quick_inline_steps_does_not_keep_other_runs_out(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    """The hub reads its inbox between group commits even while a run keeps coming back
    ready: here the busy run ends only once the other one, started after it, has run."""
    flag = threading.Event()

    @legato.step(inline=True)
    def quick(i: int) -> int:
        return i

    @legato.step
    def raise_flag() -> None:
        flag.set()

    @legato.workflow(name=unique_name("spinner"))
    def spinner(ctx: legato.WorkflowContext) -> int:
        i = 0
        while not flag.is_set():
            i = quick(i) + 1
        return i

    @legato.workflow(name=unique_name("other"))
    def other(ctx: legato.WorkflowContext) -> str:
        raise_flag()
        return "ran"

    spinning = engine.start(spinner)
    assert engine.start(other).result(timeout=60) == "ran"
    assert spinning.result(timeout=60) > 0
