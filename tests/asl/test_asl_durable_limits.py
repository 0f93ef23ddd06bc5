"""Durable executions end too, and a looping one does not hold up the worker's other runs.

Each test runs on both stores (the root ``make_engine`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import legato
from legato import asl
from legato.asl import durable
from legato.testing import VirtualClock, replay, run_to_completion

CAUSE = "The execution reached the maximum number of history events (25000)."


@pytest.fixture(autouse=True)
def _forget_registrations() -> Iterator[None]:
    from legato.runtime.registry import REGISTRY

    before = set(REGISTRY.names())
    yield
    for name in set(REGISTRY.names()) - before:
        REGISTRY.remove(name)


def _spin() -> dict[str, Any]:
    return {"StartAt": "Spin", "States": {"Spin": {"Type": "Pass", "Next": "Spin"}}}


def _markers(history: list[dict[str, Any]]) -> list[str]:
    """The ASL history events the run journaled (``asl:<id>:<type>[:<state>]``)."""
    return [str(e["name"]) for e in history
            if e["type"] == "PatchMarker" and str(e.get("name", "")).startswith("asl:")
            and e["name"] != durable.CHECKPOINTS]


def _checkpoints(history: list[dict[str, Any]]) -> int:
    return sum(1 for e in history
               if e["type"] == "StepCompleted" and e.get("name") == "asl:checkpoint")


def _fails_at_the_quota(handle: legato.WorkflowHandle) -> None:
    with pytest.raises(legato.WorkflowFailed) as info:
        handle.result(timeout=120)
    assert handle.status == "FAILED"
    assert info.value.error is not None
    assert info.value.error["args"] == ["States.Runtime", CAUSE]


def test_a_pass_loop_fails_at_the_quota_and_the_worker_goes_on(
        make_engine: Callable[..., legato.Engine], unique_name: Callable[[str], str]) -> None:
    loop, healthy = unique_name("asl_spin"), unique_name("asl_healthy")
    asl.register(loop, _spin())
    asl.register(healthy, {"StartAt": "Ping", "States": {
        "Ping": {"Type": "Task", "Resource": "ping", "End": True}}},
        handlers={"ping": lambda event: {"pong": event["n"]}})
    engine = make_engine().launch()
    handle = engine.start(loop, {})
    _fails_at_the_quota(handle)
    history = handle.history()
    markers = _markers(history)
    assert len(markers) == 25_000
    assert markers[0] == "asl:1:ExecutionStarted" and markers[-1] == "asl:25000:ExecutionFailed"
    # it parked every CHECKPOINT_EVERY events: the worker served its other runs meanwhile
    assert _checkpoints(history) == (25_000 - 1) // durable.CHECKPOINT_EVERY
    # the same engine (and worker) runs the next workflow as usual
    assert engine.start(healthy, {"n": 1}).result(timeout=30) == {"pong": 1}
    # and the failed run replays as it ran
    replayed = replay(engine.registry.get(loop).fn, history)
    assert replayed.complete and replayed.status == "FAILED"


def test_parallel_branches_share_the_quota(make_engine: Callable[..., legato.Engine],
                                           unique_name: Callable[[str], str]) -> None:
    name = unique_name("asl_spin_parallel")
    asl.register(name, {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [_spin(), _spin()], "End": True}}})
    engine = make_engine().launch()
    handle = engine.start(name, {})
    _fails_at_the_quota(handle)
    history = handle.history()
    markers = _markers(history)
    assert len(markers) == 25_000  # the body's and both branches' events, taken together
    assert markers[-1] == "asl:4:ExecutionFailed"  # numbered in the body, after ...Started
    lanes = {e.get("lane") for e in history if e.get("lane")}
    assert len(lanes) == 2
    assert _checkpoints(history) >= 2 * (12_000 // durable.CHECKPOINT_EVERY)


def test_timeout_seconds_stops_a_loop_that_never_parks_by_itself(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Callable[[str], str]) -> None:
    """The machine's TimeoutSeconds (the workflow deadline) takes effect at a checkpoint: a
    Pass loop that starts after the deadline has passed stops within CHECKPOINT_EVERY events,
    TIMED_OUT, instead of running on to the history quota."""
    name = unique_name("asl_spin_late")

    def tick(event: Any) -> Any:
        clock.advance(120)  # the Task takes two minutes on the engine's clock
        return event

    asl.register(name, {"TimeoutSeconds": 60, "StartAt": "Tick", "States": {
        "Tick": {"Type": "Task", "Resource": "tick", "Next": "Spin"},
        "Spin": {"Type": "Pass", "Next": "Spin"}}}, handlers={"tick": tick})
    engine = make_engine(clock=clock).launch()
    handle = engine.start(name, {})
    with pytest.raises(legato.WorkflowFailed):
        run_to_completion(handle, clock, timeout=60)
    assert handle.status == "TIMED_OUT"
    assert len(_markers(handle.history())) <= durable.CHECKPOINT_EVERY + 1


def test_a_run_recorded_without_checkpoints_replays(
        make_engine: Callable[..., legato.Engine], clock: VirtualClock,
        unique_name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs that legato journaled before it took checkpoints replay without them (the
    ``asl:checkpoints`` patch marker tells them apart), and those recorded with them replay
    with them."""
    name = unique_name("asl_counter")
    rounds = 150  # 600 events: past the first checkpoint
    asl.register(name, {"StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Check"},
        "Check": {"Type": "Choice", "Default": "Inc",
                  "Choices": [{"Variable": "$.i", "NumericEquals": rounds, "Next": "Done"}]},
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"},
                "Next": "Check"},
        "Done": {"Type": "Succeed"}}})
    engine = make_engine(clock=clock).launch()
    monkeypatch.setattr(durable, "CHECKPOINT_EVERY", 10**9)  # as before checkpoints
    old = engine.start(name, {})
    assert run_to_completion(old, clock) == {"i": rounds}
    assert _checkpoints(old.history()) == 0
    monkeypatch.undo()
    new = engine.start(name, {})
    assert run_to_completion(new, clock) == {"i": rounds}
    assert _checkpoints(new.history()) == (4 * rounds + 8) // durable.CHECKPOINT_EVERY
    for handle in (old, new):
        replayed = replay(engine.registry.get(name).fn, handle.history())
        assert replayed.complete and replayed.result == {"i": rounds}


def test_large_payloads_take_checkpoints_sooner(make_engine: Callable[..., legato.Engine],
                                                unique_name: Callable[[str], str]) -> None:
    """Encoding payloads is the work of a Pass state: a run checkpoints after CHECKPOINT_CHARS
    characters of them too, so 200 events of 256 KiB do not hold the worker for seconds."""
    name = unique_name("asl_heavy")
    chain = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(19)}
    asl.register(name, {"StartAt": "S0", "States": {**chain, "S19": {"Type": "Pass",
                                                                     "End": True}}})
    engine = make_engine().launch()
    payload = {"text": "x" * 200_000}
    handle = engine.start(name, payload)
    assert handle.result(timeout=60) == payload
    history = handle.history()
    assert len(_markers(history)) == 42  # far fewer than CHECKPOINT_EVERY events ...
    # ... of ~200,000 characters each: over CHECKPOINT_CHARS (1 MiB) every sixth event, so
    # after events 6, 12 ... 36 (the 42nd ends the run)
    assert durable.CHECKPOINT_CHARS == 1 << 20
    assert _checkpoints(history) == 6
