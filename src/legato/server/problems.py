"""Errors as ``application/problem+json`` (RFC 9457): one clear message, the right 4xx.

Every refusal names what is wrong and where (``detail``); a 422 caused by the request's shape
also lists each field (``errors``: ``loc``, ``msg``). A 5xx means a defect in legato: it is
logged with its traceback and the caller sees only that an internal error happened.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from legato.domain.tasks import PermissionDenied, TaskClosed, TaskExpired
from legato.errors import (
    InvalidInput,
    LegatoError,
    NotFound,
    RetryRefused,
    WorkflowConflict,
)

log = logging.getLogger("legato.server")

PROBLEM = "application/problem+json"

_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict",
           413: "Content Too Large", 415: "Unsupported Media Type",
           422: "Unprocessable Content", 500: "Internal Server Error",
           503: "Service Unavailable"}

#: legato's errors that a caller can cause, by HTTP status (the first match wins)
_STATUS: tuple[tuple[type[LegatoError], int], ...] = (
    (NotFound, 404),
    (PermissionDenied, 403),
    (WorkflowConflict, 409),
    (RetryRefused, 409),
    (TaskClosed, 409),
    (TaskExpired, 409),
    (InvalidInput, 422),  # WorkflowEnded is an InvalidInput too, but a conflict: see status_of
)


def status_of(exc: LegatoError) -> int | None:
    """The 4xx a legato error means over HTTP, or None if the caller cannot cause it."""
    from legato.errors import WorkflowEnded

    if isinstance(exc, WorkflowEnded):
        return 409
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return None


def problem(status: int, detail: str, *, title: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title or _TITLES.get(status, ""),
                            "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _where(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        for e in errors:
            if e.get("type") == "json_invalid":
                return problem(400, f"the body is not JSON: {e.get('msg', '')}".rstrip(": "),
                               instance=request.url.path)
        listed = [{"loc": _where(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                  for e in errors]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in listed) or "invalid request"
        return problem(422, detail, errors=listed, instance=request.url.path)

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None),
                       instance=request.url.path)

    @app.exception_handler(LegatoError)
    async def legato_error(request: Request, exc: LegatoError) -> JSONResponse:
        status = status_of(exc)
        if status is None:
            return _internal(request, exc)
        return problem(status, str(exc), error=type(exc).__name__, instance=request.url.path)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request, exc)


def _internal(request: Request, exc: BaseException) -> JSONResponse:
    log.error("legato server: %s %s failed", request.method, request.url.path,
              exc_info=(type(exc), exc, exc.__traceback__))
    return problem(500, "internal error (logged by the server)", instance=request.url.path)


__all__ = ["PROBLEM", "install", "problem", "status_of"]
