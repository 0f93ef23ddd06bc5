"""``/api/v1/workflows``: start, list, describe, wait for and operate runs."""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from legato.domain import codec
from legato.domain import status as st
from legato.errors import WorkflowNotFound
from legato.server.auth import Credentials, Principal, as_caller, needs
from legato.server.models import (
    HistoryEvent,
    Outcome,
    SignalRequest,
    SignalSent,
    StartRequest,
    StateValue,
    TerminateRequest,
    Workflow,
    WorkflowPage,
)

router = APIRouter(prefix="/workflows", tags=["workflows"])

Viewer = Annotated[Principal, Depends(needs("viewer"))]
Operator = Annotated[Principal, Depends(needs("operator"))]

#: the longest long poll of a result (seconds)
MAX_WAIT = 300.0
#: a long poll checks this often whether the server is stopping (seconds)
WAIT_SLICE = 0.5


def _engine(request: Request) -> Any:
    return request.app.state.engine


@router.post("", status_code=201, response_model=Workflow, response_model_exclude_unset=True,
             responses={200: {"model": Workflow, "description": "the run exists already with"
                              " this id and input"}, 409: {"description": "the id is taken by"
                              " another workflow or input"}})
async def start(body: StartRequest, request: Request, response: Response,
                credentials: Credentials) -> Any:
    """Start a run. 201 with its description; 200 when a run with this ``workflow_id`` and
    the same name and input exists (a retried request); 409 when the id is taken."""
    engine = _engine(request)
    options: dict[str, Any] = {"workflow_id": body.workflow_id, "priority": body.priority}
    if body.deadline is not None:
        options["deadline"] = body.deadline
    if body.queue is not None:
        options["queue"] = body.queue
    if body.key is not None:
        options["key"] = body.key

    def work(who: Principal) -> Any:
        handle = engine.start(body.name, *body.input, actor=who.actor, **options)
        if handle.created is False:
            response.status_code = 200
        return handle.describe()

    return await as_caller(request, credentials, "operator", work)


@router.get("", response_model=WorkflowPage)
def list_runs(request: Request, who: Viewer,
              status: Annotated[str | None, Query(
                  description="one status or several, comma-separated")] = None,
              name: str | None = None, key: str | None = None,
              since: Annotated[str | None, Query(
                  description="created at or after (ISO 8601 or epoch seconds)")] = None,
              until: Annotated[str | None, Query(
                  description="created before (ISO 8601 or epoch seconds)")] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 50,
              cursor: str | None = None) -> Any:
    """Runs, newest first, a page at a time: pass ``next_cursor`` back as ``cursor``."""
    page = _engine(request).runs(status=status, name=name, key=key, since=_time(since),
                                 until=_time(until), limit=limit, cursor=cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/counts", response_model=dict[str, int])
def counts(request: Request, who: Viewer, name: str | None = None) -> Any:
    """How many runs are in each status (of one workflow with ``name``)."""
    return _engine(request).counts(name=name)


@router.get("/{workflow_id}", response_model=Workflow,
                  response_model_exclude_unset=True)
def describe(workflow_id: str, request: Request, who: Viewer) -> Any:
    """The run's description, including ``waiting_for``: what it waits on now."""
    return _engine(request).handle(workflow_id).describe()


@router.get("/{workflow_id}/history", response_model=list[HistoryEvent],
                  response_model_exclude_unset=True)
def history(workflow_id: str, request: Request, who: Viewer) -> Any:
    """The run's journal, oldest first."""
    return _engine(request).handle(workflow_id).history()


@router.get("/{workflow_id}/result", response_model=Outcome, response_model_exclude_unset=True,
            responses={202: {"model": Workflow, "description": "not ended within ``wait``:"
                             " the run's description"}})
async def result(workflow_id: str, request: Request, credentials: Credentials,
                 wait: Annotated[float, Query(ge=0, le=MAX_WAIT,
                                              description="seconds to wait for the end")] = 0
                 ) -> Any:
    """The run's outcome once it ended (200), else after ``wait`` seconds its description
    (202)."""
    engine = _engine(request)
    limiter = request.app.state.waiters

    def wait_end(seconds: float) -> Any:
        try:
            return engine.wait_terminal(workflow_id, seconds)
        except TimeoutError:
            return None

    if wait > 0:  # in slices, so that a server that stops answers at once with what it has
        stopping = request.app.state.stopping
        end = time.monotonic() + wait
        row = await as_caller(request, credentials, "viewer",  # the first slice
                              lambda who: wait_end(min(wait, WAIT_SLICE)))
        while row is None and not stopping.is_set():
            left = end - time.monotonic()
            if left <= 0:
                break
            row = await anyio.to_thread.run_sync(wait_end, min(left, WAIT_SLICE),
                                                 limiter=limiter)
    else:
        await as_caller(request, credentials, "viewer", lambda who: who)
        row = await anyio.to_thread.run_sync(lambda: engine.store.get(workflow_id),
                                             limiter=limiter)
        if row is None:
            engine.handle(workflow_id)  # the lookup's own error (bad id, or 404)
            raise WorkflowNotFound(workflow_id)
        if row.status not in st.TERMINAL:
            row = None
    if row is None:
        described = await anyio.to_thread.run_sync(
            lambda: engine.handle(workflow_id).describe(), limiter=limiter)
        return JSONResponse(described, status_code=202)
    if row.status == st.COMPLETED:
        return {"status": row.status, "result": codec.loads(row.result)}
    error = {k: v for k, v in (row.error or {}).items() if k != "traceback"}
    return {"status": row.status, "error": error}


@router.post("/{workflow_id}/cancel", response_model=Workflow,
                  response_model_exclude_unset=True)
def cancel(workflow_id: str, request: Request, who: Operator) -> Any:
    """Ask the run to stop at its next step boundary (its compensations run)."""
    engine = _engine(request)
    engine.cancel(workflow_id, actor=who.actor)
    return engine.handle(workflow_id).describe()


@router.post("/{workflow_id}/terminate", response_model=Workflow,
                  response_model_exclude_unset=True)
def terminate(workflow_id: str, request: Request, who: Operator,
              body: TerminateRequest | None = None) -> Any:
    """Stop the run at once, running no more of its code."""
    engine = _engine(request)
    reason = body.reason if body is not None else "terminated"
    engine.terminate(workflow_id, reason, actor=who.actor)
    return engine.handle(workflow_id).describe()


@router.post("/{workflow_id}/retry", response_model=Workflow,
                  response_model_exclude_unset=True)
def retry(workflow_id: str, request: Request, who: Operator) -> Any:
    """Resume a FAILED run from its failed step (409 if it cannot be)."""
    return _engine(request).retry(workflow_id, actor=who.actor).describe()


@router.post("/{workflow_id}/signal", status_code=202, response_model=SignalSent)
def signal(workflow_id: str, body: SignalRequest, request: Request, who: Operator) -> Any:
    """Send the run a signal (queued in order until it waits for one)."""
    _engine(request).signal(workflow_id, body.name, body.data, actor=who.actor)
    return {"workflow_id": workflow_id, "name": body.name}


@router.get("/{workflow_id}/state/{key}", response_model=StateValue)
def query(workflow_id: str, key: str, request: Request, who: Viewer) -> Any:
    """The latest value the run set with ``ctx.set_state(key, ...)`` (null if none)."""
    return {"workflow_id": workflow_id, "key": key,
            "value": _engine(request).query(workflow_id, key)}


def _time(text: str | None) -> str | float | None:
    """A query's time: epoch seconds as a number, else the ISO text (checked by the engine)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


__all__ = ["router"]
