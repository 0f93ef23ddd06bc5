"""The protocol between a workflow body and whatever drives it: one closed union.

A body (the task's greenlet, or one of its branches) runs until it needs something only its
driver can do, then parks with a **request** and is resumed with that request's **reply**.
Two drivers exist — the worker's hub (`legato.worker.hub`) and the replay driver
(`legato.testing.replay`) — and both dispatch on :data:`Request` with ``match`` and
``assert_never``, so a new kind of request cannot be forgotten by either. A body that ends
returns a :class:`Final` instead.

======================  =========================================================
request                 reply (what the parked fiber is resumed with)
======================  =========================================================
:class:`RunStep`        a :class:`~legato.runtime.attempt.StepOutcome`
:data:`COMMIT`          ``None``, once what the run recorded is durable
:class:`WaitUntil`      ``None`` when the engine clock reaches ``when`` (or an
                        interruption thrown in: cancel, deadline, lease lost)
:class:`StartChild`     ``None`` once the child exists (created in the commit)
:class:`Take`           a :class:`~legato.domain.records.Delivery`, or ``None``
:class:`TaskOp`         the human task (:class:`legato.domain.tasks.Task`) created or
                        escalated
:class:`AwaitChild`     the child's :class:`~legato.domain.records.WorkflowRow` if it
                        has ended, else ``None``
:class:`StartBranches`  ``None`` once every branch of the group has ended
======================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from legato.domain.events import Event
from legato.domain.records import Condition, NewWorkflow
from legato.runtime.attempt import RunStep

if TYPE_CHECKING:
    from legato.domain.tasks import Task as HumanTask


@dataclass(slots=True)
class WaitUntil:
    """Wait in memory until the engine clock reaches ``when``."""

    when: float


class Commit:
    """Make what the run recorded durable before it goes on (one instance: :data:`COMMIT`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "COMMIT"


COMMIT = Commit()


@dataclass(slots=True)
class Final:
    """What a finished (or suspended) run asks the hub to write."""

    status: str | None  # None: lease lost, write nothing
    result: str | None = None  # JSON
    error: dict[str, Any] | None = None
    detail: str | None = None
    wake_at: float | None = None
    await_children: tuple[str, ...] = ()  # WAITING for one of these children to end
    await_positions: tuple[int, ...] = ()  # ... or a delivery to a wait at one of these


@dataclass(slots=True)
class StartChild:
    """Create a child workflow in the same commit as the parent's ChildWorkflowStarted."""

    new: NewWorkflow
    started: Event


@dataclass(slots=True)
class Take:
    """Ask the store for what satisfies the wait at ``pos`` (see ``Store.take``)."""

    pos: int
    conditions: list[Condition]
    register: bool


@dataclass(slots=True)
class TaskOp:
    """Create a human task (``task`` given), or act on one past its due time: escalate it
    (due next at ``escalation_due``; expired if it has nobody to escalate to; a task
    escalated already is left as it is), or ``expire`` it (an escalated task past its
    escalation's due). The hub answers with the task as stored."""

    task_id: str
    task: HumanTask | None = None  # the task to create
    escalation_due: float | None = None
    expire: bool = False


@dataclass(slots=True)
class AwaitChild:
    """Read the child's row: the hub answers with it if the child has ended, else None."""

    child_id: str


@dataclass(slots=True)
class StartBranches:
    """The main fiber waits while the hub runs a group of parallel branches."""

    group: Any  # legato.runtime.parallel.BranchGroup or legato.runtime.branches.Branches


#: every request a workflow body can park with (closed: drivers match it exhaustively)
Request = RunStep | Commit | WaitUntil | StartChild | Take | TaskOp | AwaitChild | StartBranches

__all__ = ["COMMIT", "AwaitChild", "Commit", "Final", "Request", "RunStep", "StartBranches",
           "StartChild", "Take", "TaskOp", "WaitUntil"]
