"""The web dashboard: server-rendered pages over the same engine calls as the API.

:func:`install` adds its pages (``/``, ``/runs/{id}``, ``/inbox``, ``/tasks/{id}``,
``/definitions``, ``/schedules``, ``/queues``, ``/circuits``, ``/login``) and its two static
files to the API's app (docs/dashboard.md). Needs Jinja2 (the ``server`` extra).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import Response

from legato.dashboard import inbox, ops, runs

_STATIC = {"legato.js": "text/javascript; charset=utf-8",
           "legato.css": "text/css; charset=utf-8"}


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``."""
    files = {name: (resources.files("legato.dashboard") / "static" / name).read_bytes()
             for name in _STATIC}

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in files:
            return Response("Not Found", status_code=404,
                            headers={"X-Content-Type-Options": "nosniff"})
        return Response(files[name], media_type=_STATIC[name],
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache"})

    for router in (runs.router, inbox.router, ops.router):
        app.include_router(router)


__all__ = ["install"]
