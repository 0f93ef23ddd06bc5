"""The ``legato`` command: ``worker``, ``start``, ``list``, ``show``, ``cancel``, ``terminate``
and ``db migrate``.

Every command takes ``--db URL`` (default: ``$LEGATO_DATABASE_URL``, else
``sqlite:///legato.db``). Mistakes end with one ``error: ...`` line on stderr and exit code 2;
a workflow that ends without a result under ``--wait`` exits 1; ``--wait`` that times out
exits 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from legato import __version__
from legato.cli import output, people, schedules
from legato.cli.asl import asl_app
from legato.cli.common import (
    FAILED,
    INTERRUPTED,
    STILL_RUNNING,
    USAGE,
    CliError,
    open_engine,
)
from legato.domain import status as st
from legato.engine import Engine
from legato.errors import LegatoError, UnknownWorkflow, WorkflowFailed

app = typer.Typer(
    name="legato",
    help="legato: durable workflows for Python. Run workers, start and inspect workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(asl_app, name="asl")
app.add_typer(people.tasks_app, name="tasks")
app.add_typer(people.users_app, name="users")
app.add_typer(schedules.schedules_app, name="schedules")
app.command("queues")(schedules.queues)

DbOption = Annotated[
    str | None,
    typer.Option("--db", metavar="URL", show_default=False,
                 help="Database URL: sqlite:///FILE.db or postgresql://... "
                      "(default: $LEGATO_DATABASE_URL, else sqlite:///legato.db)"),
]


# --- plumbing ----------------------------------------------------------------------------


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


def _db(ctx: typer.Context, db: str | None) -> str | None:
    """The command's ``--db``, else the one given before the command name."""
    if db:
        return db
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    value = obj.get("db")
    return value if isinstance(value, str) and value else None


@contextlib.contextmanager
def _engine(ctx: typer.Context, db: str | None) -> Iterator[Engine]:
    """A client engine (no workers) on the command's database, closed afterwards."""
    engine = open_engine(_db(ctx, db))
    try:
        yield engine
    finally:
        engine.shutdown()


def _parse_inputs(inputs: list[str] | None) -> list[Any]:
    args: list[Any] = []
    for i, text in enumerate(inputs or (), start=1):
        try:
            args.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CliError(f"--input #{i} is not JSON ({output.clip(text, 60)!r}): {exc}; "
                           "quote strings, e.g. --input '\"o-1\"'", USAGE) from None
    return args


def _failure(exc: WorkflowFailed) -> str:
    text = f"workflow {exc.workflow_id!r} ended {exc.status}"
    if exc.error:
        text += f": {output.error_text(exc.error)}"
    return text


def _wait(engine: Engine, workflow_id: str, timeout: float | None) -> Any:
    try:
        return engine.handle(workflow_id).result(timeout=timeout)
    except WorkflowFailed as exc:
        raise CliError(_failure(exc), FAILED) from None
    except TimeoutError:
        status = engine.handle(workflow_id).status
        raise CliError(f"workflow {workflow_id!r} is still {status} after {timeout:g}s; "
                       f"follow it with: legato show {workflow_id}", STILL_RUNNING) from None
    except KeyboardInterrupt:
        raise CliError(f"interrupted; workflow {workflow_id!r} goes on", INTERRUPTED) from None


# --- commands ----------------------------------------------------------------------------


@app.command()
def worker(
    ctx: typer.Context,
    modules: Annotated[list[str], typer.Argument(
        metavar="MODULE", show_default=False,
        help="Modules defining @legato.workflow functions: dotted names (the current "
             "directory is on the path) or paths to .py files.")],
    db: DbOption = None,
    concurrency: Annotated[int, typer.Option(
        min=1, help="Workflows this worker runs at once.")] = 500,
    lease: Annotated[float, typer.Option(
        min=0.1, metavar="SECONDS",
        help="Lease on running workflows; a dead worker's work is taken over after it.")] = 5.0,
    step_threads: Annotated[int, typer.Option(
        min=1, help="Threads running synchronous steps.")] = 32,
    grace: Annotated[float, typer.Option(
        min=0.0, metavar="SECONDS",
        help="On SIGINT/SIGTERM, how long running steps may take to finish.")] = 10.0,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    retention: Annotated[str | None, typer.Option(
        metavar="AGE", show_default=False,
        help="Purge runs that ended longer ago than this (15m, 12h, 30d ...), every 10 "
             "minutes; default: keep them.")] = None,
    processes: Annotated[int, typer.Option(
        min=0, help="Run the workers in this many child processes (one per core for "
                    "CPU-bound steps); 0: in this process.")] = 0,
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

    keep = None if retention is None else _duration(retention, "--retention")
    raise typer.Exit(run_worker(modules, db=_db(ctx, db), concurrency=concurrency, lease=lease,
                                step_threads=step_threads, grace=grace, log_level=log_level,
                                retention=keep, processes=processes,
                                inline_steps=inline_steps))


@app.command()
def start(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False,
                                        help="The workflow's registered name.")],
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", metavar="JSON", show_default=False,
        help="One positional argument as a JSON value; repeat for more.")] = None,
    workflow_id: Annotated[str | None, typer.Option(
        "--id", metavar="ID", show_default=False,
        help="Workflow id (default: random). Starting an existing id returns that run.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")
                    ] = False,
    timeout: Annotated[float | None, typer.Option(
        min=0.0, metavar="SECONDS", show_default=False,
        help="With --wait: give up waiting after this long (exit 3). Implies --wait.")] = None,
    db: DbOption = None,
) -> None:
    """Start workflow NAME and print its id; with --wait, print its result as JSON.

    Example:

        legato start fulfil_order --input '"o-1"' --id order-o-1 --wait
    """
    args = _parse_inputs(inputs)
    with _engine(ctx, db) as engine:
        try:
            handle = engine.start(name, *args, workflow_id=workflow_id)
        except UnknownWorkflow:
            known = sorted(engine.store.known_names())
            hint = (f"known: {', '.join(known[:20])}" if known
                    else "no worker has registered any workflow there yet")
            raise CliError(
                f"unknown workflow {name!r} in {output.redact_url(engine.url)} ({hint}); "
                "start a worker that imports its module: legato worker MODULE", USAGE) from None
        print(handle.workflow_id, flush=True)
        if wait or timeout is not None:
            value = _wait(engine, handle.workflow_id, timeout)
            print(output.to_json(value), flush=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        metavar="STATUS", show_default=False,
        help=f"Only this status: {', '.join(st.ALL)}.")] = None,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", show_default=False, help="Only workflows with this name.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per line instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """List workflows, newest first.

    Example:

        legato list --status FAILED --name fulfil_order --limit 20
    """
    try:
        wanted = st.validate(status) if status is not None else None
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    with _engine(ctx, db) as engine:
        rows = [h.describe() for h in engine.list(status=wanted, name=name, limit=limit)]
    if as_json:
        for d in rows:
            print(output.to_json(d))
        return
    if not rows:
        print("no workflows", file=sys.stderr)
        return
    output.console().print(output.workflows_table(rows))


@app.command()
def show(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object (the description plus \"history\").")] = False,
    db: DbOption = None,
) -> None:
    """Show a workflow: status, input, result or error, timestamps and its history.

    Example:

        legato show order-o-1
    """
    with _engine(ctx, db) as engine:
        handle = engine.handle(workflow_id)
        d = handle.describe()
        history = handle.history()
    if as_json:
        print(json.dumps({**d, "history": history}, ensure_ascii=False, indent=2, default=str))
        return
    output.console().print(output.show(d, history))


@app.command()
def cancel(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    wait: Annotated[bool, typer.Option(
        "--wait", help="Wait until the workflow has stopped and print its final status.")
    ] = False,
    timeout: Annotated[float | None, typer.Option(
        min=0.0, metavar="SECONDS", show_default=False,
        help="With --wait: give up waiting after this long (exit 3).")] = None,
    db: DbOption = None,
) -> None:
    """Ask a workflow to stop at its next step boundary (it ends CANCELLED).

    Cooperative: a running step finishes first. A workflow that already ended is left as it
    is. Example:

        legato cancel order-o-1 --wait
    """
    with _engine(ctx, db) as engine:
        handle = engine.handle(workflow_id)
        before = handle.status
        if before in st.TERMINAL:
            print(f"workflow {workflow_id!r} already ended {before}; nothing to cancel")
            return
        handle.cancel()
        print(f"cancel requested for {workflow_id} (was {before})", flush=True)
        if wait or timeout is not None:
            end = _end_status(engine, workflow_id, timeout)
            print(f"{workflow_id} {end}")


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def _duration(text: str, option: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w``."""
    t = text.strip().lower()
    unit = _UNITS.get(t[-1:])
    try:
        value = float(t[:-1] if unit is not None else t) * (unit or 1.0)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise CliError(f"{option} {text!r} is not a duration: give seconds or a number with"
                       " s, m, h, d or w (e.g. 30d)", USAGE)
    return value


@app.command()
def purge(
    ctx: typer.Context,
    older_than: Annotated[str, typer.Option(
        "--older-than", metavar="AGE", show_default=False,
        help="Runs that ended longer ago than this: seconds, or 15m, 12h, 30d, 2w.")],
    status: Annotated[list[str] | None, typer.Option(
        "--status", metavar="S", show_default=False,
        help="Only runs that ended with this status (repeatable; default: every ended one)."
    )] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only count what would be deleted.")] = False,
    db: DbOption = None,
) -> None:
    """Delete runs that ended long ago, with their histories, to keep the store small.

    Runs that have not ended are never touched. A purged run's id can be started again.
    Example:

        legato purge --older-than 30d --status COMPLETED
    """
    age = _duration(older_than, "--older-than")
    with _engine(ctx, db) as engine:
        count = engine.purge(age, status=status or None, dry_run=dry_run)
    print(f"{count} run{'s' * (count != 1)} {'would be ' if dry_run else ''}deleted")


def _end_status(engine: Engine, workflow_id: str, timeout: float | None) -> str:
    try:
        _wait(engine, workflow_id, timeout)
    except CliError as exc:
        if exc.code != FAILED:
            raise
    return engine.handle(workflow_id).status


@app.command()
def terminate(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    reason: Annotated[str, typer.Option(help="Recorded in the history and the error.")
                      ] = "terminated",
    db: DbOption = None,
) -> None:
    """Stop a workflow at once, without running any more of its code (it ends CANCELLED).

    Example:

        legato terminate order-o-1 --reason "duplicate order"
    """
    with _engine(ctx, db) as engine:
        handle = engine.handle(workflow_id)
        before = handle.status
        if before in st.TERMINAL:
            print(f"workflow {workflow_id!r} already ended {before}; nothing to terminate")
            return
        handle.terminate(reason)
        print(f"terminated {workflow_id} (was {before}): {reason}")


@app.command()
def retry(
    ctx: typer.Context,
    workflow_id: Annotated[str | None, typer.Argument(metavar="[ID]", show_default=False)
                           ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every matching workflow.")
                    ] = False,
    name: Annotated[str | None, typer.Option(help="With --all: only this workflow name.")
                    ] = None,
    status: Annotated[str, typer.Option(help="With --all: the status to select.")
                      ] = "FAILED",
    limit: Annotated[int, typer.Option(min=1, help="With --all: at most this many.")
                     ] = 10_000,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result (one ID).")
                    ] = False,
    timeout: Annotated[float | None, typer.Option(min=0.0, metavar="SECONDS",
                                                  show_default=False)] = None,
    db: DbOption = None,
) -> None:
    """Redrive FAILED workflows from their failed step, journal intact.

    After a code fix, or when a dependency is back. Examples:

        legato retry order-o-1 --wait
        legato retry --all --name fulfil_order --status FAILED
    """
    if (workflow_id is None) == (not all_):
        raise CliError("give one workflow ID, or --all (with --name/--status)", USAGE)
    with _engine(ctx, db) as engine:
        if workflow_id is not None:
            engine.retry(workflow_id)
            print(f"retrying {workflow_id} from its failed step", flush=True)
            if wait or timeout is not None:
                print(json.dumps(_wait(engine, workflow_id, timeout)))
            return
        selected = engine.list(status=st.validate(status), name=name, limit=limit)
        done, refused = output.retry_all(engine, [h.workflow_id for h in selected])
        print(f"retried {done} workflow(s); {len(refused)} refused")
        for wid, why in refused[:20]:
            print(f"  {wid}: {why}")


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} is not JSON: {exc.msg} at column {exc.colno}", USAGE) from None


@app.command()
def publish(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", show_default=False)],
    key: Annotated[str | None, typer.Option(help="The business key it correlates on.")
                   ] = None,
    data: Annotated[str | None, typer.Option(metavar="JSON", help="The event's data.")
                    ] = None,
    event_id: Annotated[str | None, typer.Option("--id", help="Idempotency id.")] = None,
    db: DbOption = None,
) -> None:
    """Publish an event: delivered to every workflow waiting on (TYPE, key), else buffered.

    Example:

        legato publish payment.settled --key o-1 --data '{"amount": 4999}'
    """
    value = _json_arg(data, "--data")
    with _engine(ctx, db) as engine:
        r = engine.publish(event_type, key=key, data=value, event_id=event_id)
        if r.duplicate:
            print(f"event {r.event_id} was published before; nothing done")
        elif r.delivered_to:
            print(f"event {r.event_id} delivered to {len(r.delivered_to)} workflow(s): "
                  + ", ".join(r.delivered_to))
        else:
            print(f"event {r.event_id} buffered for the first matching wait")


@app.command()
def signal(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False)],
    data: Annotated[str | None, typer.Option(metavar="JSON", help="The signal's data.")
                    ] = None,
    db: DbOption = None,
) -> None:
    """Send a signal to one workflow (queued in order until it waits for it).

    Example:

        legato signal order-o-1 approve --data '{"by": "alice"}'
    """
    value = _json_arg(data, "--data")
    with _engine(ctx, db) as engine:
        engine.signal(workflow_id, name, value)
        print(f"signal {name!r} sent to {workflow_id}")


@app.command()
def query(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    key: Annotated[str, typer.Argument(metavar="KEY", show_default=False)],
    db: DbOption = None,
) -> None:
    """Print (as JSON) the latest value a workflow set with ctx.set_state(KEY, ...).

    Example:

        legato query order-o-1 stage
    """
    with _engine(ctx, db) as engine:
        print(json.dumps(engine.query(workflow_id, key)))


@app.command()
def circuits(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")
                       ] = False,
    history: Annotated[bool, typer.Option("--history", help="Also list state changes.")
                       ] = False,
    db: DbOption = None,
) -> None:
    """Show every circuit breaker: state, failure count and next probe time.

    Example:

        legato circuits --history
    """
    with _engine(ctx, db) as engine:
        rows = engine.circuits()
        if as_json:
            for r in rows:
                print(json.dumps(r))
        else:
            output.console().print(output.circuits_table(rows))
        if history:
            for t in engine.circuit_transitions():
                line = (f"{output.fmt_ts(t['at'])}  {t['name']}: {t['source']} -> "
                        f"{t['target']} ({t['reason']})")
                print(json.dumps(t) if as_json else line)


@db_app.command("migrate")
def migrate(ctx: typer.Context, db: DbOption = None) -> None:
    """Create or upgrade the database schema and print its version.

    Example:

        legato db migrate --db sqlite:///orders.db
    """
    with _engine(ctx, db) as engine:
        version = engine.store.migrate()
        print(f"{output.redact_url(engine.url)}: schema version {version}")


# --- entry point -------------------------------------------------------------------------


def _die(message: str, code: int) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"error: {output.redact_passwords(output.one_line(message))}\n")
    sys.stderr.flush()
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the ``legato`` command line (``argv`` defaults to ``sys.argv[1:]``)."""
    try:
        app(args=argv, prog_name="legato")
    except CliError as exc:
        _die(exc.message, exc.code)
    except WorkflowFailed as exc:
        _die(_failure(exc), FAILED)
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
