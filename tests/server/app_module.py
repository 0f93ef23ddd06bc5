"""The workflows the API tests' server process serves (``legato server`` imports this file)."""

from __future__ import annotations

from typing import Any

import legato
from legato import asl


@legato.step
def shout(text: str) -> str:
    return text.upper()


@legato.workflow(name="api_greet")
def greet(ctx: legato.WorkflowContext, name: str, punctuation: str = "!") -> str:
    """Greet someone: one step."""
    return shout(f"hello {name}") + punctuation


@legato.step
def flaky(fail: bool) -> str:
    if fail:
        raise RuntimeError("the dependency is down")
    return "ok"


@legato.workflow(name="api_fails")
def fails(ctx: legato.WorkflowContext) -> str:
    """Fails until the state it reads says otherwise (for retry)."""
    return flaky(True)


@legato.workflow(name="api_wait_event")
def wait_event(ctx: legato.WorkflowContext, key: str) -> Any:
    ctx.set_state("phase", "waiting")
    got = ctx.wait_event("receipt.uploaded", key=key, timeout=3600)
    ctx.set_state("phase", "done")
    return got


@legato.workflow(name="api_wait_signal")
def wait_signal(ctx: legato.WorkflowContext) -> Any:
    return ctx.wait_signal("go", timeout=3600)


@legato.workflow(name="api_sleep")
def sleeper(ctx: legato.WorkflowContext, seconds: float) -> str:
    ctx.sleep(seconds)
    return "slept"


@legato.workflow(name="api_approval")
def approval(ctx: legato.WorkflowContext, amount: int, four_eyes: bool = False) -> Any:
    return ctx.human_task("approve", group="managers", data={"amount": amount},
                          four_eyes=four_eyes,
                          form={"type": "object", "required": ["approved"],
                                "properties": {"approved": {"type": "boolean"}}})


GATE = legato.CircuitBreaker("api_gate", failure_threshold=1, reset_timeout=3600,
                             fail_fast=True)


@legato.step(circuit=GATE, retry=legato.RetryPolicy(max_attempts=1))
def guarded(fail: bool) -> str:
    if fail:
        raise RuntimeError("the gated service is down")
    return "through"


@legato.workflow(name="api_gated")
def gated(ctx: legato.WorkflowContext, fail: bool) -> str:
    """One step behind a fail-fast circuit breaker that opens after one failure."""
    return guarded(fail)


@legato.workflow(name="api_nightly", schedule=legato.Schedule("0 3 * * *"))
def nightly(ctx: legato.WorkflowContext) -> str:
    return "done"


asl.register("api_machine", {"Comment": "one Pass state", "StartAt": "Greet",
                             "States": {"Greet": {"Type": "Pass",
                                                  "Result": {"hello": "world"},
                                                  "End": True}}})
