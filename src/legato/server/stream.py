"""``/api/v1/stream``: server-sent events of run status changes and human-task changes.

Each change is one SSE message: ``event: run`` with ``{"workflow_id", "name", "status",
"key", "updated_at"}``, or ``event: task`` with the task's id, run, name, status, assignee and
group; its ``id:`` is a position to resume from (a reconnecting ``EventSource`` sends it back
as ``Last-Event-ID``, and the stream goes on after it). The stream reads the store's change
feeds (``engine.run_changes``, ``engine.tasks.changes``), so it sees changes made by every
process on the store; a comment line every 15 s keeps proxies from closing it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from legato.domain import status as st
from legato.errors import InvalidInput
from legato.server.auth import Principal, needs

router = APIRouter(tags=["stream"])

KEEP_ALIVE = 15.0
_KINDS = ("runs", "tasks")


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "a stream of server-sent events"}})
async def stream(request: Request,
                 who: Annotated[Principal, Depends(needs("viewer"))],
                 kinds: Annotated[str, Query(description="runs, tasks or both")
                                  ] = "runs,tasks",
                 workflow_id: str | None = None, name: str | None = None,
                 key: str | None = None,
                 status: Annotated[str | None, Query(
                     description="run statuses, comma-separated")] = None,
                 last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    """Live changes, as they are committed (filter by kind, run, workflow name, business key
    and run status)."""
    wanted = {k.strip() for k in kinds.split(",") if k.strip()}
    unknown = wanted - set(_KINDS)
    if unknown or not wanted:
        raise InvalidInput(f"kinds must be runs, tasks or both, not {kinds!r}")
    statuses = None if status is None else {st.validate(s.strip()) for s in status.split(",")}
    engine = request.app.state.engine
    limiter = request.app.state.waiters
    runs_at, tasks_at = _positions(last_event_id)

    def start() -> tuple[str | None, str | None]:
        """Where to begin: after Last-Event-ID's positions, else from now."""
        r = (runs_at or engine.run_changes(None)[1]) if "runs" in wanted else None
        t = (tasks_at or engine.tasks.changes(None)[1]) if "tasks" in wanted else None
        return r, t

    runs_pos, tasks_pos = await anyio.to_thread.run_sync(start, limiter=limiter)

    def keep(change: dict[str, Any]) -> bool:
        return ((workflow_id is None or change.get("workflow_id") == workflow_id)
                and (name is None or change.get("name") == name)
                and (key is None or change.get("key") == key))

    async def events() -> AsyncIterator[str]:
        nonlocal runs_pos, tasks_pos
        state = request.app.state
        quiet = 0.0
        yield ": legato stream\n\n"
        while not state.stopping.is_set() and not await request.is_disconnected():
            out: list[str] = []
            if runs_pos is not None:
                changes, runs_pos = await anyio.to_thread.run_sync(
                    engine.run_changes, runs_pos, limiter=limiter)
                for c in changes:
                    if keep(c) and (statuses is None or c.get("status") in statuses):
                        out.append(_message("run", c, runs_pos, tasks_pos))
            if tasks_pos is not None:
                changes, tasks_pos = await anyio.to_thread.run_sync(
                    engine.tasks.changes, tasks_pos, limiter=limiter)
                for c in changes:
                    if keep(c):
                        out.append(_message("task", c, runs_pos, tasks_pos))
            if out:
                quiet = 0.0
                yield "".join(out)
            else:
                quiet += state.settings.stream_poll
                if quiet >= KEEP_ALIVE:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
            await _sleep(state, state.settings.stream_poll)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _sleep(state: Any, seconds: float) -> None:
    """Sleep, or less if the server starts stopping."""
    try:
        await asyncio.wait_for(asyncio.shield(state.stopping.wait()), seconds)
    except TimeoutError:
        pass


def _message(event: str, data: dict[str, Any], runs: str | None, tasks: str | None) -> str:
    position = f"{runs or ''}~{tasks or ''}"
    return f"id: {position}\nevent: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _positions(last: str | None) -> tuple[str | None, str | None]:
    if not last:
        return None, None
    runs, sep, tasks = last.partition("~")
    if not sep:
        raise InvalidInput("Last-Event-ID is not a position this stream gave")
    return runs or None, tasks or None


__all__ = ["router"]
