"""``legato circuits [list | reset NAME]``: circuit breakers, listed (the default, in
cli/events.py) and reset by an operator."""

from __future__ import annotations

from typing import Annotated

import typer

from legato.cli import events, output
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

circuits_app = App(help="Circuit breakers: list (the default), reset.",
                   invoke_without_command=True)

History = Annotated[bool, typer.Option(
    "--history", help="Also list state changes (with --json: each breaker's \"history\").")]


@circuits_app.callback()
def _default(ctx: typer.Context, history: History = False, as_json: JsonListOption = False,
             db: DbOption = None) -> None:
    """Show every circuit breaker: state, failure count and next probe time.

    Example:

        legato circuits --history
    """
    remember_db(ctx, db)
    if ctx.invoked_subcommand is not None:
        if as_json or history:
            raise CliError(f"{'--json' if as_json else '--history'} goes after the command:"
                           f" legato circuits {ctx.invoked_subcommand} "
                           f"{'--json' if as_json else '--history'}", USAGE)
        return
    events.circuits(ctx, history=history, as_json=as_json, db=db)


@circuits_app.command("list")
def list_circuits(ctx: typer.Context, history: History = False,
                  as_json: JsonListOption = False, db: DbOption = None) -> None:
    """Show every circuit breaker: state, failure count and next probe time.

    Example:

        legato circuits list --history
    """
    events.circuits(ctx, history=history, as_json=as_json, db=db)


@circuits_app.command()
def reset(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False,
                                        help="The breaker's name.")],
    as_actor: ActorOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Close a circuit breaker for every worker (failures cleared), as when its dependency
    is known to be back. Steps waiting for it go on when they next look (at most its
    reset_timeout later).

    Example:

        legato circuits reset payments
    """
    with engine_for(ctx, db) as engine:
        shown = engine.reset_circuit(name, actor=actor(as_actor))
    output.report(as_json, shown, f"circuit {output.one_line(name)} is {shown['state']}, "
                                  f"{shown['failures']} failures")
