"""Order fulfilment: the main job of `make run`.

A five-step order workflow on an embedded SQLite file. The payment provider fails once
(a transient error, retried with backoff), the workflow waits durably for the warehouse
pick-up window, and at the end the journal is printed as a timeline.

Run it:  make run      (or: .venv/bin/python examples/order_fulfilment.py)
Kill it at any point and run it again: the workflow resumes from its last completed step.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import legato

DB_URL = os.environ.get("LEGATO_DATABASE_URL", "sqlite:///legato-demo.db")
_failures: dict[str, int] = {}


@dataclass
class Order:
    order_id: str
    sku: str
    quantity: int
    amount_cents: int


@legato.step
def reserve_stock(order: Order) -> dict[str, object]:
    return {"sku": order.sku, "reserved": order.quantity, "reservation": legato.step_key()}


@legato.step(retry=legato.RetryPolicy(max_attempts=5, initial_interval=0.2, backoff=2.0,
                                      max_interval=5.0, non_retryable=(ValueError,)),
             timeout=10.0)
def charge_payment(order: Order) -> dict[str, object]:
    # The idempotency key is the same on every attempt: a real payment API would
    # deduplicate the charge with it.
    key = legato.step_key()
    _failures[key] = _failures.get(key, 0) + 1
    if _failures[key] == 1:
        raise ConnectionError("payment provider timed out (simulated, will be retried)")
    if order.amount_cents <= 0:
        raise ValueError("amount must be positive")  # not retried: a bug, not a blip
    return {"charged_cents": order.amount_cents, "idempotency_key": key}


@legato.step
def ship(order: Order) -> dict[str, str]:
    return {"carrier": "ACME", "tracking": f"TRK-{order.order_id}"}


@legato.step
def send_confirmation(order: Order, tracking: str) -> str:
    return f"order {order.order_id} shipped ({tracking})"


@legato.workflow(name="fulfil_order")
def fulfil_order(ctx: legato.WorkflowContext, order: Order) -> dict[str, object]:
    stock = reserve_stock(order)
    payment = charge_payment(order)
    ctx.logger.info("paid; waiting for the warehouse pick-up window")
    ctx.sleep(1.5)  # durable: a crash here resumes the wait, it does not restart it
    shipment = ship(order)
    message = send_confirmation(order, shipment["tracking"])
    return {"stock": stock, "payment": payment, "shipment": shipment, "message": message}


def print_timeline(handle: legato.WorkflowHandle) -> None:
    events = handle.history()
    t0 = events[0]["at"]
    print(f"\ntimeline of {handle.workflow_id} ({handle.status}):")
    for e in events:
        what = e.get("name", "")
        if e["type"] == "StepFailed":
            what += f"  attempt {e['attempt']} failed: {e['error']['message']}"
        elif e["type"] == "StepCompleted" and e.get("attempt", 1) > 1:
            what += f"  (succeeded on attempt {e['attempt']})"
        elif e["type"] == "TimerStarted":
            what += f"  for {e['duration']:g}s"
        print(f"  {e['seq']:>3}  +{e['at'] - t0:7.3f}s  {e['type']:<18} {what}")


def main() -> int:
    order = Order(order_id=f"o-{int(time.time())}", sku="sku-42", quantity=2,
                  amount_cents=4999)
    with legato.Engine(DB_URL) as engine:
        handle = engine.start(fulfil_order, order, workflow_id=f"order-{order.order_id}")
        print(f"started {handle.workflow_id} on {DB_URL}")
        result = handle.result(timeout=30)
        print(f"result: {result['message']}")
        print_timeline(handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
