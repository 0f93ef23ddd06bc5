"""The records the runtime, the stores and the worker exchange: a run's row, a new run, a
claim, a batch of writes, a wait's conditions and deliveries, schedules and workers. Plain
values, no I/O (the layer every other one builds on)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from legato.domain.events import Event


@dataclass(slots=True)
class WorkflowRow:
    id: str
    name: str
    status: str
    input: str  # JSON array of positional arguments
    created_at: float
    updated_at: float
    detail: str | None = None
    result: str | None = None  # JSON
    error: dict[str, Any] | None = None
    completed_at: float | None = None
    owner: str | None = None
    epoch: int = 0
    wake_at: float | None = None
    deadline: float | None = None
    cancel_requested: bool = False
    queue: str | None = None
    priority: int = 0
    business_key: str | None = None  # the caller's key (several runs may share one)

    def args(self) -> list[Any]:
        value = json.loads(self.input)
        return value if isinstance(value, list) else [value]


@dataclass(slots=True)
class NewWorkflow:
    id: str
    name: str
    input: str
    now: float
    deadline: float | None = None
    queue: str | None = None
    priority: int = 0
    owner: str | None = None  # claim at once for this worker (in-process start)
    parent_id: str | None = None  # a child workflow: its parent is woken when it ends
    queue_key: str | None = None  # per-key flow control within the queue
    business_key: str | None = None  # the caller's key (engine.start(key=...))


#: a delivery as the stores read it: kind, name, key, data, source, time of delivery, and who
#: sent it (JSON of a legato.Actor, for a signal sent with ``actor=``; else None)
Delivered = tuple[str, str, str, str | None, str | None, float, str | None]


@dataclass(slots=True)
class Claimed:
    row: WorkflowRow
    journal: list[Event]
    #: deliveries waiting for the run (wait position -> kind, name, key, data, source, time
    #: of delivery), read with the claim so a woken run needs no round trip to take them
    inbox: dict[int, Delivered] = field(default_factory=dict)


@dataclass(slots=True)
class Write:
    """Events to append for one workflow, fenced by ``epoch``, and optionally its new state."""

    workflow_id: str
    epoch: int
    events: list[Event]
    status: str | None = None
    result: str | None = None
    error: dict[str, Any] | None = None
    detail: str | None = None
    wake_at: float | None = None
    release: bool = False  # give up ownership (suspended or finished)
    await_child: str | None = None  # WAITING for this child: wake at once if it has ended
    await_pos: int | None = None  # WAITING for a delivery: wake at once if it has arrived
    await_children: tuple[str, ...] = ()  # ... or any of these (concurrent branches)
    await_positions: tuple[int, ...] = ()


class CreateConflict(Exception):
    """``create_many``: the run at ``index`` exists already with another name or input."""

    def __init__(self, index: int, existing: WorkflowRow) -> None:
        super().__init__(f"workflow {existing.id!r} exists already")
        self.index = index
        self.existing = existing


@dataclass(slots=True)
class CommitResult:
    fenced: set[str] = field(default_factory=set)  # lost their lease: nothing was written
    cancel_requested: set[str] = field(default_factory=set)
    created: dict[str, tuple[WorkflowRow, bool]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Condition:
    """One thing a wait can be satisfied by: an event (type, business key) or a signal."""

    kind: str  # "event" | "signal" | "task"
    name: str
    key: str = ""


@dataclass(slots=True)
class Delivery:
    """What satisfied a wait: the index of the condition, the data (JSON), its source, and
    when it was delivered (stored with it: a replay that takes it again sees the same time)."""

    index: int
    data: str | None
    source: str | None
    at: float
    actor: str | None = None  # JSON: who sent it (a signal sent with actor=...)


@dataclass(slots=True)
class PublishResult:
    event_id: str
    delivered_to: list[str]  # workflows that were waiting and got it
    buffered: bool  # nobody waited: kept for the first matching wait (until its TTL)
    duplicate: bool = False  # an event with this id was published before: nothing done


@dataclass(slots=True)
class ScheduleRow:
    name: str
    workflow: str
    cron: str
    timezone: str
    catch_up: str
    args: list[Any]
    paused: bool
    next_tick: float
    last_tick: float | None = None


@dataclass(slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    started_at: float
    lease_until: float
