"""The input contract inside workflows and on the engine's other methods: results bounded by
Engine(max_payload), durations and names checked where a body gives them, ids checked before
they reach a store, and a schedule stored with a cron that cannot run is paused, not allowed
to stop the others."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import legato
from legato.store.base import ScheduleRow
from legato.testing import VirtualClock

Make = Callable[..., legato.Engine]


def _failed_with(handle: legato.WorkflowHandle, type_name: str, text: str) -> None:
    with pytest.raises(legato.WorkflowFailed) as failed:
        handle.result(timeout=30)
    error = failed.value.error or {}
    assert str(error.get("type", "")).endswith(type_name), error
    assert text in str(error.get("message")), error


def test_step_and_workflow_results_are_bounded_by_max_payload(
        make_engine: Make, unique_name: Callable[[str], str]) -> None:
    @legato.step
    def big(n: int) -> str:
        return "x" * n

    @legato.workflow(name=unique_name("big_step"))
    def big_step(ctx: legato.WorkflowContext) -> int:
        return len(big(5000))

    @legato.workflow(name=unique_name("big_result"))
    def big_result(ctx: legato.WorkflowContext) -> str:
        return "y" * 5000

    @legato.workflow(name=unique_name("fits"))
    def fits(ctx: legato.WorkflowContext) -> int:
        return len(big(100))

    engine = make_engine(max_payload=2000).launch()
    _failed_with(engine.start(big_step), "InvalidInput", "at most 2000 are allowed")
    _failed_with(engine.start(big_result), "InvalidInput", "the workflow's result is")
    assert engine.start(fits).result(timeout=30) == 100


def test_durations_names_and_keys_given_in_a_body_are_checked(
        engine: legato.Engine, unique_name: Callable[[str], str]) -> None:
    @legato.workflow(name=unique_name("nan_sleep"))
    def nan_sleep(ctx: legato.WorkflowContext) -> None:
        ctx.sleep(float("nan"))

    @legato.workflow(name=unique_name("nul_event"))
    def nul_event(ctx: legato.WorkflowContext) -> None:
        ctx.wait_event("paid\x00", key="k")

    @legato.workflow(name=unique_name("empty_state"))
    def empty_state(ctx: legato.WorkflowContext) -> None:
        ctx.set_state("", 1)

    _failed_with(engine.start(nan_sleep), "InvalidInput",
                 "ctx.sleep duration must be a finite number")
    _failed_with(engine.start(nul_event), "InvalidInput", "event type must not contain NUL")
    _failed_with(engine.start(empty_state), "InvalidInput", "state key must not be empty")


def test_a_decorator_option_that_is_not_a_duration_is_a_registration_error() -> None:
    with pytest.raises(legato.RegistrationError, match="step timeout must be a finite"):
        @legato.step(timeout=float("nan"))
        def s() -> None:
            return None
    with pytest.raises(legato.RegistrationError, match="heartbeat_timeout must be more"):
        @legato.step(heartbeat_timeout=-1)
        def t() -> None:
            return None


@pytest.mark.parametrize("call", [
    lambda e: e.handle("a\x00b"),
    lambda e: e.query("a\x00b", "k"),
    lambda e: e.query("w", "k\x00"),
    lambda e: e.cancel("a\x00b"),
    lambda e: e.retry("a\x00b"),
    lambda e: e.terminate("w", "why\x00"),
    lambda e: e.list(name="n\x00"),
], ids=["handle", "query-id", "query-key", "cancel", "retry", "terminate", "list"])
def test_ids_are_checked_before_they_reach_the_store(
        make_engine: Make, call: Callable[[legato.Engine], object]) -> None:
    with pytest.raises(legato.InvalidInput, match="must not contain NUL"):
        call(make_engine())


@pytest.mark.wallclock
def test_a_stored_cron_that_cannot_run_is_paused_and_the_others_fire(
        make_engine: Make, unique_name: Callable[[str], str]) -> None:
    name = unique_name("ticked")

    @legato.workflow(name=name)
    def ticked(ctx: legato.WorkflowContext) -> str:
        return "ran"

    clock = VirtualClock(start=1_800_000_000.0)
    engine = make_engine(clock=clock)
    now = clock.now()
    # as an older release stored it, before crons were checked
    engine.store.put_schedule(ScheduleRow("feb31", name, "0 0 31 2 *", "UTC", "once", [],
                                          False, now - 60), now)
    engine.schedules.create("minutely", ticked, "* * * * *")
    engine.launch()
    clock.advance(61)
    end = time.monotonic() + 30
    while not engine.list(name=name) and time.monotonic() < end:
        time.sleep(0.02)
    runs = engine.list(name=name)
    assert runs and runs[0].result(timeout=30) == "ran"
    listed = {s["name"]: s for s in engine.schedules.list()}
    assert listed["feb31"]["paused"] is True and listed["minutely"]["paused"] is False
