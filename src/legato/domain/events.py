"""Journal event types and the event record.

The journal is an append-only list of events per workflow; ``seq`` is an event's position
(1-based). It is both the replay source and the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

WORKFLOW_STARTED: Final = "WorkflowStarted"
STEP_COMPLETED: Final = "StepCompleted"
STEP_FAILED: Final = "StepFailed"
TIMER_STARTED: Final = "TimerStarted"
TIMER_FIRED: Final = "TimerFired"
PATCH_MARKER: Final = "PatchMarker"
CANCEL_REQUESTED: Final = "CancelRequested"
WORKFLOW_COMPLETED: Final = "WorkflowCompleted"
WORKFLOW_FAILED: Final = "WorkflowFailed"
WORKFLOW_CANCELLED: Final = "WorkflowCancelled"
WORKFLOW_TIMED_OUT: Final = "WorkflowTimedOut"
WORKFLOW_TERMINATED: Final = "WorkflowTerminated"
# handle.retry(): the type keeps the name it was first recorded under (Step Functions'
# "redrive"), which stored histories hold
WORKFLOW_RETRIED: Final = "WorkflowRedriven"
STEP_SCHEDULED: Final = "StepScheduled"
CHILD_STARTED: Final = "ChildWorkflowStarted"
CHILD_ENDED: Final = "ChildWorkflowEnded"
WAIT_STARTED: Final = "WaitStarted"
WAIT_COMPLETED: Final = "WaitCompleted"
WAIT_TIMED_OUT: Final = "WaitTimedOut"
STATE_UPDATED: Final = "StateUpdated"
TASK_CREATED: Final = "HumanTaskCreated"
TASK_ESCALATED: Final = "HumanTaskEscalated"
BRANCHES_STARTED: Final = "BranchesStarted"
BRANCH_FAILED: Final = "BranchFailed"
#: the key of ``data`` naming the ``ctx.branches`` branch an event was recorded in (its
#: "lane"; ``branch`` is the index of a ``ctx.parallel`` step)
BRANCH: Final = "lane"

#: events that end a workflow
TERMINAL_EVENTS: Final = frozenset(
    {WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_CANCELLED, WORKFLOW_TIMED_OUT,
     WORKFLOW_TERMINATED}
)
#: events that belong to a step's position in the journal
STEP_EVENTS: Final = frozenset({STEP_COMPLETED, STEP_FAILED})


@dataclass(slots=True)
class Event:
    """One journal entry.

    ``name`` is the step/timer/marker name where one applies; ``pos`` the journal position of
    the command the event belongs to (a step's retries share the position of its first event,
    which is also its idempotency key); ``data`` a JSON-able dict.
    """

    seq: int
    type: str
    at: float
    name: str | None = None
    pos: int | None = None
    attempt: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: ``data`` already encoded as JSON, when the runtime had to encode it anyway
    raw: str | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"seq": self.seq, "type": self.type, "at": self.at}
        if self.name is not None:
            d["name"] = self.name
        if self.pos is not None:
            d["pos"] = self.pos
        if self.attempt is not None:
            d["attempt"] = self.attempt
        d.update(self.data)
        return d
