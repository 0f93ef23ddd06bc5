"""Workflows of the browser tests' server process, beside tests/server/app_module.py's
(``legato server`` imports both files): a human task with a form worth filling, a run that
fails until a file exists (redrive), and one that fails with the message it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import legato

ONCE = legato.RetryPolicy(max_attempts=1)

#: the review task's form: a boolean (a select), a bounded integer and free text
REVIEW_FORM: dict[str, Any] = {
    "type": "object", "required": ["approved", "amount"],
    "properties": {"approved": {"type": "boolean"},
                   "amount": {"type": "integer", "minimum": 1, "maximum": 1000},
                   "note": {"type": "string"}}}


@legato.step
def file_review(title: str, decision: dict[str, Any]) -> str:
    return f"{title}: {'approved' if decision.get('approved') else 'declined'}"


@legato.workflow(name="ui_review")
def review(ctx: legato.WorkflowContext, title: str, assignee: str = "local-admin") -> Any:
    """Ask ``assignee`` to review ``title`` (the task's data), then file the decision."""
    done = ctx.human_task("review", assignee=assignee, data={"title": title},
                          form=REVIEW_FORM)
    return file_review(title, done["data"])


@legato.step(retry=ONCE)
def needs_file(path: str) -> str:
    if not Path(path).exists():
        raise RuntimeError(f"{Path(path).name} is missing")
    return "found"


@legato.workflow(name="ui_needs_file")
def needs_a_file(ctx: legato.WorkflowContext, path: str) -> str:
    """Fails until ``path`` exists: a redrive after creating it completes the run."""
    return needs_file(path)


@legato.step(retry=ONCE)
def explode(message: str) -> str:
    raise RuntimeError(message)


@legato.workflow(name="ui_explode")
def explodes(ctx: legato.WorkflowContext, message: str) -> str:
    """Fails at once with ``message`` as its error."""
    return explode(message)
