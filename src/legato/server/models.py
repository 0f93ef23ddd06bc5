"""The API's request and response bodies, as the OpenAPI document shows them.

Request bodies forbid unknown fields (a typo is a 422 naming it, not silently ignored).
Response models list the fields every client may rely on and allow more, so that a newer
server can add fields without breaking a client.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# --- requests ------------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartRequest(_Request):
    name: str = Field(description="the registered workflow (or state machine) to start")
    input: list[Any] = Field(default_factory=list,
                             description="the workflow's positional arguments")
    workflow_id: str | None = Field(None, description="an id of your own: starting it again"
                                                      " with the same input returns the run")
    key: str | None = Field(None, description="a business key to find the run by")
    deadline: float | None = Field(None, gt=0, description="seconds from now the run may take")
    queue: str | None = None
    priority: int = 0


class TerminateRequest(_Request):
    reason: str = "terminated"


class SignalRequest(_Request):
    name: str
    data: Any = None


class PublishRequest(_Request):
    type: str
    key: str | None = None
    data: Any = None
    event_id: str | None = None
    ttl: float | None = Field(None, gt=0, description="seconds an unconsumed event is kept"
                                                      " (default 24 h)")


class CompleteRequest(_Request):
    data: Any = None
    user: str | None = Field(None, description="act as this user (admins only; others act as"
                                               " their token's user)")


class RejectRequest(_Request):
    reason: str | None = None
    user: str | None = None


class ClaimRequest(_Request):
    user: str | None = None


class ReassignRequest(_Request):
    to_user: str | None = None
    to_group: str | None = None
    user: str | None = None


# --- responses -----------------------------------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Workflow(_Open):
    """A run's description (``handle.describe()``)."""

    workflow_id: str
    name: str
    status: str
    detail: str | None = None
    input: list[Any] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    completed_at: str | None = None
    key: str | None = None
    waiting_for: dict[str, Any] | None = None
    result: Any = None
    error: dict[str, Any] | None = None


class WorkflowPage(BaseModel):
    items: list[Workflow]
    next_cursor: str | None = None


class Outcome(_Open):
    """A run's end: ``result`` when COMPLETED, else ``error``."""

    status: str
    result: Any = None
    error: dict[str, Any] | None = None


class HistoryEvent(_Open):
    seq: int
    type: str
    at: float | str


class StateValue(BaseModel):
    workflow_id: str
    key: str
    value: Any = None


class SignalSent(BaseModel):
    workflow_id: str
    name: str


class Published(BaseModel):
    event_id: str
    delivered_to: list[str]
    buffered: bool
    duplicate: bool


class BufferedEvent(_Open):
    event_id: str
    type: str
    key: str | None = None
    data: Any = None


class HumanTask(_Open):
    id: str
    workflow_id: str
    name: str
    status: str
    assignee: str | None = None
    group: str | None = None


class HumanTaskWithHistory(HumanTask):
    history: list[dict[str, Any]] = Field(default_factory=list)


class Row(_Open):
    """A schedule, queue or circuit breaker."""

    name: str


class Definition(_Open):
    name: str
    kind: str = Field(description="workflow or state_machine")
    parameters: list[dict[str, Any]]


class Health(_Open):
    status: str


class Problem(_Open):
    """An error (RFC 9457), as ``application/problem+json``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        None, description="for a request of the wrong shape: each field's loc and msg")


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}}


#: the errors any endpoint of /api/v1 may answer (documented on each)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("the body is not JSON"),
    401: _problem("no token, or an unknown, expired or revoked one"),
    403: _problem("the token's role (or the task's rules) may not do this"),
    404: _problem("no such workflow, run, task, schedule or circuit"),
    413: _problem("the body is larger than the server's limit"),
    422: _problem("a wrong type or value"),
}


__all__ = [
    "ERRORS",
    "BufferedEvent",
    "ClaimRequest",
    "CompleteRequest",
    "Definition",
    "Health",
    "HistoryEvent",
    "HumanTask",
    "HumanTaskWithHistory",
    "Outcome",
    "Problem",
    "PublishRequest",
    "Published",
    "ReassignRequest",
    "RejectRequest",
    "Row",
    "SignalRequest",
    "SignalSent",
    "StartRequest",
    "StateValue",
    "TerminateRequest",
    "Workflow",
    "WorkflowPage",
]
