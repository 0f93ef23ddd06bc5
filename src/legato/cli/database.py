"""``legato db migrate [--dry-run]``: create or upgrade the schema, or say what that would do."""

from __future__ import annotations

from typing import Annotated

import typer

from legato import SchemaInfo, inspect_schema
from legato.cli import output
from legato.cli.common import USAGE, App, CliError, DbOption, JsonOption, db_url, engine_for
from legato.errors import LegatoError
from legato.store.url import resolve_url

db_app = App(help="Database maintenance.", no_args_is_help=True)


def _inspect(url: str) -> SchemaInfo:
    """``legato.inspect_schema(url)`` (creates nothing); a driver failure is a CliError."""
    try:
        return inspect_schema(url)
    except LegatoError:
        raise
    except Exception as exc:
        raise CliError(f"cannot open database {output.redact_url(url)}: "
                       f"{type(exc).__name__}: {output.one_line(str(exc))}", USAGE) from None


@db_app.command("migrate")
def migrate(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only print the migrations that would run; create or change "
                          "nothing.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Create or upgrade the database schema and print its version.

    With --dry-run, print the names of the migrations it would run, one per line, and change
    nothing. Examples:

        legato db migrate --db sqlite:///orders.db

        legato db migrate --dry-run --db postgresql://app@db/orders
    """
    if dry_run:
        info = _inspect(resolve_url(db_url(ctx, db)))
        info.refuse_newer()  # a migrate would refuse too: say so, naming both versions
        if as_json:
            output.print_json(info.as_dict())
        elif not info.pending:
            output.echo(f"no pending migrations (schema version {info.version})", err=True)
        else:
            for name in info.pending:
                output.echo(name)
        return
    with engine_for(ctx, db) as engine:
        version = engine.store.migrate()
        url = output.redact_url(engine.url)
    output.report(as_json, {"url": url, "version": version}, f"{url}: schema version {version}")
