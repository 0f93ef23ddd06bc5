"""The approval pattern of AWS Step Functions (``.waitForTaskToken``), run by legato.

    python examples/asl_approval.py

An expense over 100 needs a manager's approval. The ``RequestApproval`` Task sends the
manager a message carrying the task token, then the execution waits — durably, holding no
thread, across restarts — until someone answers with ``engine.send_task_success`` (approved)
or ``engine.send_task_failure`` (rejected), or a day passes (``States.Timeout``).

In memory (``asl.execute``), ``callbacks=`` stands in for the manager.
"""

from __future__ import annotations

import tempfile
from typing import Any

import legato
from legato import asl
from legato.testing import VirtualClock, run_to_completion

MACHINE = {
    "Comment": "Expense approval",
    "StartAt": "NeedsApproval",
    "States": {
        "NeedsApproval": {"Type": "Choice", "Default": "Pay", "Choices": [
            {"Variable": "$.amount", "NumericGreaterThan": 100, "Next": "RequestApproval"}]},
        "RequestApproval": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "notify_manager",
                           "Payload": {"token.$": "$$.Task.Token", "expense.$": "$"}},
            "TimeoutSeconds": 86400,
            "ResultPath": "$.approval",
            "Catch": [{"ErrorEquals": ["Expense.Rejected", "States.Timeout"],
                       "ResultPath": "$.rejection", "Next": "Rejected"}],
            "Next": "Pay"},
        "Pay": {"Type": "Task", "Resource": "pay", "ResultPath": "$.payment", "End": True},
        "Rejected": {"Type": "Pass", "Parameters": {"id.$": "$.id", "paid": False,
                                                    "why.$": "$.rejection.Error"},
                     "End": True},
    },
}

#: the managers' inbox, by expense id: what notify_manager "sent" (a real one would email a
#: link to an approval page holding the token)
INBOX: dict[str, str] = {}


def notify_manager(event: dict[str, Any]) -> str:
    INBOX[event["expense"]["id"]] = event["token"]
    return "notified"


def pay(expense: dict[str, Any]) -> str:
    return f"paid {expense['amount']} to {expense['employee']}"


HANDLERS = {"notify_manager": notify_manager, "pay": pay}


def in_memory() -> None:
    def manager(token: str, request: dict[str, Any]) -> dict[str, Any]:
        if request["expense"]["amount"] > 1000:
            raise asl.TaskFailed("Expense.Rejected", "over the limit")
        return {"approved_by": "maria"}

    for amount in (40, 400, 4000):
        result = asl.execute(MACHINE, {"id": f"e-{amount}", "employee": "sam",
                                       "amount": amount},
                             handlers=HANDLERS, callbacks=manager)
        print(f"in memory, {amount}:", result.status, result.output)
    INBOX.clear()


def answer(engine: legato.Engine, expense_id: str, approve: bool) -> None:
    """What the approval page does when the manager clicks."""
    token = INBOX.pop(expense_id)
    if approve:
        engine.send_task_success(token, {"approved_by": "maria"})
    else:
        engine.send_task_failure(token, "Expense.Rejected", "not in the budget")


def durable() -> None:
    asl.register("expense", MACHINE, handlers=HANDLERS)
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/expenses.db"
        with legato.Engine(url, clock=clock) as engine:
            approved = engine.start("expense", {"id": "e-1", "employee": "sam",
                                                "amount": 400})
            rejected = engine.start("expense", {"id": "e-2", "employee": "kim",
                                                "amount": 900})
            forgotten = engine.start("expense", {"id": "e-3", "employee": "lee",
                                                 "amount": 300})
            for handle in (approved, rejected, forgotten):
                handle.wait_status("WAITING")
        # the engine stopped; the executions wait in the store. A new engine answers:
        with legato.Engine(url, clock=clock) as engine:
            answer(engine, "e-1", approve=True)
            answer(engine, "e-2", approve=False)
            print("durable, approved:", engine.handle(approved.workflow_id).result(timeout=10))
            print("durable, rejected:", engine.handle(rejected.workflow_id).result(timeout=10))
            # nobody answers e-3: a day later (on the virtual clock) the Task times out
            print("durable, no answer:",
                  run_to_completion(engine.handle(forgotten.workflow_id), clock))
            try:
                engine.send_task_success(INBOX["e-3"], {"approved_by": "late"})
            except asl.TaskTokenError as exc:
                print("a late answer is refused:", exc.code)


def main() -> None:
    in_memory()
    durable()


if __name__ == "__main__":
    main()
