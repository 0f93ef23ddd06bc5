"""Nightly batch: re-price every open subscription with one workflow per customer, started in
one transaction with ``engine.start_many``. Ids derived from the date make the batch
idempotent: run it twice the same night and the second run finds the first one's runs.

Run it:  .venv/bin/python examples/nightly_batch.py
"""

from __future__ import annotations

import sys
import tempfile
import time

import legato


@legato.step
def current_price(customer: str) -> int:
    return 1000 + 7 * len(customer)  # a call to the pricing service in real life


@legato.step
def notify(customer: str, cents: int) -> str:
    return f"{customer}: {cents / 100:.2f}"


@legato.workflow(name="reprice_subscription")
def reprice(ctx: legato.WorkflowContext, customer: str) -> str:
    return notify(customer, current_price(customer))


def run_batch(engine: legato.Engine, night: str, customers: list[str]) -> list[str]:
    ids = [f"reprice-{night}-{c}" for c in customers]
    t0 = time.perf_counter()
    handles = engine.start_many(reprice, [(c,) for c in customers], workflow_ids=ids)
    started = time.perf_counter() - t0
    results = [h.result(timeout=60) for h in handles]
    print(f"{len(handles)} runs started in {started * 1000:.1f} ms (one transaction),"
          f" all done in {time.perf_counter() - t0:.2f} s")
    return results


def main() -> int:
    customers = [f"customer-{i:04d}" for i in range(2000)]
    with tempfile.TemporaryDirectory() as tmp, \
            legato.Engine(f"sqlite:///{tmp}/billing.db") as engine:
        results = run_batch(engine, "2026-11-30", customers)
        print("first:", results[0], "| last:", results[-1])
        again = run_batch(engine, "2026-11-30", customers)  # the same night once more
        assert again == results  # the existing runs, not new ones
        print("runs recorded:", len(engine.list(name="reprice_subscription", limit=10_000)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
