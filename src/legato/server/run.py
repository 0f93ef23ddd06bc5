"""Serving the API with uvicorn: start-up checks, the ready line, graceful shutdown.

On SIGTERM or SIGINT the server stops accepting connections, lets the requests in flight
finish (streams end at once; a long poll answers with what it has) for up to ``grace``
seconds, then shuts the engine down, whose workers release their runs to other workers.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from types import FrameType
from typing import Any

from legato.server.app import API, ServerSettings, create_app
from legato.server.auth import is_loopback

log = logging.getLogger("legato.server")


class Refused(Exception):
    """The server must not start as asked (the message says why and what to do)."""


def check_binding(host: str, engine: Any, insecure: bool) -> None:
    """A server on a non-loopback address without any token would let anyone act as
    admin: refused unless ``insecure``."""
    if insecure or _loopback_host(host):
        return
    if not engine.tokens.exists():
        raise Refused(f"refusing to serve on {host} without API tokens: anyone who can reach"
                      " it would act as admin. Create a token first (legato tokens create"
                      " --user NAME --role admin), bind to 127.0.0.1, or pass --insecure to"
                      " serve without tokens anyway")


def _loopback_host(host: str) -> bool:
    if is_loopback(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(is_loopback(str(i[4][0])) for i in infos)


def serve(engine: Any, *, host: str, port: int, settings: ServerSettings,
          grace: float = 30.0, log_level: str = "info",
          announce: Any = None) -> None:
    """Serve ``engine``'s API until a signal; ``announce(url)`` is called once it listens."""
    import uvicorn

    app = create_app(engine, settings)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.should_exit or not self.servers:
                return
            bound = self.servers[0].sockets[0].getsockname()
            shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
            if announce is not None:
                announce(f"http://{shown}:{bound[1]}")

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            stopping = getattr(app.state, "stopping", None)
            loop = getattr(self, "_loop", None)
            if stopping is not None and loop is not None:
                loop.call_soon_threadsafe(stopping.set)
            super().handle_exit(sig, frame)

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().serve(sockets)

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                            timeout_graceful_shutdown=max(1, int(grace)), access_log=False,
                            server_header=False, lifespan="on")
    server = Server(config)
    # uvicorn raises the signal that stopped it again once it has shut down, for the default
    # handler to end the process; the engine must shut down first, so it lands here
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        raise Refused(f"could not serve on {host}:{port} (see the error above)")


def _stopped(sig: int, frame: FrameType | None) -> None:
    """A stop signal uvicorn handled already (see :func:`serve`)."""


def announce_to_stderr(workers: bool, engine: Any, insecure: bool) -> Any:
    def say(url: str) -> None:
        auth = "bearer tokens" if engine.tokens.exists() else (
            "NO AUTH (--insecure)" if insecure else "loopback only, as admin (no tokens yet)")
        print(f"legato server: API on {url}{API} (OpenAPI {url}/openapi.json, docs "
              f"{url}/docs); dashboard on {url}/; workers {'on' if workers else 'off'};"
              f" auth: {auth}",
              file=sys.stderr, flush=True)
    return say


__all__ = ["Refused", "announce_to_stderr", "check_binding", "serve"]
