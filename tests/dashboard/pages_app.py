"""Workflows the dashboard tests' server serves beside tests/server/app_module.py."""

from __future__ import annotations

import os
from typing import Any

import legato

ONCE = legato.RetryPolicy(max_attempts=1)


@legato.step(retry=ONCE)
def explode(message: str) -> str:
    raise RuntimeError(message)


@legato.workflow(name="dash_fail")
def fail(ctx: legato.WorkflowContext, message: str) -> str:
    """Fails with the message it is given."""
    return explode(message)


@legato.step(retry=ONCE)
def needs_file(path: str) -> str:
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing")
    return "found"


@legato.workflow(name="dash_needs_file")
def wants_file(ctx: legato.WorkflowContext, path: str) -> str:
    """Fails until the file it names exists (for retry)."""
    return needs_file(path)


@legato.workflow(name="dash_noop")
def noop(ctx: legato.WorkflowContext, n: int) -> int:
    return n


FORM = {"type": "object", "required": ["approved", "amount"],
        "properties": {"approved": {"type": "boolean", "title": "Approved"},
                       "amount": {"type": "integer", "minimum": 1},
                       "ratio": {"type": "number"},
                       "note": {"type": "string", "description": "why"},
                       "level": {"enum": ["low", "high"]}}}


@legato.workflow(name="dash_task")
def task(ctx: legato.WorkflowContext, payload: str, four_eyes: bool = False) -> Any:
    """A human task whose data carries the payload."""
    return ctx.human_task("review", group="managers", data={"payload": payload},
                          form=FORM, four_eyes=four_eyes)
