"""``legato schedules [list|pause|resume|trigger]`` (durable cron schedules) and ``legato
queues``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from legato.cli import output
from legato.cli.common import (
    USAGE,
    ActorOption,
    App,
    CliError,
    DbOption,
    JsonListOption,
    JsonOption,
    actor,
    engine_for,
    remember_db,
)

schedules_app = App(help="Cron schedules: list, pause, resume, trigger.",
                    invoke_without_command=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name.")]


@schedules_app.callback()
def _default(ctx: typer.Context, as_json: JsonListOption = False, db: DbOption = None) -> None:
    """List the schedules (the default)."""
    remember_db(ctx, db)
    if as_json and ctx.invoked_subcommand is not None:
        raise CliError(f"--json goes after the command: legato schedules "
                       f"{ctx.invoked_subcommand} --json", USAGE)
    if ctx.invoked_subcommand is None:
        list_schedules(ctx, as_json=as_json, db=db)


@schedules_app.command("list")
def list_schedules(ctx: typer.Context, as_json: JsonListOption = False, db: DbOption = None
                   ) -> None:
    """Every schedule with its cron, timezone, next tick and state.

    Example:

        legato schedules list
    """
    with engine_for(ctx, db, read_only=True) as engine:
        rows = engine.schedules.list()
    if as_json:
        output.print_json(rows)
        return
    if not rows:
        output.say_none("schedules")
        return
    table = output.table("name", "workflow", "cron", "timezone", "catch-up", "next tick",
                         "state", title="schedules")
    for r in rows:
        output.add_row(table, r["name"], r["workflow"], r["cron"], r["timezone"], r["catch_up"],
                       output.fmt_ts(r["next_tick"]), "paused" if r["paused"] else "active")
    output.console().print(table)


@schedules_app.command()
def pause(ctx: typer.Context, name: NameArg, as_actor: ActorOption = None,
          as_json: JsonOption = False, db: DbOption = None) -> None:
    """Stop a schedule's runs (ticks that pass are not caught up).

    Example:

        legato schedules pause nightly-report
    """
    with engine_for(ctx, db) as engine:
        engine.schedules.pause(name, actor=actor(as_actor))
        row: dict[str, Any] = engine.schedules.get(name)
    if as_json:
        output.print_json(row)
    else:
        output.echo(f"schedule {name} paused")


@schedules_app.command()
def resume(ctx: typer.Context, name: NameArg, as_actor: ActorOption = None,
           as_json: JsonOption = False, db: DbOption = None) -> None:
    """Run a paused schedule again from its next tick.

    Example:

        legato schedules resume nightly-report
    """
    with engine_for(ctx, db) as engine:
        engine.schedules.resume(name, actor=actor(as_actor))
        row: dict[str, Any] = engine.schedules.get(name)
    if as_json:
        output.print_json(row)
    else:
        output.echo(f"schedule {name} resumed; next run {output.fmt_ts(row['next_tick'])}")


@schedules_app.command()
def trigger(ctx: typer.Context, name: NameArg, as_actor: ActorOption = None,
            as_json: JsonOption = False, db: DbOption = None) -> None:
    """Start a schedule's workflow now, with its args, as a tick would (paused or not); its
    next tick stays as it was. A worker runs it.

    Example:

        legato schedules trigger nightly-report
    """
    with engine_for(ctx, db) as engine:
        handle = engine.schedules.trigger(name, actor=actor(as_actor))
    output.report(as_json, {"schedule": name, "workflow_id": handle.workflow_id},
                  f"schedule {output.one_line(name)} triggered: workflow "
                  f"{output.one_line(handle.workflow_id)}")


def queues(ctx: typer.Context, as_json: JsonListOption = False, db: DbOption = None) -> None:
    """Show each queue: limits, depth (waiting to start), running and throughput.

    Example:

        legato queues
    """
    with engine_for(ctx, db, read_only=True) as engine:
        rows = engine.queues()
    if as_json:
        output.print_json(rows)
        return
    if not rows:
        output.say_none("queues")
        return
    table = output.table("name", "concurrency", "rate", "per key", "depth", "running",
                         "done/min", title="queues")
    for r in rows:
        rate = "-" if r["rate"] is None else f"{r['rate'][0]}/{r['rate'][1]:g}s"
        output.add_row(table, r["name"], r["concurrency"] or "-", rate,
                       r["per_key_concurrency"] or "-", r["depth"], r["running"],
                       r["completed_last_minute"])
    output.console().print(table)
