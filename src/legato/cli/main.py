"""The ``legato`` command: ``worker``, the workflow commands (cli/workflows.py), events
(``publish``, ``events list``) and breakers (cli/events.py), ``queues``, ``tasks``,
``users``, ``schedules`` (cli/people.py, cli/schedules.py), ``db`` (cli/database.py),
``asl`` (cli/asl.py) and ``analyze`` (cli/analyze.py).

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
from legato.cli import analyze, events, output, people, schedules, server, worker, workflows
from legato.cli.asl import asl_app
from legato.cli.circuits import circuits_app
from legato.cli.common import FAILED, INTERRUPTED, USAGE, App, CliError, DbOption
from legato.cli.database import db_app
from legato.cli.oplog import oplog
from legato.cli.tokens import tokens_app
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


# the order of the help's command list
app.command()(worker.worker)
app.command()(server.server)
app.command()(workflows.start)
app.command("list")(workflows.list_)
app.command()(workflows.show)
app.command()(workflows.cancel)
app.command()(workflows.terminate)
app.command()(workflows.retry)
app.command()(workflows.purge)
app.command()(events.publish)
app.add_typer(events.events_app, name="events")
app.command()(events.signal)
app.command()(events.query)
app.add_typer(circuits_app, name="circuits")
app.command("queues")(schedules.queues)
app.add_typer(people.tasks_app, name="tasks")
app.add_typer(people.users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.command()(oplog)
app.command()(analyze.analyze)
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
