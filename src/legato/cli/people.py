"""``legato tasks ...`` and ``legato users ...``: the human-task inbox from the shell."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.table import Table

from legato.cli import output
from legato.cli.common import USAGE, CliError, open_engine
from legato.domain.tasks import Task
from legato.engine import Engine

tasks_app = typer.Typer(help="Human tasks: list, claim, complete, reject.",
                        no_args_is_help=True)
users_app = typer.Typer(help="Users and their groups.", no_args_is_help=True)

Db = Annotated[str | None, typer.Option("--db", metavar="URL", show_default=False,
                                        help="Database URL (default: $LEGATO_DATABASE_URL)")]
User = Annotated[str, typer.Option("--user", metavar="USER", help="Who acts.")]


@contextlib.contextmanager
def _engine(ctx: typer.Context, db: str | None) -> Iterator[Engine]:
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    engine = open_engine(db or obj.get("db"))
    try:
        yield engine
    finally:
        engine.shutdown()


def _data(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--data is not JSON: {exc.msg} at column {exc.colno}", USAGE) from None


def _table(tasks: list[Task]) -> Table:
    table = Table(title="human tasks")
    for col in ("id", "name", "status", "assignee", "group", "due", "data"):
        table.add_column(col)
    for t in tasks:
        table.add_row(t.id, t.name, output.styled_status(t.status), t.assignee or "-",
                      t.group or "-", output.fmt_ts(t.due) if t.due else "-",
                      output.short_json(t.data, 40))
    return table


def _as_dict(t: Task) -> dict[str, Any]:
    return {"id": t.id, "workflow_id": t.workflow_id, "name": t.name, "status": t.status,
            "assignee": t.assignee, "group": t.group, "data": t.data, "due": t.due,
            "four_eyes": t.four_eyes, "approvals": list(t.approvals), "result": t.result}


@tasks_app.command("list")
def list_tasks(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="A person's inbox: theirs and their "
                                                  "groups'.")] = None,
    group: Annotated[str | None, typer.Option(help="Only this group's tasks.")] = None,
    status: Annotated[str | None, typer.Option(help="OPEN, CLAIMED, COMPLETED, ...")
                      ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")
                       ] = False,
    db: Db = None,
) -> None:
    """List human tasks, oldest first. Example: ``legato tasks list --user bob``"""
    with _engine(ctx, db) as engine:
        found = engine.tasks.list(group=group, status=status, user=user)
        if as_json:
            for t in found:
                print(json.dumps(_as_dict(t)))
        else:
            output.console().print(_table(found))


@tasks_app.command()
def claim(ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")],
          user: User, db: Db = None) -> None:
    """Reserve a task for yourself. Example: ``legato tasks claim ID --user bob``"""
    with _engine(ctx, db) as engine:
        t = engine.tasks.claim(task_id, user)
        print(f"task {t.id} {t.status} by {user}")


@tasks_app.command()
def complete(
    ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")], user: User,
    data: Annotated[str | None, typer.Option(metavar="JSON", help="Matches the form.")
                    ] = None,
    db: Db = None,
) -> None:
    """Complete (approve) a task. Example:
    ``legato tasks complete ID --user bob --data '{"approved": true}'``"""
    value = _data(data)
    with _engine(ctx, db) as engine:
        t = engine.tasks.complete(task_id, user, value)
        note = " (first of two approvals: a second approver is needed)" \
            if t.status == "OPEN" else ""
        print(f"task {t.id} {t.status}{note}")


@tasks_app.command()
def reject(
    ctx: typer.Context, task_id: Annotated[str, typer.Argument(metavar="ID")], user: User,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None, db: Db = None,
) -> None:
    """Reject a task. Example: ``legato tasks reject ID --user bob --reason "no budget"``"""
    with _engine(ctx, db) as engine:
        t = engine.tasks.reject(task_id, user, reason)
        print(f"task {t.id} {t.status}")


@users_app.command("add")
def add_user(
    ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")],
    group: Annotated[list[str] | None, typer.Option("--group", help="Repeat for several.")
                     ] = None,
    db: Db = None,
) -> None:
    """Create a user (or add groups to one). Example: ``legato users add bob --group finance``"""
    with _engine(ctx, db) as engine:
        engine.users.add(name, groups=group or [])
        print(f"user {name}: groups {', '.join(engine.users.groups(name)) or '-'}")


@users_app.command("list")
def list_users(ctx: typer.Context, db: Db = None) -> None:
    """List users and their groups."""
    with _engine(ctx, db) as engine:
        for u in engine.users.list():
            print(f"{u['name']}: {', '.join(u['groups']) or '-'}")
