"""The human-task pages: the inbox (``/inbox``) and a task's page with its form.

A task's form is rendered from its JSON Schema (:func:`fields`); the values a browser posts
are all text, so :func:`coerce` turns them back into the schema's types before
``engine.tasks.complete`` checks them (its refusal re-renders the form, values kept).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from legato.dashboard.web import Viewer, action, engine_of, first, page, redirect, render
from legato.domain.tasks import PermissionDenied
from legato.errors import InvalidInput, LegatoError, NotFound
from legato.server.auth import acting_as
from legato.server.problems import status_of

router = APIRouter(include_in_schema=False)

SCOPES = ("mine", "groups", "all")
#: tasks on the inbox page
LIMIT = 200


@router.get("/inbox")
async def inbox(request: Request) -> Response:
    asked = request.query_params.get("scope")

    def build(viewer: Viewer) -> Response:
        engine = engine_of(request)
        # the loopback admin is nobody's assignee: it starts from every task
        scope = asked if asked in SCOPES else ("mine" if viewer.session else "all")
        tasks = []
        if scope == "all":
            tasks = engine.tasks.list(limit=LIMIT)
        elif scope == "mine":
            seen = set()
            for found in (engine.tasks.list(assignee=viewer.user, limit=LIMIT),
                          [t for t in engine.tasks.list(limit=LIMIT)
                           if t.claimed_by == viewer.user]):
                for t in found:
                    if t.id not in seen:
                        seen.add(t.id)
                        tasks.append(t)
        else:
            try:
                groups = engine.users.groups(viewer.user)
            except NotFound:
                groups = []
            for group in groups:
                tasks.extend(engine.tasks.list(group=group, limit=LIMIT))
        return render(request, viewer, "inbox.html", tasks=[t.as_dict() for t in tasks],
                      scope=scope, scopes=SCOPES)

    return await page(request, build)


def fields(form: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The inputs of a task's form: name, label, widget (text, number, select), options,
    required, step."""
    if not isinstance(form, dict):
        return []
    required = set(form.get("required") or ())
    out = []
    for name, schema in (form.get("properties") or {}).items():
        schema = schema if isinstance(schema, dict) else {}
        kind = schema.get("type")
        field: dict[str, Any] = {"name": name, "label": schema.get("title") or name,
                                 "help": schema.get("description"), "type": kind,
                                 "required": name in required, "options": None,
                                 "widget": "text", "step": None,
                                 "min": schema.get("minimum"), "max": schema.get("maximum"),
                                 "maxlength": schema.get("maxLength")}
        if isinstance(schema.get("enum"), list):
            field["widget"] = "select"
            field["options"] = [str(v).lower() if isinstance(v, bool) else str(v)
                                for v in schema["enum"]]
        elif kind == "boolean":
            field["widget"] = "select"
            field["options"] = ["true", "false"]
        elif kind in ("number", "integer"):
            field["widget"] = "number"
            field["step"] = "1" if kind == "integer" else "any"
        out.append(field)
    return out


def coerce(form: dict[str, Any] | None, posted: dict[str, list[str]]) -> dict[str, Any]:
    """The posted values as the schema's types (a value that does not convert stays text,
    and the schema check says what is wrong with it; an empty optional field is left out)."""
    data: dict[str, Any] = {}
    props = (form or {}).get("properties") or {} if isinstance(form, dict) else {}
    for name, schema in props.items():
        raw = first(posted, name)
        if raw is None or raw == "":
            continue
        kind = schema.get("type") if isinstance(schema, dict) else None
        value: Any = raw
        enum = schema.get("enum") if isinstance(schema, dict) else None
        if isinstance(enum, list):
            value = next((v for v in enum
                          if (str(v).lower() if isinstance(v, bool) else str(v)) == raw), raw)
        elif kind == "boolean":
            value = {"true": True, "false": False}.get(raw, raw)
        elif kind == "integer":
            try:
                value = int(raw)
            except ValueError:
                value = raw
        elif kind == "number":
            try:
                value = float(raw)
                if value.is_integer() and "." not in raw and "e" not in raw.lower():
                    value = int(value)
            except ValueError:
                value = raw
        data[name] = value
    return data


def _task_page(request: Request, viewer: Viewer, task_id: str, status: int = 200,
               errors: str | None = None, values: dict[str, str] | None = None) -> Response:
    inbox_ = engine_of(request).tasks
    task = inbox_.get(task_id).as_dict()
    return render(request, viewer, "task.html", status=status, task=task,
                  history=inbox_.history(task_id), fields=fields(task.get("form")),
                  errors=errors, values=values or {}, open=task["status"] in ("OPEN", "CLAIMED"))


@router.get("/tasks/{task_id}")
async def task_page(task_id: str, request: Request) -> Response:
    return await page(request, lambda viewer: _task_page(request, viewer, task_id))


def _acting(viewer: Viewer, form: dict[str, list[str]]) -> str:
    named = (first(form, "user") or "").strip()
    return acting_as(viewer.user, viewer.role, named or None)


@router.post("/tasks/{task_id}/{verb}")
async def task_action(task_id: str, verb: str, request: Request) -> Response:
    def work(viewer: Viewer, form: dict[str, list[str]]) -> Response:
        inbox_ = engine_of(request).tasks
        token = viewer.principal.token_id
        values = {k: v[0] for k, v in form.items() if k not in ("csrf",) and v}
        try:
            user = _acting(viewer, form)
            if verb == "complete":
                task = inbox_.get(task_id)
                inbox_.complete(task_id, user, coerce(task.form, form), token_id=token)
            elif verb == "reject":
                inbox_.reject(task_id, user, first(form, "reason") or None, token_id=token)
            elif verb == "claim":
                inbox_.claim(task_id, user, token_id=token)
            elif verb == "reassign":
                to_user = (first(form, "to_user") or "").strip() or None
                to_group = (first(form, "to_group") or "").strip() or None
                if (to_user is None) == (to_group is None):
                    raise InvalidInput("give exactly one of a user and a group to hand the"
                                       " task to")
                inbox_.reassign(task_id, user, to_user=to_user, to_group=to_group,
                                token_id=token)
            else:
                return render(request, viewer, "error.html", status=404, status_code=404,
                              message=f"no task action {verb!r}")
        except (InvalidInput, PermissionDenied) as exc:
            return _task_page(request, viewer, task_id, status=status_of(exc) or 422,
                              errors=str(exc), values=values)
        except LegatoError as exc:
            if status_of(exc) == 404:
                raise
            return _task_page(request, viewer, task_id, status=status_of(exc) or 409,
                              errors=str(exc), values=values)
        return redirect(f"/tasks/{quote(task_id, safe='')}")

    return await action(request, "operator", work)


__all__ = ["coerce", "fields", "router"]
