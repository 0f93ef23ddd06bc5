"""What every dashboard page shares: who is asking, CSRF, forms, rendering and headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs

import anyio
import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from legato.domain import roles
from legato.errors import LegatoError
from legato.server import sessions
from legato.server.auth import LOCAL_USER, Principal, is_loopback
from legato.server.problems import status_of

T = TypeVar("T")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
       " frame-ancestors 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
#: the largest form body the dashboard reads (bytes)
MAX_FORM = 256 * 1024
LOOPBACK = "loopback"


def _when(value: Any, seconds: bool = False) -> str:
    """A time (ISO text or epoch seconds) as '14 Dec 10:00' (UTC)."""
    if value is None or value == "":
        return ""
    try:
        if isinstance(value, int | float):
            t = datetime.fromtimestamp(value, UTC)
        else:
            t = datetime.fromisoformat(str(value)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return str(value)
    return t.strftime("%d %b %H:%M:%S" if seconds else "%d %b %H:%M")


def _iso(value: Any) -> str:
    """Epoch seconds as ISO 8601 UTC (a <time datetime>); text stays as it is."""
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC).isoformat()
        except (ValueError, OverflowError, OSError):
            return ""
    return "" if value is None else str(value)


def _as_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


templates = jinja2.Environment(
    loader=jinja2.PackageLoader("legato.dashboard", "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)
templates.filters["when"] = _when
templates.filters["as_json"] = _as_json
templates.filters["iso"] = _iso


class Viewer:
    """The page's caller: a principal, and what its forms' CSRF value is bound to."""

    def __init__(self, principal: Principal, bound_to: str, session: bool) -> None:
        self.principal = principal
        self.bound_to = bound_to
        self.session = session

    @property
    def user(self) -> str:
        return self.principal.user

    @property
    def role(self) -> str:
        return self.principal.role

    def may(self, role: str) -> bool:
        return roles.allows(self.principal.role, role)


class Refused(Exception):
    """A page answer other than the page: a redirect or an error page."""

    def __init__(self, response: Response) -> None:
        self.response = response


def engine_of(request: Request) -> Any:
    return request.app.state.engine


def key_of(request: Request) -> bytes:
    key: bytes = request.app.state.session_key
    return key


def identify(request: Request) -> Viewer:
    """The caller of a page (blocking: reads the store); :class:`Refused` with a redirect to
    /login when a session is needed."""
    engine = engine_of(request)
    cookie = request.cookies.get(sessions.COOKIE)
    found = sessions.principal(engine, key_of(request), cookie) if cookie else None
    if found is not None and cookie:
        return Viewer(Principal(*found), cookie, True)
    if engine.tokens.exists():
        raise Refused(redirect("/login"))
    client = request.client
    if request.app.state.settings.insecure:
        return Viewer(Principal(LOCAL_USER, "admin"), LOOPBACK, False)
    if is_loopback(client.host if client else None):
        if not _loopback_host(request.headers.get("host")):
            # a page of another site that a DNS rebinding pointed at this server
            raise Refused(error_page(request, None, 403, "Without tokens the dashboard"
                                     " answers only requests addressed to a loopback name"
                                     " (localhost, 127.0.0.1, [::1])."))
        return Viewer(Principal(LOCAL_USER, "admin"), LOOPBACK, False)
    raise Refused(error_page(request, None, 403, "This server has no API token yet, so it"
                             " serves loopback requests only: create one with legato tokens"
                             " create, then log in with it."))


def _loopback_host(host: str | None) -> bool:
    """Whether a Host header names this machine's loopback (any port)."""
    if not host:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name.startswith("[") and "]" in name:
        name = name[1:name.index("]")]
    return name.lower() == "localhost" or is_loopback(name)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def render(request: Request, viewer: Viewer | None, template: str, status: int = 200,
           **context: Any) -> HTMLResponse:
    key = key_of(request)
    csrf = sessions.csrf(key, viewer.bound_to if viewer else "login")
    html = templates.get_template(template).render(
        request_path=request.url.path, viewer=viewer, csrf=csrf, **context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def error_page(request: Request, viewer: Viewer | None, status: int,
               message: str) -> HTMLResponse:
    return render(request, viewer, "error.html", status=status, status_code=status,
                  message=message)


async def page(request: Request, build: Callable[[Viewer], Response]) -> Response:
    """Identify the caller and build the page, in one worker thread (both read the store)."""

    def work() -> Response:
        viewer: Viewer | None = None
        try:
            viewer = identify(request)
            return build(viewer)
        except Refused as refused:
            return refused.response
        except LegatoError as exc:
            status = status_of(exc)
            if status is None:
                raise
            return error_page(request, viewer, status, str(exc))

    return await anyio.to_thread.run_sync(work, limiter=request.app.state.waiters)


async def read_form(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body (no more than :data:`MAX_FORM` bytes)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise Refused(error_page(request, None, 413, "The form is too large."))
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def first(form: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = form.get(name)
    return values[0] if values else default


async def action(request: Request, role: str,
                 work: Callable[[Viewer, dict[str, list[str]]], Response]) -> Response:
    """A POST: read the form, identify the caller, check CSRF and role, then ``work``."""
    try:
        form = await read_form(request)
    except Refused as refused:
        return refused.response

    def checked(viewer: Viewer) -> Response:
        if not sessions.csrf_ok(key_of(request), viewer.bound_to, first(form, "csrf")):
            return error_page(request, viewer, 403, "The form's CSRF value is missing or"
                              " stale: reload the page and try again.")
        if not viewer.may(role):
            return error_page(request, viewer, 403, f"{viewer.user} ({viewer.role}) may not"
                              f" do this: it needs the {role} role.")
        return work(viewer, form)

    return await page(request, checked)


__all__ = ["CSP", "HEADERS", "Refused", "Viewer", "action", "engine_of", "error_page", "first",
           "identify", "key_of", "page", "read_form", "redirect", "render", "templates"]
