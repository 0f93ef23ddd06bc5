"""Row <-> record helpers shared by the SQL backends, and the column lists their statements
read (filled into ``queries.sql`` as ``{workflow_columns}`` and the like)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from legato.domain import codec
from legato.domain import status as st
from legato.domain.events import STATE_UPDATED, Event
from legato.domain.tasks import Task
from legato.store.base import CommitResult, NewWorkflow, WorkflowRow, Write

WF_COLUMNS = (
    "id, name, status, detail, input, result, error, created_at, updated_at, completed_at, "
    "owner, epoch, wake_at, deadline, cancel_requested, queue, priority, business_key"
)
EVENT_COLUMNS = "seq, type, at, name, pos, attempt, data"


def row_to_workflow(r: Sequence[Any]) -> WorkflowRow:
    err = r[6]
    return WorkflowRow(
        id=r[0], name=r[1], status=r[2], detail=r[3], input=r[4], result=r[5],
        error=json.loads(err) if isinstance(err, str) else err,
        created_at=float(r[7]), updated_at=float(r[8]),
        completed_at=None if r[9] is None else float(r[9]),
        owner=r[10], epoch=int(r[11]),
        wake_at=None if r[12] is None else float(r[12]),
        deadline=None if r[13] is None else float(r[13]),
        cancel_requested=bool(r[14]), queue=r[15], priority=int(r[16]),
        business_key=r[17],
    )


def row_to_event(r: Sequence[Any]) -> Event:
    data = r[6]
    if isinstance(data, str):
        data = json.loads(data)
    return Event(int(r[0]), r[1], float(r[2]), r[3], r[4], r[5], data or {})


def event_params(workflow_id: str, e: Event) -> tuple[Any, ...]:
    return (workflow_id, e.seq, e.type, e.at, e.name, e.pos, e.attempt,
            e.raw if e.raw is not None else codec.dumps(e.data) if e.data else None)


def error_json(err: dict[str, Any] | None) -> str | None:
    return None if err is None else codec.dumps(err)


def new_row(new: NewWorkflow) -> WorkflowRow:
    """The row a fresh workflow gets: owned (RUNNING, epoch 1) when started in-process."""
    return WorkflowRow(id=new.id, name=new.name, status=st.RUNNING if new.owner else st.PENDING,
                       input=new.input, created_at=new.now, updated_at=new.now,
                       owner=new.owner, epoch=1 if new.owner else 0, wake_at=new.now,
                       deadline=new.deadline, queue=new.queue, priority=new.priority,
                       business_key=new.business_key)


def prefixed(alias: str) -> str:
    """:data:`WF_COLUMNS` qualified with a table alias (for joins and ``UPDATE ... FROM``)."""
    return ", ".join(f"{alias}.{c.strip()}" for c in WF_COLUMNS.split(","))


#: the columns of a human task row, in the order :func:`row_to_task` reads them
TASK_COLUMNS = ("id, workflow_id, name, status, assignee, group_name, data, form, due,"
                " escalate_to, four_eyes, approvals, claimed_by, result, escalated, created_at,"
                " updated_at, version")


def row_to_task(r: Sequence[Any]) -> Task:
    return Task(id=r[0], workflow_id=r[1], name=r[2], status=r[3], assignee=r[4], group=r[5],
                data=codec.loads(r[6]), form=codec.loads(r[7]), due=r[8], escalate_to=r[9],
                four_eyes=bool(r[10]), approvals=tuple(json.loads(r[11] or "[]")),
                claimed_by=r[12], result=codec.loads(r[13]), escalated=bool(r[14]),
                created_at=float(r[15]), updated_at=float(r[16]), version=int(r[17]))


@dataclass(slots=True)
class Batch:
    """A group commit sorted for the SQL: what survives fencing, as rows to write."""

    events: list[tuple[Any, ...]] = field(default_factory=list)  # journal rows
    states: list[tuple[str, str, str | None, float]] = field(default_factory=list)  # queries
    updates: list[dict[str, Any]] = field(default_factory=list)  # new workflow states
    accepted: list[Write] = field(default_factory=list)  # writes whose epoch held


#: one write's rows, built before its transaction begins: (write, journal rows, state rows,
#: the parameters of its state update or None)
Prepared = tuple[Write, list[tuple[Any, ...]], list[tuple[str, str, str | None, float]],
                 dict[str, Any] | None]


def _either(one: Any, more: Sequence[Any]) -> list[Any] | None:
    """What a waiting run waits for, as a list (None: nothing)."""
    if one is None and not more:
        return None
    return [*([] if one is None else [one]), *more]


def prepare_writes(writes: Sequence[Write], now: float) -> list[Prepared]:
    """The rows of ``writes``, encoded outside the transaction so that the store's write
    lock is held for the SQL alone. The update rows carry the named parameters both
    dialects' final UPDATE uses."""
    out: list[Prepared] = []
    terminal_statuses = st.TERMINAL
    for w in writes:
        wid = w.workflow_id
        rows: list[tuple[Any, ...]] = []
        states: list[tuple[str, str, str | None, float]] = []
        for e in w.events:
            raw = e.raw
            if raw is None and e.data:
                raw = codec.dumps(e.data)
            rows.append((wid, e.seq, e.type, e.at, e.name, e.pos, e.attempt, raw))
            if e.type == STATE_UPDATED:
                states.append((wid, str(e.name), codec.dumps(e.data.get("value")), now))
        update: dict[str, Any] | None = None
        status = w.status
        if status is not None:
            terminal = status in terminal_statuses
            update = {
                "status": status, "result": w.result, "error": error_json(w.error),
                "detail": w.detail, "active": not terminal, "now": now,
                "child": _either(w.await_child, w.await_children),
                "pos": _either(w.await_pos, w.await_positions), "wake": w.wake_at,
                "release": w.release, "done": now if terminal else None,
                "id": wid, "epoch": w.epoch}
        out.append((w, rows, states, update))
    return out


def fence(prepared: Sequence[Prepared], current: dict[str, tuple[int, Any]],
          result: CommitResult) -> Batch:
    """Fence prepared writes against ``current`` (id -> (epoch, cancel requested)): stale
    ones go to ``result.fenced``, cancel flags to ``result.cancel_requested``; the rest
    become the batch's rows."""
    batch = Batch()
    events, states, updates, accepted = batch.events, batch.states, batch.updates, \
        batch.accepted
    for w, rows, state_rows, update in prepared:
        cur = current.get(w.workflow_id)
        if cur is None or cur[0] != w.epoch:
            result.fenced.add(w.workflow_id)
            continue
        if cur[1]:
            result.cancel_requested.add(w.workflow_id)
        accepted.append(w)
        events += rows
        if state_rows:
            states += state_rows
        if update is not None:
            updates.append(update)
    return batch


def sort_writes(writes: Sequence[Write], current: dict[str, tuple[int, Any]], now: float,
                result: CommitResult) -> Batch:
    """:func:`prepare_writes` and :func:`fence` in one go."""
    return fence(prepare_writes(writes, now), current, result)


def where_clause(conditions: Sequence[str]) -> str:
    """``{where}`` of a listing: " WHERE " and the conditions, or nothing."""
    return " WHERE " + " AND ".join(conditions) if conditions else ""
