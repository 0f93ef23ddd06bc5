"""``legato start | list | show | cancel | terminate | retry | purge``: workflows from the shell.

With ``--json`` a command prints one JSON document on stdout: the workflow's description
(``handle.describe()``) for one workflow, an array for a list.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from legato.cli import output
from legato.cli.common import (
    FAILED,
    INTERRUPTED,
    STILL_RUNNING,
    USAGE,
    CliError,
    DbOption,
    JsonListOption,
    JsonOption,
    actor,
    duration,
    engine_for,
)
from legato.domain import status as st
from legato.engine import Engine
from legato.errors import UnknownWorkflow, WorkflowFailed

IdArg = Annotated[str, typer.Argument(metavar="ID", show_default=False,
                                      help="The workflow id.")]
Timeout = Annotated[float | None, typer.Option(
    min=0.0, metavar="SECONDS", show_default=False,
    help="With --wait: give up waiting after this long (exit 3). Implies --wait.")]
RunActorOption = Annotated[str | None, typer.Option(
    "--actor", metavar="USER", show_default=False,
    help="Who acts, recorded in the run's history (default: $LEGATO_ACTOR, else your login"
         " name).")]


def _parse_inputs(inputs: list[str] | None) -> list[Any]:
    args: list[Any] = []
    for i, text in enumerate(inputs or (), start=1):
        try:
            args.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CliError(f"--input #{i} is not JSON ({output.clip(text, 60)!r}): {exc}; "
                           "quote strings, e.g. --input '\"o-1\"'", USAGE) from None
    return args


def failure(exc: WorkflowFailed) -> str:
    """``workflow 'ID' ended STATUS: Type: message``."""
    text = f"workflow {exc.workflow_id!r} ended {exc.status}"
    if exc.error:
        text += f": {output.error_text(exc.error)}"
    return text


def _wait(engine: Engine, workflow_id: str, timeout: float | None) -> Any:
    try:
        return engine.handle(workflow_id).result(timeout=timeout)
    except WorkflowFailed as exc:
        raise CliError(failure(exc), FAILED) from None
    except TimeoutError:
        status = engine.handle(workflow_id).status
        raise CliError(f"workflow {workflow_id!r} is still {status} after {timeout:g}s; "
                       f"follow it with: legato show {workflow_id}", STILL_RUNNING) from None
    except KeyboardInterrupt:
        raise CliError(f"interrupted; workflow {workflow_id!r} goes on", INTERRUPTED) from None


def _wait_json(engine: Engine, workflow_id: str, timeout: float | None, as_json: bool,
               **extra: Any) -> Any:
    """:func:`_wait`; with ``--json``, a wait that ends in an error still prints the
    workflow's description (its status says how it ended) before the error line."""
    try:
        return _wait(engine, workflow_id, timeout)
    except CliError:
        if as_json:
            output.print_json({**engine.handle(workflow_id).describe(), **extra})
        raise


def _end_status(engine: Engine, workflow_id: str, timeout: float | None) -> str:
    try:
        _wait(engine, workflow_id, timeout)
    except CliError as exc:
        if exc.code != FAILED:
            raise
    return engine.handle(workflow_id).status


def _status(text: str) -> str:
    try:
        return st.validate(text)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None


# --- commands ----------------------------------------------------------------------------


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
    key: Annotated[str | None, typer.Option(
        "--key", metavar="KEY", show_default=False,
        help="The run's business key (several runs may share one: legato list --key).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")
                    ] = False,
    timeout: Timeout = None,
    as_json: JsonOption = False,
    actor_: RunActorOption = None,
    db: DbOption = None,
) -> None:
    """Start workflow NAME and print its id; with --wait, print its result as JSON.

    Example:

        legato start fulfil_order --input '"o-1"' --id order-o-1 --key o-1 --wait
    """
    args = _parse_inputs(inputs)
    with engine_for(ctx, db) as engine:
        try:
            handle = engine.start(name, *args, workflow_id=workflow_id, key=key,
                                  actor=actor(actor_))
        except UnknownWorkflow:
            known = sorted(engine.store.known_names())
            hint = (f"known: {', '.join(known[:20])}" if known
                    else "no worker has registered any workflow there yet")
            raise CliError(
                f"unknown workflow {name!r} in {output.redact_url(engine.url)} ({hint}); "
                "start a worker that imports its module: legato worker MODULE", USAGE) from None
        if not as_json:
            output.echo(handle.workflow_id)
        if wait or timeout is not None:
            value = _wait_json(engine, handle.workflow_id, timeout, as_json)
            if not as_json:
                output.echo(output.to_json(value))
        if as_json:
            output.print_json(handle.describe())


def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        metavar="STATUS", show_default=False,
        help=f"Only this status: {', '.join(st.ALL)}.")] = None,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", show_default=False, help="Only workflows with this name.")] = None,
    key: Annotated[str | None, typer.Option(
        "--key", metavar="KEY", show_default=False,
        help="Only workflows started with this business key.")] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many.")] = 100,
    as_json: JsonListOption = False,
    db: DbOption = None,
) -> None:
    """List workflows, newest first.

    Example:

        legato list --status FAILED --name fulfil_order --limit 20
        legato list --key claim-7 --json
    """
    wanted = _status(status) if status is not None else None
    rows: list[dict[str, Any]] = []
    with engine_for(ctx, db, read_only=True) as engine:
        cursor = None
        while len(rows) < limit:  # pages of engine.runs: each described in one go
            page = engine.runs(status=wanted, name=name, key=key, cursor=cursor,
                               limit=min(limit - len(rows), 1000))
            rows += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    if as_json:
        output.print_json(rows)
    elif not rows:
        output.say_none("workflows")
    else:
        output.console().print(output.workflows_table(rows))


def show(
    ctx: typer.Context,
    workflow_id: IdArg,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: the description plus \"history\".")] = False,
    db: DbOption = None,
) -> None:
    """Show a workflow: status, input, result or error, timestamps and its history.

    Example:

        legato show order-o-1
    """
    with engine_for(ctx, db, read_only=True) as engine:
        handle = engine.handle(workflow_id)
        d = handle.describe()
        history = handle.history()
    if as_json:
        output.print_json({**d, "history": history})
        return
    output.console().print(output.show(d, history))


def cancel(
    ctx: typer.Context,
    workflow_id: IdArg,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Wait until the workflow has stopped and print its final status.")
    ] = False,
    timeout: Timeout = None,
    as_json: JsonOption = False,
    actor_: RunActorOption = None,
    db: DbOption = None,
) -> None:
    """Ask a workflow to stop at its next step boundary (it ends CANCELLED).

    Cooperative: a running step finishes first. A workflow that already ended is left as it
    is. Example:

        legato cancel order-o-1 --wait
    """
    with engine_for(ctx, db) as engine:
        handle = engine.handle(workflow_id)
        before = handle.status
        if before in st.TERMINAL:
            if as_json:
                output.print_json({**handle.describe(), "previous_status": before})
            else:
                output.echo(f"workflow {workflow_id!r} already ended {before}; nothing to "
                            "cancel")
            return
        handle.cancel(actor=actor(actor_))
        if not as_json:
            output.echo(f"cancel requested for {workflow_id} (was {before})")
        if wait or timeout is not None:
            try:
                end = _end_status(engine, workflow_id, timeout)
            except CliError:
                if as_json:
                    output.print_json({**handle.describe(), "previous_status": before})
                raise
            if not as_json:
                output.echo(f"{workflow_id} {end}")
        if as_json:
            output.print_json({**handle.describe(), "previous_status": before})


def terminate(
    ctx: typer.Context,
    workflow_id: IdArg,
    reason: Annotated[str, typer.Option(
        metavar="TEXT", help="Recorded in the history and the error.")] = "terminated",
    as_json: JsonOption = False,
    actor_: RunActorOption = None,
    db: DbOption = None,
) -> None:
    """Stop a workflow at once, without running any more of its code (it ends CANCELLED).

    Example:

        legato terminate order-o-1 --reason "duplicate order"
    """
    with engine_for(ctx, db) as engine:
        handle = engine.handle(workflow_id)
        before = handle.status
        if before not in st.TERMINAL:
            handle.terminate(reason, actor=actor(actor_))
        if as_json:
            output.print_json({**handle.describe(), "previous_status": before})
        elif before in st.TERMINAL:
            output.echo(f"workflow {workflow_id!r} already ended {before}; nothing to "
                        "terminate")
        else:
            output.echo(f"terminated {workflow_id} (was {before}): {reason}")


def retry(
    ctx: typer.Context,
    workflow_id: Annotated[str | None, typer.Argument(
        metavar="[ID]", show_default=False, help="The FAILED workflow to retry.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retry every matching workflow.")
                    ] = False,
    name: Annotated[str | None, typer.Option(
        metavar="NAME", help="With --all: only this workflow name.")] = None,
    status: Annotated[str, typer.Option(
        metavar="STATUS", help="With --all: the status to select.")] = "FAILED",
    limit: Annotated[int, typer.Option(
        min=1, metavar="N", help="With --all: at most this many.")] = 10_000,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result (one ID).")
                    ] = False,
    timeout: Timeout = None,
    as_json: JsonOption = False,
    actor_: RunActorOption = None,
    db: DbOption = None,
) -> None:
    """Retry FAILED workflows from their failed step, journal intact.

    After a code fix, or when a dependency is back. Examples:

        legato retry order-o-1 --wait
        legato retry --all --name fulfil_order --status FAILED
    """
    if (workflow_id is None) == (not all_):
        raise CliError("give one workflow ID, or --all (with --name/--status)", USAGE)
    wanted = _status(status)
    with engine_for(ctx, db) as engine:
        if workflow_id is not None:
            engine.retry(workflow_id, actor=actor(actor_))
            if not as_json:
                output.echo(f"retrying {workflow_id} from its failed step")
            if wait or timeout is not None:
                value = _wait_json(engine, workflow_id, timeout, as_json)
                if not as_json:
                    output.echo(output.to_json(value))
            if as_json:
                output.print_json(engine.handle(workflow_id).describe())
            return
        selected = engine.list(status=wanted, name=name, limit=limit)
        done, refused = output.retry_all(engine, [h.workflow_id for h in selected],
                                         actor(actor_))
    if as_json:
        output.print_json({"retried": done, "refused": [
            {"workflow_id": wid, "reason": why} for wid, why in refused]})
        return
    output.echo(f"retried {done} workflow(s); {len(refused)} refused")
    for wid, why in refused[:20]:
        output.echo(f"  {wid}: {output.one_line(why)}")


def purge(
    ctx: typer.Context,
    older_than: Annotated[str, typer.Option(
        "--older-than", metavar="AGE", show_default=False,
        help="Runs that ended longer ago than this: seconds, or 15m, 12h, 30d, 2w.")],
    status: Annotated[list[str] | None, typer.Option(
        "--status", metavar="STATUS", show_default=False,
        help="Only runs that ended with this status (repeatable; default: every ended one)."
    )] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only count what would be deleted (reads only).")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Delete runs that ended long ago, with their histories, to keep the store small.

    Runs that have not ended are never touched. A purged run's id can be started again.
    Example:

        legato purge --older-than 30d --status COMPLETED
    """
    age = duration(older_than, "--older-than")
    with engine_for(ctx, db, read_only=dry_run) as engine:
        count = engine.purge(age, status=status or None, dry_run=dry_run)
    if as_json:
        output.print_json({"count": count, "dry_run": dry_run})
    else:
        output.echo(f"{count} run{'s' * (count != 1)} {'would be ' if dry_run else ''}deleted")


__all__ = ["cancel", "failure", "list_", "purge", "retry", "show", "start",
           "terminate"]
