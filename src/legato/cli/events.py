"""``legato publish | events list | signal | query | circuits``: events, signals, state and
breakers."""

from __future__ import annotations

from typing import Annotated

import typer

from legato.cli import output
from legato.cli.common import (
    ActorOption,
    App,
    DbOption,
    JsonListOption,
    JsonOption,
    actor,
    engine_for,
    json_arg,
)

events_app = App(help="Buffered events: list what no wait has consumed yet.",
                 no_args_is_help=True)


def publish(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", show_default=False,
                                              help="The event's type.")],
    key: Annotated[str | None, typer.Option(
        metavar="KEY", help="The business key it correlates on.")] = None,
    data: Annotated[str | None, typer.Option(metavar="JSON", help="The event's data.")
                    ] = None,
    event_id: Annotated[str | None, typer.Option(
        "--id", metavar="ID", help="Idempotency id: a second publish with it does nothing.")
    ] = None,
    as_actor: ActorOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Publish an event: delivered to every workflow waiting on (TYPE, key), else buffered.

    Example:

        legato publish payment.settled --key o-1 --data '{"amount": 4999}'
    """
    value = json_arg(data, "--data")
    with engine_for(ctx, db) as engine:
        r = engine.publish(event_type, key=key, data=value, event_id=event_id,
                           actor=actor(as_actor))
    if as_json:
        output.print_json({"event_id": r.event_id, "delivered_to": list(r.delivered_to),
                           "buffered": r.buffered, "duplicate": r.duplicate})
    elif r.duplicate:
        output.echo(f"event {r.event_id} was published before; nothing done")
    elif r.delivered_to:
        output.echo(f"event {r.event_id} delivered to {len(r.delivered_to)} workflow(s): "
                    + ", ".join(r.delivered_to))
    else:
        output.echo(f"event {r.event_id} buffered for the first matching wait")


@events_app.command("list")
def list_events(
    ctx: typer.Context,
    event_type: Annotated[str | None, typer.Option(
        "--type", metavar="TYPE", help="Only events of this type.")] = None,
    key: Annotated[str | None, typer.Option(
        metavar="KEY", help="Only events with this business key.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="At most N events.")] = 100,
    as_json: JsonListOption = False,
    db: DbOption = None,
) -> None:
    """Events published that no wait has consumed yet, oldest first (expired ones are not
    shown: no wait can take them).

    Example:

        legato events list --type payment.settled --key o-7
    """
    with engine_for(ctx, db, read_only=True) as engine:
        found = engine.buffered_events(type=event_type, key=key, limit=limit)
    if as_json:
        output.print_json(found)
        return
    if not found:
        output.say_none("buffered events")
        return
    table = output.table("event id", "type", "key", "published", "expires", "data",
                         title="buffered events")
    for e in found:
        output.add_row(table, e["event_id"], e["type"], e["key"] or "-",
                       output.fmt_ts(e["published_at"]), output.fmt_ts(e["expires_at"]),
                       output.short_json(e["data"], 40))
    output.console().print(table)


def signal(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="ID", show_default=False,
                                               help="The workflow id.")],
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False,
                                        help="The signal's name.")],
    data: Annotated[str | None, typer.Option(metavar="JSON", help="The signal's data.")
                    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    as_actor: ActorOption = None,
) -> None:
    """Send a signal to one workflow (queued in order until it waits for it; who sent it is
    recorded in its history).

    Example:

        legato signal order-o-1 approve --data '{"by": "alice"}'
    """
    value = json_arg(data, "--data")
    with engine_for(ctx, db) as engine:
        engine.signal(workflow_id, name, value, actor=actor(as_actor))
    output.report(as_json, {"workflow_id": workflow_id, "name": name, "data": value},
                  f"signal {name!r} sent to {workflow_id}")


def query(
    ctx: typer.Context,
    workflow_id: Annotated[str, typer.Argument(metavar="ID", show_default=False,
                                               help="The workflow id.")],
    key: Annotated[str, typer.Argument(metavar="KEY", show_default=False,
                                       help="The key given to ctx.set_state.")],
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: workflow_id, key and value.")] = False,
    db: DbOption = None,
) -> None:
    """Print (as JSON) the latest value a workflow set with ctx.set_state(KEY, ...).

    Example:

        legato query order-o-1 stage
    """
    with engine_for(ctx, db, read_only=True) as engine:
        value = engine.query(workflow_id, key)
    output.report(as_json, {"workflow_id": workflow_id, "key": key, "value": value},
                  output.to_json(value))


def circuits(
    ctx: typer.Context,
    history: Annotated[bool, typer.Option(
        "--history", help="Also list state changes (with --json: each breaker's "
                          "\"history\").")] = False,
    as_json: JsonListOption = False,
    db: DbOption = None,
) -> None:
    """Show every circuit breaker: state, failure count and next probe time.

    Example:

        legato circuits --history
    """
    with engine_for(ctx, db, read_only=True) as engine:
        rows = engine.circuits()
        changes = engine.circuit_transitions() if history and rows else []
    if as_json:
        if history:
            rows = [{**r, "history": [t for t in changes if t["name"] == r["name"]]}
                    for r in rows]
        output.print_json(rows)
        return
    if not rows:
        output.say_none("circuit breakers")
        return
    output.console().print(output.circuits_table(rows))
    for t in changes:
        output.echo(f"{output.fmt_ts(t['at'])}  {t['name']}: {t['source']} -> {t['target']} "
                    f"({t['reason']})")
