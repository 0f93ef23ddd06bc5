"""The API application: one FastAPI app over one engine.

:func:`create_app` builds it for an engine the caller opened (and launched, if it runs the
workers); ``legato server`` (:mod:`legato.server.run`) serves it with uvicorn. The app holds
no state of its own beyond what the store holds, so several server processes can serve one
PostgreSQL store side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from legato._version import version
from legato.server import health, ops, people, sessions, stream, workflows
from legato.server.limits import MAX_BODY, BodyLimit
from legato.server.models import ERRORS
from legato.server.problems import install

API = "/api/v1"


@dataclass(frozen=True)
class ServerSettings:
    """How the API behaves (``legato server`` options)."""

    #: the largest request body, in bytes (larger ones are answered 413)
    max_body: int = MAX_BODY
    #: origins allowed to call the API from a browser (CORS is off when empty)
    cors_origins: Sequence[str] = field(default_factory=tuple)
    #: whether this server runs the workers (``/readyz`` then checks they run)
    workers: bool = False
    #: serve every request as admin while no token exists, not only loopback ones
    insecure: bool = False
    #: how often a ``/stream`` reads the store's change feeds (seconds)
    stream_poll: float = 0.25
    #: most blocking calls (long polls, streams' reads) at once, beyond FastAPI's own pool
    blocking_calls: int = 256
    #: serve the web dashboard at the root paths (docs/dashboard.md)
    dashboard: bool = True


def create_app(engine: Any, settings: ServerSettings | None = None) -> FastAPI:
    """The API for ``engine`` (an open :class:`legato.Engine`)."""
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.stopping = asyncio.Event()
        app.state.waiters = anyio.CapacityLimiter(settings.blocking_calls)
        try:
            yield
        finally:
            app.state.stopping.set()

    app = FastAPI(
        title="legato API", version=version(), lifespan=lifespan,
        description="Operate legato workflows, events and human tasks over HTTP. Every"
                    " path is under /api/v1; errors are application/problem+json.",
        openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.engine = engine
    app.state.settings = settings
    app.state.stopping = asyncio.Event()
    app.state.waiters = anyio.CapacityLimiter(settings.blocking_calls)
    app.state.session_key = sessions.new_key()
    install(app)
    app.include_router(health.router)
    for router in (workflows.router, people.events, people.tasks, ops.router, stream.router):
        app.include_router(router, prefix=API, responses=ERRORS)
    if settings.dashboard:
        try:
            from legato.dashboard import install as install_dashboard
        except ImportError as exc:
            raise ImportError(f"the dashboard needs Jinja2 ({exc}): pip install"
                              " 'legato[server]'") from exc
        install_dashboard(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])
    app.add_middleware(BodyLimit, max_body=settings.max_body)
    return app


__all__ = ["API", "ServerSettings", "create_app"]
