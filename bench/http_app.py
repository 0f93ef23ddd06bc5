"""The workflow the HTTP benchmark's server runs: one step."""

from __future__ import annotations

import legato


@legato.step
def one(x: int) -> int:
    return x + 1


@legato.workflow(name="bench_http_one")
def one_step(ctx: legato.WorkflowContext, x: int) -> int:
    return one(x)
