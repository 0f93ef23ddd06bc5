"""Payment webhook: the order workflow waits for a "payment.settled" event correlated by the
order id. The webhook may arrive before the workflow waits (it is buffered) or after (it is
delivered), and a duplicate delivery with the same event id is ignored.

Run it:  .venv/bin/python examples/payment_webhook.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta

import legato


@legato.step
def ship(order_id: str, paid: int) -> str:
    return f"shipped {order_id} (paid {paid})"


@legato.workflow(name="order_with_payment")
def order(ctx: legato.WorkflowContext, order_id: str) -> str:
    try:
        payment = ctx.wait_event("payment.settled", key=order_id, timeout=timedelta(days=3))
    except legato.WaitTimeout:
        return f"{order_id} cancelled: not paid within 3 days"
    return ship(order_id, payment["amount"])


def webhook(engine: legato.Engine, body: dict[str, object]) -> None:
    """What an HTTP handler would do with the provider's callback."""
    r = engine.publish("payment.settled", key=str(body["order_id"]), data=body,
                       event_id=str(body["id"]))
    state = "duplicate" if r.duplicate else (
        f"delivered to {r.delivered_to}" if r.delivered_to else "buffered")
    print(f"webhook {body['id']}: {state}")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, \
            legato.Engine(f"sqlite:///{tmp}/orders.db") as engine:
        early = {"id": "evt-1", "order_id": "o-1", "amount": 4999}
        webhook(engine, early)  # arrives before the workflow waits: buffered
        first = engine.start(order, "o-1")
        print(first.result(timeout=10))
        second = engine.start(order, "o-2")
        second.wait_status("WAITING")
        late = {"id": "evt-2", "order_id": "o-2", "amount": 1500}
        webhook(engine, late)  # the workflow waits already: delivered
        webhook(engine, late)  # the provider retries: ignored
        print(second.result(timeout=10))
    return 0


if __name__ == "__main__":
    sys.exit(main())
