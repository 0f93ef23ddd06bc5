"""``legato tasks ...`` and ``legato users ...``: the human-task inbox from the shell."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

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
    json_arg,
)
from legato.domain.tasks import Task

tasks_app = App(help="Human tasks: list, claim, complete, reject, reassign, history.",
                no_args_is_help=True)
users_app = App(help="Users and their groups.", no_args_is_help=True)

User = Annotated[str, typer.Option("--user", metavar="USER", help="Who acts.")]
TaskId = Annotated[str, typer.Argument(metavar="ID", help="The task's id.")]


def _table(tasks: list[Task]) -> Table:
    table = output.table("id", "name", "status", "assignee", "group", "due", "data",
                         title="human tasks")
    for t in tasks:
        output.add_row(table, t.id, t.name, output.styled_status(t.status), t.assignee or "-",
                       t.group or "-", output.fmt_ts(t.due) if t.due else "-",
                       output.short_json(t.data, 40))
    return table


@tasks_app.command("list")
def list_tasks(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(
        metavar="USER", help="A person's inbox: theirs and their groups'.")] = None,
    group: Annotated[str | None, typer.Option(
        metavar="GROUP", help="Only this group's tasks.")] = None,
    workflow_id: Annotated[str | None, typer.Option(
        "--workflow-id", metavar="ID", help="Only the tasks of this workflow run.")] = None,
    status: Annotated[str | None, typer.Option(
        metavar="STATUS", show_default=False,
        help="OPEN, CLAIMED, COMPLETED, REJECTED, EXPIRED or CANCELLED; several "
             "comma-separated (OPEN,CLAIMED, the default: the open tasks), or all.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="At most N tasks.")] = 100,
    as_json: JsonListOption = False,
    db: DbOption = None,
) -> None:
    """List human tasks, oldest first: the open ones unless --status says otherwise.

    Example: `legato tasks list --user bob --status OPEN,CLAIMED`
    """
    with engine_for(ctx, db, read_only=True) as engine:
        found = engine.tasks.list(group=group, status=status, user=user,
                                  workflow_id=workflow_id, limit=limit)
    if as_json:
        output.print_json([t.as_dict() for t in found])
    elif not found:
        output.say_none("tasks")
    else:
        output.console().print(_table(found))


@tasks_app.command()
def claim(ctx: typer.Context, task_id: TaskId, user: User, as_json: JsonOption = False,
          db: DbOption = None) -> None:
    """Reserve a task for yourself. Example: `legato tasks claim ID --user bob`"""
    with engine_for(ctx, db) as engine:
        t = engine.tasks.claim(task_id, user)
    output.report(as_json, t.as_dict(), f"task {t.id} {t.status} by {user}")


@tasks_app.command()
def complete(
    ctx: typer.Context, task_id: TaskId, user: User,
    data: Annotated[str | None, typer.Option(metavar="JSON", help="Matches the form.")
                    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Complete (approve) a task. Example:
    `legato tasks complete ID --user bob --data '{"approved": true}'`"""
    value = json_arg(data, "--data")
    with engine_for(ctx, db) as engine:
        t = engine.tasks.complete(task_id, user, value)
    if as_json:
        output.print_json(t.as_dict())
    else:
        note = " (first of two approvals: a second approver is needed)" \
            if t.status == "OPEN" else ""
        output.echo(f"task {t.id} {t.status}{note}")


@tasks_app.command()
def reject(
    ctx: typer.Context, task_id: TaskId, user: User,
    reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Reject a task. Example: `legato tasks reject ID --user bob --reason "no budget"`"""
    with engine_for(ctx, db) as engine:
        t = engine.tasks.reject(task_id, user, reason)
    output.report(as_json, t.as_dict(), f"task {t.id} {t.status}")


@tasks_app.command()
def reassign(
    ctx: typer.Context, task_id: TaskId, user: User,
    to_user: Annotated[str | None, typer.Option(
        "--to-user", metavar="USER", help="Hand the task to this person.")] = None,
    to_group: Annotated[str | None, typer.Option(
        "--to-group", metavar="GROUP", help="Hand the task to this group.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Hand a task to someone else (it is OPEN again, unclaimed).

    Example: `legato tasks reassign ID --user bob --to-group finance-managers`
    """
    if (to_user is None) == (to_group is None):
        raise CliError("tasks reassign needs one of --to-user USER or --to-group GROUP",
                       USAGE)
    with engine_for(ctx, db) as engine:
        t = engine.tasks.reassign(task_id, user, to_user=to_user, to_group=to_group)
    whom = f"user {to_user}" if to_user is not None else f"group {to_group}"
    output.report(as_json, t.as_dict(), f"task {t.id} reassigned to {whom}")


@tasks_app.command()
def history(ctx: typer.Context, task_id: TaskId, as_json: JsonListOption = False,
            db: DbOption = None) -> None:
    """A task's audit, oldest first: who did what, when (UTC).

    Example: `legato tasks history ID`
    """
    with engine_for(ctx, db, read_only=True) as engine:
        trail = engine.tasks.history(task_id)
    if as_json:
        output.print_json(trail)
        return
    for h in trail:
        detail = {k: v for k, v in (h["detail"] or {}).items() if v is not None} \
            if isinstance(h["detail"], dict) else h["detail"]
        output.echo(f"{output.fmt_ts(h['at'])}  {output.safe(h['user'] or '-')}  "
                    f"{h['action']}" + (f"  {output.short_json(detail)}" if detail else ""))


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user's name.")],
    group: Annotated[list[str] | None, typer.Option(
        "--group", metavar="GROUP", help="A group the user is in; repeat for several.")
    ] = None,
    as_actor: ActorOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Create a user (or add groups to one). Example: `legato users add bob --group finance`"""
    with engine_for(ctx, db) as engine:
        engine.users.add(name, groups=group or [], actor=actor(as_actor))
        groups = list(engine.users.groups(name))
    output.report(as_json, {"name": name, "groups": groups},
                  f"user {name}: groups {', '.join(groups) or '-'}")


@users_app.command("list")
def list_users(ctx: typer.Context, as_json: JsonListOption = False, db: DbOption = None) -> None:
    """List users and their groups. Example: `legato users list`"""
    with engine_for(ctx, db, read_only=True) as engine:
        users = engine.users.list()
    if as_json:
        output.print_json(users)
    elif not users:
        output.say_none("users")
    else:
        for u in users:
            output.echo(f"{u['name']}: {', '.join(u['groups']) or '-'}")
