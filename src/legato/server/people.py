"""``/api/v1/events`` and ``/api/v1/tasks``: publish and list events; the human-task inbox.

A task action runs as the token's user with that user's groups, through the same rules as
``engine.tasks`` (assignee, group, four-eyes): a refusal is a 403 that says why. An admin
may act for another user by naming it (``"user"`` in the body), e.g. the loopback admin of
a server without tokens.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from legato.domain.tasks import Task
from legato.errors import InvalidInput
from legato.server.auth import Principal, acting_as, needs
from legato.server.models import (
    BufferedEvent,
    ClaimRequest,
    CompleteRequest,
    HumanTask,
    HumanTaskWithHistory,
    Published,
    PublishRequest,
    ReassignRequest,
    RejectRequest,
)

events = APIRouter(prefix="/events", tags=["events"])
tasks = APIRouter(prefix="/tasks", tags=["tasks"])

Viewer = Annotated[Principal, Depends(needs("viewer"))]
Operator = Annotated[Principal, Depends(needs("operator"))]


def _engine(request: Request) -> Any:
    return request.app.state.engine


@events.post("", status_code=201, response_model=Published,
             responses={200: {"model": Published, "description": "an event with this"
                              " event_id was published before: nothing done"}})
def publish(body: PublishRequest, request: Request, response: Response, who: Operator) -> Any:
    """Publish an event correlated by business ``key``: delivered to every run waiting on
    (type, key), else buffered for the first matching wait until ``ttl`` passes."""
    options: dict[str, Any] = {"key": body.key, "data": body.data, "event_id": body.event_id,
                               "actor": who.actor}
    if body.ttl is not None:
        options["ttl"] = body.ttl
    r = _engine(request).publish(body.type, **options)
    if r.duplicate:
        response.status_code = 200
    return {"event_id": r.event_id, "delivered_to": list(r.delivered_to),
            "buffered": r.buffered, "duplicate": r.duplicate}


@events.get("", response_model=list[BufferedEvent],
                  response_model_exclude_unset=True)
def buffered(request: Request, who: Viewer, type: str | None = None, key: str | None = None,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    """Events no wait has consumed yet, with when they expire."""
    return _engine(request).buffered_events(type=type, key=key, limit=limit)


def task_dict(t: Task) -> dict[str, Any]:
    return t.as_dict()


@tasks.get("", response_model=list[HumanTask],
                  response_model_exclude_unset=True)
def list_tasks(request: Request, who: Viewer, assignee: str | None = None,
               group: str | None = None,
               status: Annotated[str | None, Query(
                   description="statuses, comma-separated (default: OPEN,CLAIMED)")] = None,
               workflow_id: str | None = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    """Human tasks, oldest first: open ones unless ``status`` says otherwise."""
    found = _engine(request).tasks.list(assignee=assignee, group=group, status=status,
                                        workflow_id=workflow_id, limit=limit)
    return [task_dict(t) for t in found]


@tasks.get("/{task_id}", response_model=HumanTaskWithHistory,
                  response_model_exclude_unset=True)
def get_task(task_id: str, request: Request, who: Viewer) -> Any:
    """The task, with its audit history (who did what, when)."""
    inbox = _engine(request).tasks
    return {**task_dict(inbox.get(task_id)), "history": inbox.history(task_id)}


@tasks.post("/{task_id}/claim", response_model=HumanTask,
                  response_model_exclude_unset=True)
def claim(task_id: str, request: Request, who: Operator,
          body: ClaimRequest | None = None) -> Any:
    user = acting_as(who.user, who.role, body.user if body else None)
    return task_dict(_engine(request).tasks.claim(task_id, user, token_id=who.token_id))


@tasks.post("/{task_id}/complete", response_model=HumanTask,
                  response_model_exclude_unset=True)
def complete(task_id: str, request: Request, who: Operator,
             body: CompleteRequest | None = None) -> Any:
    """Decide the task with ``data`` (checked against its form)."""
    user = acting_as(who.user, who.role, body.user if body else None)
    data = body.data if body else None
    return task_dict(_engine(request).tasks.complete(task_id, user, data,
                                                     token_id=who.token_id))


@tasks.post("/{task_id}/reject", response_model=HumanTask,
                  response_model_exclude_unset=True)
def reject(task_id: str, request: Request, who: Operator,
           body: RejectRequest | None = None) -> Any:
    user = acting_as(who.user, who.role, body.user if body else None)
    reason = body.reason if body else None
    return task_dict(_engine(request).tasks.reject(task_id, user, reason,
                                                   token_id=who.token_id))


@tasks.post("/{task_id}/reassign", response_model=HumanTask,
                  response_model_exclude_unset=True)
def reassign(task_id: str, body: ReassignRequest, request: Request, who: Operator) -> Any:
    """Hand the task to ``to_user`` or ``to_group`` (exactly one)."""
    if (body.to_user is None) == (body.to_group is None):
        raise InvalidInput("give exactly one of to_user and to_group")
    user = acting_as(who.user, who.role, body.user)
    return task_dict(_engine(request).tasks.reassign(task_id, user, to_user=body.to_user,
                                                     to_group=body.to_group,
                                                     token_id=who.token_id))


__all__ = ["events", "task_dict", "tasks"]
