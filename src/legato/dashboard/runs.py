"""The runs pages: login, the runs list (``/``), a run's page and its actions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from legato import asl
from legato.dashboard import diagram, words
from legato.dashboard.web import (
    HEADERS,
    Refused,
    Viewer,
    action,
    engine_of,
    error_page,
    first,
    key_of,
    page,
    read_form,
    redirect,
    render,
)
from legato.domain import status as st
from legato.errors import InvalidInput, LegatoError, WorkflowNotFound
from legato.server import sessions

router = APIRouter(include_in_schema=False)

#: runs on one page of the list
PAGE = 50
_FILTERS = ("status", "name", "q", "since", "until")


@router.get("/login")
async def login_form(request: Request) -> Response:
    return render(request, None, "login.html", message=None)


@router.post("/login")
async def login(request: Request) -> Response:
    try:
        form = await read_form(request)
    except Refused as refused:
        return refused.response
    key = key_of(request)
    if not sessions.csrf_ok(key, "login", first(form, "csrf")):
        return render(request, None, "login.html", status=403,
                      message="The form's CSRF value is missing or stale: reload the page.")
    secret = (first(form, "token") or "").strip()
    engine = engine_of(request)
    info = await anyio.to_thread.run_sync(engine.tokens.verify, secret,
                                          limiter=request.app.state.waiters)
    if info is None:
        return render(request, None, "login.html", status=401,
                      message="The token is unknown, expired or revoked.")
    response = redirect("/")
    response.set_cookie(sessions.COOKIE, sessions.issue(key, info.id), max_age=sessions.LIFETIME,
                        httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, list[str]]) -> Response:
        response = redirect("/login")
        response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return await action(request, "viewer", work)


def utc(text: str | None) -> str | None:
    """A filter's time: ISO 8601 without an offset is read as UTC (the pages show UTC);
    anything else goes to the engine as typed (epoch seconds, or text it refuses clearly)."""
    if not text:
        return None
    try:
        float(text)
        return text
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    return when.replace(tzinfo=UTC).isoformat() if when.tzinfo is None else text


def _runs_query(params: Any) -> dict[str, str]:
    return {k: params[k].strip() for k in _FILTERS if params.get(k, "").strip()}


@router.get("/")
async def runs(request: Request) -> Response:
    params = request.query_params
    filters = _runs_query(params)
    cursor = params.get("cursor") or None

    def build(viewer: Viewer) -> Response:
        engine = engine_of(request)
        message = None
        items: list[dict[str, Any]] = []
        next_cursor = None
        q = filters.get("q")
        try:
            page_ = engine.runs(status=filters.get("status"), name=filters.get("name"),
                                key=q, since=utc(filters.get("since")),
                                until=utc(filters.get("until")), limit=PAGE, cursor=cursor)
            items, next_cursor = list(page_.items), page_.next_cursor
            if q and not cursor and not any(r["workflow_id"] == q for r in items):
                try:  # an id, not a business key
                    found = engine.handle(q).describe()
                    items.insert(0, found)
                except LegatoError:
                    pass
        except InvalidInput as exc:
            message = str(exc)
        counts = engine.counts(name=filters.get("name"))
        next_url = None
        if next_cursor:
            next_url = "/?" + urlencode({**filters, "cursor": next_cursor})
        return render(request, viewer, "runs.html", runs=items, counts=counts,
                      statuses=st.ALL,
                      filters=filters, next_url=next_url, message=message,
                      failed=st.FAILED)

    return await page(request, build)


@router.get("/runs/{workflow_id}")
async def run_page(workflow_id: str, request: Request) -> Response:
    def build(viewer: Viewer) -> Response:
        engine = engine_of(request)
        handle = engine.handle(workflow_id)
        run = handle.describe()
        history = handle.history()
        machine = asl.registered(run["name"])
        if machine is not None:
            svg = diagram.state_machine(machine, diagram.asl_marks(history, run["status"]))
        else:
            svg = diagram.python_run(history, run["status"])
        return render(request, viewer, "run.html", run=run, svg=svg,
                      waiting=words.waiting_for(run.get("waiting_for")),
                      timeline=words.timeline(history), duration=words.duration_text,
                      terminal=run["status"] in st.TERMINAL, failed=st.FAILED)

    return await page(request, build)


def _back(workflow_id: str) -> str:
    return f"/runs/{quote(workflow_id, safe='')}"


@router.post("/runs/retry")
async def bulk_retry(request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, list[str]]) -> Response:
        engine = engine_of(request)
        problems = []
        for workflow_id in form.get("ids", [])[:PAGE * 4]:
            try:
                engine.retry(workflow_id, actor=viewer.principal.actor)
            except LegatoError as exc:
                problems.append(f"{workflow_id}: {exc}")
        if problems:
            return error_page(request, viewer, 409, "Some runs were not retried: "
                              + "; ".join(problems))
        return redirect("/?status=FAILED")

    return await action(request, "operator", work)


@router.post("/runs/{workflow_id}/{verb}")
async def run_action(workflow_id: str, verb: str, request: Request) -> Response:
    if verb not in ("cancel", "terminate", "retry", "signal"):
        return Response("Not Found", status_code=404, headers=HEADERS)

    def work(viewer: Viewer, form: dict[str, list[str]]) -> Response:
        engine = engine_of(request)
        actor = viewer.principal.actor
        if verb == "cancel":
            engine.cancel(workflow_id, actor=actor)
        elif verb == "terminate":
            engine.terminate(workflow_id, first(form, "reason") or "terminated", actor=actor)
        elif verb == "retry":
            engine.retry(workflow_id, actor=actor)
        else:
            raw = first(form, "data") or "null"
            try:
                data = json.loads(raw)
            except ValueError as exc:
                return error_page(request, viewer, 422, f"The signal's data is not JSON: {exc}")
            name = first(form, "name") or ""
            if not name:
                raise InvalidInput("a signal needs a name")
            engine.signal(workflow_id, name, data, actor=actor)
        engine.handle(workflow_id)  # an unknown run is a 404 page, not a redirect
        return redirect(_back(workflow_id))

    try:
        return await action(request, "operator", work)
    except WorkflowNotFound as exc:
        return error_page(request, None, 404, str(exc))


__all__ = ["router"]
