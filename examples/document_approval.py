"""Document approval: a skeleton of a review process with durable waits.

A document is submitted, checked automatically, and reviewers are reminded once a day until
the review window closes. Human approval tasks with an inbox (assignees, groups, forms,
escalation, four-eyes) are the next capability; this skeleton shows the durable shape the
process has today: steps, a policy decision, and multi-day timers that hold no thread.

Run it:  .venv/bin/python examples/document_approval.py
(It uses a virtual clock, so three days of reminders pass in well under a second.)
"""

from __future__ import annotations

import sys
from datetime import timedelta

import legato
from legato.testing import VirtualClock, run_to_completion


@legato.step
def store_document(doc_id: str, title: str) -> dict[str, str]:
    return {"doc_id": doc_id, "title": title, "version": "1"}


@legato.step
def automatic_checks(doc: dict[str, str]) -> list[str]:
    problems = []
    if len(doc["title"]) < 5:
        problems.append("title too short")
    return problems


@legato.step
def remind_reviewers(doc_id: str, day: int) -> str:
    return f"reminder {day} sent for {doc_id}"


@legato.step
def publish(doc_id: str) -> str:
    return f"{doc_id} published"


@legato.workflow(name="document_approval")
def document_approval(ctx: legato.WorkflowContext, doc_id: str, title: str,
                      review_days: int = 3) -> dict[str, object]:
    doc = store_document(doc_id, title)
    problems = automatic_checks(doc)
    if problems:
        return {"doc_id": doc_id, "outcome": "rejected", "problems": problems}
    reminders = []
    for day in range(1, review_days + 1):
        ctx.sleep(timedelta(days=1))  # durable: survives restarts and deploys
        reminders.append(remind_reviewers(doc_id, day))
    return {"doc_id": doc_id, "outcome": publish(doc_id), "reminders": reminders}


def main() -> int:
    clock = VirtualClock()
    with legato.Engine("sqlite:///legato-approval-demo.db", clock=clock) as engine:
        handle = engine.start(document_approval, f"doc-{int(clock.now())}", "Quarterly report")
        # jump the virtual clock to each timer as the workflow reaches it
        print(run_to_completion(handle, clock, timeout=10))
    return 0


if __name__ == "__main__":
    sys.exit(main())
