"""``legato worker``: import the user's workflow modules and run an engine until a signal.

Its options are :class:`legato.WorkerSettings`; one not given comes from the environment
(``LEGATO_CONCURRENCY``, ... :meth:`legato.WorkerSettings.from_env`), else from the
settings' defaults, which its help shows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from legato.cli.common import (
    FAILED,
    INTERRUPTED,
    DbOption,
    db_url,
    duration,
    load_module,
    open_engine,
    prepend_path,
    setup_logging,
)
from legato.cli.output import echo, one_line, redact_url
from legato.cli.signals import StopSignals, stacks_on_request
from legato.worker.settings import DEFAULTS, ENV, WorkerSettings


def _default(name: str, shown: str | None = None) -> str:
    """The help's note on where an option not given comes from."""
    value = getattr(DEFAULTS, name)
    return f" [default: ${ENV[name]}, else {shown or f'{value:g}'}]"


def worker(
    ctx: typer.Context,
    modules: Annotated[list[str], typer.Argument(
        metavar="MODULE", show_default=False,
        help="Modules defining @legato.workflow functions: dotted names (the current "
             "directory is on the path) or paths to .py files.")],
    db: DbOption = None,
    concurrency: Annotated[int | None, typer.Option(
        min=1, metavar="N", show_default=False,
        help="Workflows this worker runs at once." + _default("concurrency"))] = None,
    lease: Annotated[float | None, typer.Option(
        min=0.1, metavar="SECONDS", show_default=False,
        help="Lease on running workflows; a dead worker's work is taken over after it."
             + _default("lease"))] = None,
    step_threads: Annotated[int | None, typer.Option(
        min=1, metavar="N", show_default=False,
        help="Threads running synchronous steps." + _default("step_threads"))] = None,
    grace: Annotated[float | None, typer.Option(
        min=0.0, metavar="SECONDS", show_default=False,
        help="On SIGINT/SIGTERM, how long running steps may take to finish."
             + _default("grace"))] = None,
    log_level: Annotated[str, typer.Option(
        metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    retention: Annotated[str | None, typer.Option(
        metavar="AGE", show_default=False,
        help="Purge runs that ended longer ago than this (15m, 12h, 30d ...), every 10 "
             "minutes." + _default("retention", "keep them"))] = None,
    processes: Annotated[int | None, typer.Option(
        min=0, metavar="N", show_default=False,
        help="Run the workers in this many child processes (one per core for CPU-bound "
             "steps); 0: in this process." + _default("processes"))] = None,
    inline_steps: Annotated[bool | None, typer.Option(
        "--inline-steps/--no-inline-steps", show_default=False,
        help="Run steps whose runs prove quick (under 0.1 ms) on the worker's own thread "
             "instead of its step pool." + _default("inline_steps", "on"))] = None,
) -> None:
    """Run workflows: import MODULEs, then work until SIGINT/SIGTERM.

    Recovers unfinished workflows of the registered names at start. On a signal, stops
    claiming work, lets running steps finish (up to --grace seconds), releases what is still
    in flight to other workers and exits 0. Options not given come from the environment
    (LEGATO_CONCURRENCY, LEGATO_LEASE, LEGATO_STEP_THREADS, LEGATO_GRACE, LEGATO_RETENTION,
    LEGATO_PROCESSES, LEGATO_INLINE_STEPS; also LEGATO_WATCHDOG, LEGATO_HISTORY_LIMIT and
    LEGATO_MAX_PAYLOAD), else from their defaults. Example:

        legato worker myapp.workflows --db sqlite:///orders.db
    """
    given: dict[str, Any] = {
        "concurrency": concurrency, "lease": lease, "step_threads": step_threads,
        "grace": grace, "processes": processes, "inline_steps": inline_steps,
        "retention": None if retention is None else duration(retention, "--retention")}
    settings = WorkerSettings.from_env(**{k: v for k, v in given.items() if v is not None})
    raise typer.Exit(run_worker(modules, db=db_url(ctx, db), settings=settings,
                                log_level=log_level))


def run_worker(
    modules: Sequence[str],
    *,
    db: str | None,
    settings: WorkerSettings = DEFAULTS,
    log_level: str = "INFO",
) -> int:
    """Import ``modules``, launch an engine with ``settings`` and run it until
    SIGINT/SIGTERM; return 0."""
    setup_logging(log_level)
    with stacks_on_request(), StopSignals(
            second_exit=INTERRUPTED,
            second_message="legato worker: second signal, exiting now\n") as stop:
        prepend_path(os.getcwd())
        for spec in modules:
            load_module(spec)
        if stop.requested:  # asked to stop while importing: nothing was started
            return 0
        engine = open_engine(db, settings=settings)
        try:
            engine.launch()
            wid = engine.worker_id or (
                f"(worker processes {', '.join(map(str, engine.worker_pids))})")
            names = sorted(engine.registry.names())
            listed = ", ".join(names) if names else "none"
            echo(f"legato worker {wid} ready: {len(names)} workflow"
                 f"{'' if len(names) == 1 else 's'} registered ({listed}) on "
                 f"{redact_url(engine.url)}")
            if not names:
                echo("warning: the imported modules define no @legato.workflow; this worker "
                     "will run nothing", err=True)
            while not stop.requested and engine.healthy:
                time.sleep(0.1)
            if engine.failure is not None:  # its runs were released already: say so, exit 1
                echo(f"legato worker {wid}: stopped after an internal error "
                     f"({type(engine.failure).__name__}: {one_line(str(engine.failure))}); its"
                     " runs were released to other workers; exiting 1 so that a supervisor"
                     " restarts it", err=True)
                return FAILED
            echo(f"legato worker {wid}: {stop.name} received, stopping "
                 f"(running steps get up to {settings.grace:g}s)", err=True)
        finally:
            engine.shutdown()
        echo(f"legato worker {wid} stopped")
    return 0
