"""``legato tokens create | list | revoke``: API tokens for the HTTP API (docs/security.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from legato.cli import output
from legato.cli.common import (
    ActorOption,
    App,
    DbOption,
    JsonListOption,
    JsonOption,
    actor,
    duration,
    engine_for,
)
from legato.domain.tokens import TokenInfo

tokens_app = App(help="API tokens for the HTTP API: create, list, revoke.",
                 no_args_is_help=True)


def _row(info: TokenInfo, now: float) -> dict[str, Any]:
    return {**info.as_dict(), "state": info.state(now)}


@tokens_app.command()
def create(
    ctx: typer.Context,
    user: Annotated[str, typer.Option(metavar="USER", show_default=False,
                                      help="Whom the token is for (any name).")],
    role: Annotated[str, typer.Option(metavar="ROLE", show_default=False,
                                      help="viewer, operator or admin.")],
    expires: Annotated[str | None, typer.Option(
        metavar="DURATION", help="Valid for this long (90d, 12h, 3600); default: until "
                                 "revoked.")] = None,
    as_actor: ActorOption = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: the token's info and \"token\", its "
                       "secret.")] = False,
    db: DbOption = None,
) -> None:
    """Create a token and print its secret, once, alone on the last line (legato keeps only
    its hash: store it now).

    Example:

        legato tokens create --user alice --role operator --expires 90d
    """
    secs = None if expires is None else duration(expires, "--expires")
    with engine_for(ctx, db) as engine:
        info, secret = engine.tokens.create(user, role, expires=secs, actor=actor(as_actor))
    if as_json:
        output.print_json({**info.as_dict(), "token": secret})
        return
    until = f"expires {output.fmt_ts(info.expires_at)} UTC" if info.expires_at is not None \
        else "does not expire"
    output.echo(f"token {info.id} created for {output.one_line(info.user)} ({info.role}), "
                f"{until}")
    output.echo("its secret follows; it is not shown again:")
    output.echo(secret)


@tokens_app.command("list")
def list_tokens(ctx: typer.Context, as_json: JsonListOption = False, db: DbOption = None
                ) -> None:
    """List tokens (revoked and expired ones too), oldest first; never their secrets.

    Example:

        legato tokens list
    """
    with engine_for(ctx, db, read_only=True) as engine:
        now = engine.clock.now()
        rows = [_row(t, now) for t in engine.tokens.list()]
    if as_json:
        output.print_json(rows)
        return
    if not rows:
        output.say_none("tokens")
        return
    table = output.table("id", "user", "role", "state", "created", "expires", "last used",
                         title="API tokens")
    for r in rows:
        output.add_row(table, r["id"], r["user"], r["role"], r["state"],
                       output.fmt_ts(r["created_at"]), output.fmt_ts(r["expires_at"]),
                       output.fmt_ts(r["last_used_at"]))
    output.console().print(table)


@tokens_app.command()
def revoke(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(metavar="ID", show_default=False,
                                            help="The token's id (tok_...).")],
    as_actor: ActorOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Revoke a token: every server of the database refuses it from now on.

    Example:

        legato tokens revoke tok_3f9a1c2b7e
    """
    with engine_for(ctx, db) as engine:
        info = engine.tokens.revoke(token_id, actor=actor(as_actor))
        row = _row(info, engine.clock.now())
    output.report(as_json, row, f"token {info.id} ({output.one_line(info.user)}) revoked")
