"""Step Functions machines that start other machines: ``.sync:2`` with a time limit, and a
child that answers its parent's task token. In memory, then durably.

    python examples/asl_nested.py

``Fulfil`` starts ``Ship`` and waits for it (``startExecution.sync:2``), at most an hour
(``TimeoutSeconds``: a slower shipment is stopped and caught as ``States.Timeout``); then it
starts ``Review`` with its task token (``startExecution.waitForTaskToken``) and waits until
the review answers it. In memory the answer comes from ``callbacks=``; durably, from the
child's own Task handler calling ``engine.send_task_success``.
"""

from __future__ import annotations

import tempfile
from typing import Any

import legato
from legato import asl
from legato.testing import VirtualClock, run_to_completion

ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:"
START = "arn:aws:states:::states:startExecution"

FULFIL = {"StartAt": "Ship", "States": {
    "Ship": {"Type": "Task", "Resource": START + ".sync:2", "TimeoutSeconds": 3600,
             "Parameters": {"StateMachineArn": ARN + "Ship",
                            "Input": {"order.$": "$.order", "seconds.$": "$.seconds"}},
             "ResultSelector": {"tracking.$": "$.Output.tracking"}, "ResultPath": "$.ship",
             "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.late",
                        "Next": "Late"}],
             "Next": "Review"},
    "Review": {"Type": "Task", "Resource": START + ".waitForTaskToken",
               "Parameters": {"StateMachineArn": ARN + "Review",
                              "Input": {"order.$": "$.order", "token.$": "$$.Task.Token"}},
               "ResultPath": "$.review", "End": True},
    "Late": {"Type": "Pass", "Result": "shipment stopped after an hour",
             "ResultPath": "$.late", "End": True}}}

SHIP = {"StartAt": "Drive", "States": {  # the shipment takes `seconds` of (virtual) time
    "Drive": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "Label"},
    "Label": {"Type": "Pass", "Parameters": {"tracking.$": "States.Format('T-{}', $.order)"},
              "End": True}}}

REVIEW = {"StartAt": "Check", "States": {
    "Check": {"Type": "Task", "Resource": "check", "End": True}}}


def main() -> None:
    answer = {"reviewed": True, "by": "ada"}
    machines: dict[str, Any] = {"Ship": SHIP, "Review": REVIEW}
    handlers = {"check": lambda event: "checked"}
    fast = asl.execute(FULFIL, {"order": 7, "seconds": 1200}, handlers=handlers,
                       machines=machines, callbacks=lambda token, event: answer)
    print("in memory:", fast.status, fast.output)
    slow = asl.execute(FULFIL, {"order": 8, "seconds": 5400}, handlers=handlers,
                       machines=machines, callbacks=lambda token, event: answer)
    print("too slow: ", slow.status, slow.output["late"], "| child:", slow.children[0].status)

    engines: list[legato.Engine] = []

    def check(event: dict[str, Any]) -> str:  # the Review machine answers its parent
        engines[0].send_task_success(event["token"], {**answer, "order": event["order"]})
        return "answered"

    asl.register("Ship", SHIP)
    asl.register("Review", REVIEW, handlers={"check": check})
    asl.register("Fulfil", FULFIL)
    clock = VirtualClock()
    with tempfile.TemporaryDirectory() as tmp, \
            legato.Engine(f"sqlite:///{tmp}/nested.db", clock=clock) as engine:
        engines.append(engine)
        handle = engine.start("Fulfil", {"order": 9, "seconds": 1200})
        print("durable:  ", run_to_completion(handle, clock))


if __name__ == "__main__":
    main()
