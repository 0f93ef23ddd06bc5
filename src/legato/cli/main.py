"""The ``legato`` command: ``worker``, the workflow commands (cli/workflows.py), events and
breakers (cli/events.py), ``queues``, ``tasks``, ``users``, ``schedules`` (cli/people.py,
cli/schedules.py), ``db`` (cli/database.py) and ``asl`` (cli/asl.py).

Every command takes ``--db URL`` (default: ``$LEGATO_DATABASE_URL``, else
``sqlite:///legato.db``). Mistakes end with one ``error: ...`` line on stderr and exit code 2;
a workflow that ends without a result under ``--wait`` exits 1; ``--wait`` that times out
exits 3. Every command that prints has ``--json`` (one JSON document on stdout), except
``worker`` (logs) and ``asl graph`` (Mermaid text).
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Annotated

import typer

from legato import __version__
from legato.cli import events, output, people, schedules, workflows
from legato.cli.asl import asl_app
from legato.cli.common import FAILED, INTERRUPTED, USAGE, App, CliError, DbOption, db_url
from legato.cli.database import db_app
from legato.errors import LegatoError, WorkflowFailed

app = App(
    name="legato",
    help="legato: durable workflows for Python. Run workers, start and inspect workflows.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"legato {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: DbOption = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """legato: durable workflows for Python. Run workers, start and inspect workflows."""
    ctx.obj = {"db": db}


@app.command()
def worker(
    ctx: typer.Context,
    modules: Annotated[list[str], typer.Argument(
        metavar="MODULE", show_default=False,
        help="Modules defining @legato.workflow functions: dotted names (the current "
             "directory is on the path) or paths to .py files.")],
    db: DbOption = None,
    concurrency: Annotated[int, typer.Option(
        min=1, metavar="N", help="Workflows this worker runs at once.")] = 500,
    lease: Annotated[float, typer.Option(
        min=0.1, metavar="SECONDS",
        help="Lease on running workflows; a dead worker's work is taken over after it.")] = 5.0,
    step_threads: Annotated[int, typer.Option(
        min=1, metavar="N", help="Threads running synchronous steps.")] = 32,
    grace: Annotated[float, typer.Option(
        min=0.0, metavar="SECONDS",
        help="On SIGINT/SIGTERM, how long running steps may take to finish.")] = 10.0,
    log_level: Annotated[str, typer.Option(
        metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    retention: Annotated[str | None, typer.Option(
        metavar="AGE", show_default=False,
        help="Purge runs that ended longer ago than this (15m, 12h, 30d ...), every 10 "
             "minutes; default: keep them.")] = None,
    processes: Annotated[int, typer.Option(
        min=0, metavar="N", help="Run the workers in this many child processes (one per core "
                                 "for CPU-bound steps); 0: in this process.")] = 0,
    inline_steps: Annotated[bool, typer.Option(
        "--inline-steps/--no-inline-steps",
        help="Run steps whose runs prove quick (under 0.1 ms) on the worker's own thread "
             "instead of its step pool.")] = True,
) -> None:
    """Run workflows: import MODULEs, then work until SIGINT/SIGTERM.

    Recovers unfinished workflows of the registered names at start. On a signal, stops
    claiming work, lets running steps finish (up to --grace seconds), releases what is still
    in flight to other workers and exits 0. Example:

        legato worker myapp.workflows --db sqlite:///orders.db
    """
    from legato.cli.worker import run_worker

    keep = None if retention is None else workflows.duration(retention, "--retention")
    raise typer.Exit(run_worker(modules, db=db_url(ctx, db), concurrency=concurrency,
                                lease=lease, step_threads=step_threads, grace=grace,
                                log_level=log_level, retention=keep, processes=processes,
                                inline_steps=inline_steps))


# the order of the help's command list
app.command()(workflows.start)
app.command("list")(workflows.list_)
app.command()(workflows.show)
app.command()(workflows.cancel)
app.command()(workflows.terminate)
app.command()(workflows.retry)
app.command()(workflows.purge)
app.command()(events.publish)
app.command()(events.signal)
app.command()(events.query)
app.command()(events.circuits)
app.command("queues")(schedules.queues)
app.add_typer(people.tasks_app, name="tasks")
app.add_typer(people.users_app, name="users")
app.add_typer(schedules.schedules_app, name="schedules")
app.add_typer(db_app, name="db")
app.add_typer(asl_app, name="asl")


# --- entry point -------------------------------------------------------------------------


def _die(message: str, code: int) -> None:
    """``error: MESSAGE`` on stderr (one line: whitespace runs made one space, any other
    control character escaped, never read as markup; passwords hidden), then exit."""
    sys.stdout.flush()
    output.echo(f"error: {output.redact_passwords(output.one_line(message))}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the ``legato`` command line (``argv`` defaults to ``sys.argv[1:]``)."""
    try:
        app(args=argv, prog_name="legato")
    except CliError as exc:
        _die(exc.message, exc.code)
    except WorkflowFailed as exc:
        _die(workflows.failure(exc), FAILED)
    except LegatoError as exc:
        _die(str(exc), USAGE)
    except KeyboardInterrupt:
        _die("interrupted", INTERRUPTED)
    except Exception as exc:  # a bug: say what, keep the traceback for those who ask
        if os.environ.get("LEGATO_DEBUG"):
            traceback.print_exc()
        _die(f"unexpected {type(exc).__name__}: {exc} (set LEGATO_DEBUG=1 for the traceback)",
             1)


if __name__ == "__main__":
    main()
