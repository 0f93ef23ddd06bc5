"""A web application in front of legato: it starts and inspects runs; workers run them.

The application's engine is never launched (no ``with engine:``, no ``launch()``), so it
runs no workflow: it records starts and reads runs. Separate ``legato worker`` processes run
them. Both import the workflows from one module, here ``examples/order_fulfilment.py``.

    pip install fastapi uvicorn                      # not dependencies of legato
    export LEGATO_DATABASE_URL=sqlite:///orders.db    # or postgresql://... for many hosts
    legato db migrate                                 # once per deploy, before the rest
    legato worker examples/order_fulfilment.py        # one or more worker processes
    uvicorn fastapi_app:app --app-dir examples        # the web application

    curl -X POST 'localhost:8000/orders?wait=10' -H 'content-type: application/json' \\
         -d '{"order_id": "o-1", "sku": "sku-42", "quantity": 2, "amount_cents": 4999}'
    curl localhost:8000/orders/o-1

See docs/deploy.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from order_fulfilment import Order, fulfil_order

import legato


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # LEGATO_DATABASE_URL names the database. migrate=False: this process creates and
    # changes nothing (legato db migrate did, at deploy) and raises legato.SchemaError at
    # start-up if the tables are missing or behind this release of legato.
    engine = legato.Engine(migrate=False)
    app.state.engine = engine
    try:
        yield
    finally:
        engine.shutdown()  # closes its database connections


app = FastAPI(lifespan=lifespan)


def _engine(request: Request) -> legato.Engine:
    engine: legato.Engine = request.app.state.engine
    return engine


@app.post("/orders", status_code=202)
async def place_order(order: Order, request: Request, wait: float = 0.0) -> dict[str, Any]:
    """Start the order's workflow; with ``?wait=SECONDS``, wait that long for its result."""
    # An async route must not block the event loop: start_async and result_async run the
    # database work in a thread. The id derives from the order, so a request sent twice
    # (a client's retry) returns the run the first one started instead of a second run.
    try:
        handle = await _engine(request).start_async(
            fulfil_order, order, workflow_id=f"order-{order.order_id}")
    except legato.WorkflowConflict as exc:  # that order id was started with other data
        raise HTTPException(409, str(exc)) from None
    answer: dict[str, Any] = {"workflow_id": handle.workflow_id}
    if wait > 0:
        try:
            answer["result"] = await handle.result_async(timeout=min(wait, 30.0))
        except TimeoutError:
            answer["result"] = None  # still running: GET /orders/{id} tells how it goes
        except legato.WorkflowFailed as exc:  # FAILED, CANCELLED or TIMED_OUT
            error = exc.error or {}
            answer["status"] = exc.status
            answer["error"] = {"type": error.get("type"), "message": error.get("message")}
    return answer


@app.get("/orders/{order_id}")
def order_status(order_id: str, request: Request) -> dict[str, Any]:
    """The run's status, input, result or error and timestamps."""
    # A plain def: FastAPI runs it in its thread pool, where blocking reads are fine.
    try:
        return _engine(request).handle(f"order-{order_id}").describe()
    except legato.WorkflowNotFound:
        raise HTTPException(404, f"no order {order_id!r}") from None
