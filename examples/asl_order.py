"""An AWS Step Functions definition run by legato: in memory, then durably.

    python examples/asl_order.py

The machine (``asl_order.asl.json``) validates an order, charges it (retrying a flaky
gateway), waits an hour, then packs every item in a Map state. ``asl.execute`` runs it in
memory on a virtual clock (the hour passes at once); ``asl.register`` makes it a durable
workflow that survives restarts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import legato
from legato import asl
from legato.testing import VirtualClock, run_to_completion

HERE = Path(__file__).parent
_attempts: dict[str, int] = {}


def charge(event: dict[str, Any]) -> dict[str, Any]:
    """A payment gateway that fails the first time it sees an order."""
    _attempts[event["order"]] = _attempts.get(event["order"], 0) + 1
    if _attempts[event["order"]] == 1:
        raise ConnectionError("gateway timeout")
    if event["amount"] > 1000:
        raise asl.TaskFailed("Payment.Declined", f"{event['amount']} is over the limit")
    return {"charged": event["amount"]}


def pack(event: dict[str, Any]) -> str:
    return f"parcel-{event['order']}-{event['sku']}"


HANDLERS = {"charge": charge, "pack": pack}


def main() -> None:
    machine = asl.load(HERE / "asl_order.asl.json")

    result = asl.execute(machine, {"id": "o-1", "total": 40, "items": ["book", "pen"]},
                         handlers=HANDLERS)
    print("in memory:", result.status, result.output)
    print("  trace:", " ".join(result.trace()[:8]), "...")

    declined = asl.execute(machine, {"id": "o-2", "total": 5000, "items": ["car"]},
                           handlers=HANDLERS)
    print("declined:", declined.status, declined.error, "-", declined.cause)

    asl.register("asl_order", machine, handlers=HANDLERS)
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp, \
            legato.Engine(f"sqlite:///{tmp}/orders.db", clock=clock) as engine:
        handle = engine.start("asl_order", {"id": "o-3", "total": 12, "items": ["mug"]})
        print("durable:", run_to_completion(handle, clock), handle.status)


if __name__ == "__main__":
    main()
