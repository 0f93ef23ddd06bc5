"""Expense claims, operated over HTTP: serve this module with ``legato server``.

A claim waits for its receipt (an event correlated by the claim's id), then for a manager's
decision in the inbox (a form; claims over 1,000 need two managers), then pays.

Serve it:   .venv/bin/legato server examples/expense_claims.py --db sqlite:///claims.db
Then see docs/api.md for every call, e.g.:
            curl -s -X POST localhost:8080/api/v1/workflows \\
                 -d '{"name": "expense_claim", "input": [{"id": "claim-7", "amount": 120}],
                      "workflow_id": "claim-7", "key": "claim-7"}'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import legato

DECISION = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "note": {"type": "string"}},
    "required": ["approved"],
}


@legato.step
def check_claim(claim: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(claim.get("amount"), int | float) or claim["amount"] <= 0:
        raise ValueError(f"claim {claim.get('id')!r}: the amount must be a positive number")
    return {"id": claim["id"], "amount": claim["amount"]}


@legato.step
def pay(claim_id: str, amount: float) -> str:
    return f"paid {amount} for {claim_id} (idempotency key {legato.step_key()})"


@legato.workflow(name="expense_claim")
def expense_claim(ctx: legato.WorkflowContext, claim: dict[str, Any]) -> dict[str, Any]:
    """An expense claim: receipt, a manager's decision, payment."""
    c = check_claim(claim)
    ctx.set_state("stage", "waiting for the receipt")
    receipt = ctx.wait_event("receipt.uploaded", key=c["id"], timeout=timedelta(days=14))
    ctx.set_state("stage", "waiting for a manager")
    decision = ctx.human_task("approve_claim", group="managers", form=DECISION,
                              data={"claim": c["id"], "amount": c["amount"],
                                    "receipt": receipt},
                              four_eyes=c["amount"] > 1000, due=timedelta(days=3),
                              escalate_to="finance")
    if decision["outcome"] != "completed" or not decision["data"]["approved"]:
        ctx.set_state("stage", "declined")
        return {"claim": c["id"], "paid": False, "by": decision["by"]}
    ctx.set_state("stage", "paying")
    return {"claim": c["id"], "paid": True, "payment": pay(c["id"], c["amount"]),
            "by": decision["by"]}
