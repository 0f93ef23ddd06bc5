"""``legato schedules [list|pause|resume]``: durable cron schedules from the shell."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from legato.cli import output
from legato.cli.people import Db, _engine

schedules_app = typer.Typer(help="Cron schedules: list, pause, resume.",
                            invoke_without_command=True)


@schedules_app.callback()
def _default(ctx: typer.Context, db: Db = None) -> None:
    """List the schedules (the default)."""
    if ctx.invoked_subcommand is None:
        list_schedules(ctx, db=db)


@schedules_app.command("list")
def list_schedules(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")
                       ] = False,
    db: Db = None,
) -> None:
    """Every schedule with its cron, timezone, next tick and state."""
    with _engine(ctx, db) as engine:
        rows = engine.schedules.list()
        if as_json:
            for r in rows:
                print(json.dumps(r))
            return
        table = Table(title="schedules")
        for col in ("name", "workflow", "cron", "timezone", "catch-up", "next tick", "state"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["name"], r["workflow"], r["cron"], r["timezone"], r["catch_up"],
                          output.fmt_ts(r["next_tick"]), "paused" if r["paused"] else "active")
        output.console().print(table)


@schedules_app.command()
def pause(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")],
          db: Db = None) -> None:
    """Stop a schedule's runs (ticks that pass are not caught up)."""
    with _engine(ctx, db) as engine:
        engine.schedules.pause(name)
        print(f"schedule {name} paused")


@schedules_app.command()
def resume(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")],
           db: Db = None) -> None:
    """Run a paused schedule again from its next tick."""
    with _engine(ctx, db) as engine:
        engine.schedules.resume(name)
        nxt = output.fmt_ts(engine.schedules.get(name)["next_tick"])
        print(f"schedule {name} resumed; next run {nxt}")


def queues(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")
                       ] = False,
    db: Db = None,
) -> None:
    """Show each queue: limits, depth (waiting to start), running and throughput.

    Example:

        legato queues
    """
    with _engine(ctx, db) as engine:
        rows = engine.queues()
        if as_json:
            for r in rows:
                print(json.dumps(r))
            return
        table = Table(title="queues")
        for col in ("name", "concurrency", "rate", "per key", "depth", "running", "done/min"):
            table.add_column(col)
        for r in rows:
            rate = "-" if r["rate"] is None else f"{r['rate'][0]}/{r['rate'][1]:g}s"
            table.add_row(r["name"], str(r["concurrency"] or "-"), rate,
                          str(r["per_key_concurrency"] or "-"), str(r["depth"]),
                          str(r["running"]), str(r["completed_last_minute"]))
        output.console().print(table)
