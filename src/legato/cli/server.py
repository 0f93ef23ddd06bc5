"""``legato server``: the HTTP API (and, with SQLite, the workers) in one process."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from legato.cli.common import (
    USAGE,
    CliError,
    DbOption,
    db_url,
    load_module,
    open_engine,
    prepend_path,
    setup_logging,
)
from legato.cli.output import echo
from legato.cli.signals import stacks_on_request
from legato.store.url import resolve_url
from legato.worker.settings import WorkerSettings


def server(
    ctx: typer.Context,
    modules: Annotated[list[str], typer.Argument(
        metavar="MODULE", show_default=False,
        help="Modules defining the workflows to serve: dotted names or .py paths.")],
    db: DbOption = None,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT",
                                      help="Port to listen on (0: any free port).")] = 8080,
    workers: Annotated[bool | None, typer.Option(
        "--workers/--no-workers", show_default=False,
        help="Also run the workflows in this process [default: on with SQLite, off with"
             " PostgreSQL, where workers are separate legato worker processes].")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Serve without tokens on a non-loopback address (anyone who can"
                           " reach it acts as admin).")] = False,
    max_body: Annotated[int, typer.Option(
        min=1, metavar="BYTES", help="Largest request body; larger ones get 413.")
                        ] = 1 << 20,
    cors_origin: Annotated[list[str] | None, typer.Option(
        metavar="ORIGIN", show_default=False,
        help="A browser origin allowed to call the API (repeatable); CORS is off without.")
                           ] = None,
    grace: Annotated[float, typer.Option(
        min=0.0, metavar="SECONDS",
        help="On SIGTERM/SIGINT, how long requests in flight may take to finish.")] = 30.0,
    log_level: Annotated[str, typer.Option(
        metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Serve the HTTP API v1 (/api/v1, OpenAPI at /openapi.json) until SIGTERM/SIGINT.

    Without API tokens in the store only loopback requests are served (as admin); create
    tokens with legato tokens create. Example:

        legato server myapp.workflows --db sqlite:///orders.db --port 8080
    """
    from legato.server.app import ServerSettings
    from legato.server.run import Refused, announce_to_stderr, check_binding, serve

    setup_logging(log_level)
    url = db_url(ctx, db)
    run_workers = workers if workers is not None else resolve_url(url).startswith("sqlite")
    prepend_path(os.getcwd())
    for spec in modules:
        load_module(spec)
    engine = open_engine(url, settings=WorkerSettings.from_env())
    try:
        check_binding(host, engine, insecure)
        if run_workers:
            engine.launch()
        settings = ServerSettings(max_body=max_body, cors_origins=tuple(cor for cor in
                                                                      cors_origin or ()),
                                  workers=run_workers, insecure=insecure)
        with stacks_on_request():
            serve(engine, host=host, port=port, settings=settings, grace=grace,
                  log_level=log_level, announce=announce_to_stderr(run_workers, engine,
                                                                   insecure))
    except Refused as exc:
        raise CliError(str(exc), USAGE) from None
    finally:
        engine.shutdown()
    echo("legato server stopped", err=True)


__all__ = ["server"]
