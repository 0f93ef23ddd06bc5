"""``legato oplog``: the operator log, newest first (docs/security.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from legato.cli import output
from legato.cli.common import DbOption, JsonListOption, engine_for, since_time


def oplog(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(
        metavar="TIME", help="Only entries since then: an ISO 8601 time (UTC unless it says "
                             "otherwise) or a duration ago (12h, 7d).")] = None,
    action: Annotated[str | None, typer.Option(
        metavar="ACTION", help="Only this action (token.create, schedule.pause, ...).")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="At most this many entries.")
                     ] = 100,
    as_json: JsonListOption = False,
    db: DbOption = None,
) -> None:
    """Show the operator log: actions on no run or task (publishing, schedules, circuit
    resets, tokens, users), with who did them, newest first.

    Example:

        legato oplog --since 7d --action token.create
    """
    with engine_for(ctx, db, read_only=True) as engine:
        start = None if since is None else since_time(since, engine.clock.now())
        entries = engine.operator_log.list(since=start, action=action, limit=limit)
    if as_json:
        output.print_json(entries)
        return
    if not entries:
        output.say_none("operator log entries")
        return
    table = output.table("at", "actor", "action", "target", "data", title="operator log")
    for e in entries:
        who = e["actor"]
        shown = "-" if who is None else who["user"] + (
            f" ({who['token_id']})" if "token_id" in who else "")
        output.add_row(table, output.fmt_ts(e["at"]), shown, e["action"], e["target"],
                       "" if e["data"] is None else output.short_json(e["data"], 60))
    output.console().print(table)
