"""Runs as an application or an API reads them, and the row and first event of a run being
started.

- :func:`describe`: the one description of a run (``handle.describe()``, the items of a
  page, ``legato show`` and ``legato list --json``), with its business ``key`` and what it
  waits on right now (``waiting_for``: :mod:`legato.domain.waiting`);
- :func:`page`: :class:`RunPage`, newest first by ``(created_at, id)``, with an opaque
  keyset cursor that stays right while new runs arrive (``engine.runs``);
- :func:`counts`: runs per status, every status present (``engine.counts``);
- :func:`changes`: the changes feed for live pages (``engine.run_changes``; the guarantee is
  :mod:`legato.domain.changes`'s);
- :func:`new_run`: what ``engine.start``/``start_many`` write for a run, every option
  checked first.

See docs/runs.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from legato.domain import changes as feed
from legato.domain import events as ev
from legato.domain import inputs
from legato.domain import status as st
from legato.domain.actor import Actor, actor_of
from legato.domain.events import Event
from legato.domain.times import instant
from legato.domain.waiting import LiveStep, RunFacts, RunState, iso, waiting_for
from legato.errors import InvalidInput
from legato.runtime import codec
from legato.runtime.registry import WorkflowDef, step_named
from legato.store.base import NewWorkflow, WorkflowRow

if TYPE_CHECKING:
    from legato.engine import Engine

#: the most runs one page (``engine.runs(limit=...)``) or one read of the changes feed holds
MAX_LIMIT = 1000


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first: ``items`` (each as ``handle.describe()`` gives it,
    without the history) and ``next_cursor``, the opaque string that asks for the next page
    (None: this was the last).

    >>> page = engine.runs(status="FAILED", limit=50)
    >>> while page.next_cursor:
    ...     page = engine.runs(status="FAILED", limit=50, cursor=page.next_cursor)
    """

    items: list[dict[str, Any]]
    next_cursor: str | None


# --- starting ------------------------------------------------------------------------------


def new_workflow_id() -> str:
    """32 hex digits that sort by creation time (ms), then random: B-tree friendly."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def new_run(engine: Engine, name: str, wdef: WorkflowDef | None, args: Sequence[Any],
            workflow_id: str | None, deadline: float | timedelta | None, queue: str | None,
            priority: int, queue_key: str | None, key: Any = None,
            actor: Actor | None = None) -> tuple[NewWorkflow, Event]:
    """The row and the WorkflowStarted event of a run about to be started; every option
    checked against the input contract first (docs/inputs.md). ``key`` is the run's
    business key, ``actor`` who starts it (recorded in the event)."""
    try:
        input_json = codec.dumps(list(args), "workflow input", limit=engine.max_payload,
                                 max_depth=inputs.MAX_DEPTH)
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc}") from None
    # an empty id is refused, not replaced: a retried call must find the same run
    wid = new_workflow_id() if workflow_id is None else inputs.text(workflow_id,
                                                                    "workflow_id")
    if deadline is not None:
        secs: float | None = inputs.seconds(deadline, "deadline")
    elif wdef is not None and wdef.deadline is not None:
        secs = inputs.seconds(wdef.deadline, f"the deadline of workflow {name!r}")
    else:
        secs = None
    if queue is None and wdef is not None:
        queue = wdef.queue
    if queue is not None:
        queue = engine._known_queue(queue)
    priority = inputs.priority(priority)
    qkey = None if queue_key is None else inputs.key(queue_key, "queue_key")
    business_key = None if key is None else inputs.key(key, "key")
    now = engine.clock.now()
    new = NewWorkflow(id=wid, name=name, input=input_json, now=now,
                      deadline=None if secs is None else now + secs,
                      queue=queue, priority=priority, queue_key=qkey,
                      business_key=business_key)
    data: dict[str, Any] = {"input": list(args)}
    raw = f'{{"input":{input_json}'  # encoded here from the input's JSON: the store need not
    if new.deadline is not None:
        data["deadline"] = new.deadline
        raw += f',"deadline":{new.deadline!r}'
    if business_key is not None:
        data["key"] = business_key
        raw += f',"key":{json.dumps(business_key)}'
    if actor is not None:
        data["actor"] = actor.as_dict()
        raw += f',"actor":{json.dumps(data["actor"], separators=(",", ":"))}'
    return new, Event(1, ev.WORKFLOW_STARTED, now, name=name, data=data, raw=raw + "}")


def keys_for(name: str, count: int, key: Any, keys: Sequence[Any] | None) -> list[Any]:
    """The business key of each run of a ``start_many`` batch: ``key`` for all, or ``keys``
    one per input."""
    if keys is None:
        return [key] * count
    if key is not None:
        raise InvalidInput(f"{name}: give key (one for the whole batch) or keys (one per"
                           " input), not both")
    if isinstance(keys, str | bytes) or len(keys) != count:
        got = "a string" if isinstance(keys, str | bytes) else f"{len(keys)} keys"
        raise InvalidInput(f"{name}: {got} for {count} inputs (give keys as a list, one"
                           " per input)")
    return list(keys)


def actor_dict(actor: Actor | str | None) -> dict[str, str] | None:
    """``actor`` checked (:func:`legato.domain.actor.actor_of`), as it is recorded."""
    who = actor_of(actor)
    return None if who is None else who.as_dict()


# --- describing runs -------------------------------------------------------------------------


def describe(engine: Engine, row: WorkflowRow) -> dict[str, Any]:
    """Name, status, detail, input, result or error, key, what it waits on and timestamps
    (ISO 8601, UTC) of one run."""
    return describe_rows(engine, [row])[0]


def describe_rows(engine: Engine, rows: Sequence[WorkflowRow]) -> list[dict[str, Any]]:
    """:func:`describe` for many runs, reading what their waits need in one go."""
    active = [r.id for r in rows if r.status not in st.TERMINAL]
    facts = engine.store.waiting_facts(active) if active else {}
    circuits = ([(c.name, c.state, c.next_probe_at) for c in engine.store.circuits()]
                if any(r.status == st.WAITING for r in rows) else [])
    now = engine.clock.now()
    out = []
    for row in rows:
        d: dict[str, Any] = {
            "workflow_id": row.id,
            "name": row.name,
            "status": row.status,
            "detail": row.detail,
            "key": row.business_key,
            "input": row.args(),
            "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at),
            "completed_at": iso(row.completed_at),
            "wake_at": iso(row.wake_at) if row.status == st.WAITING else None,
            "deadline": iso(row.deadline),
            "queue": row.queue,
            "priority": row.priority,
            "cancel_requested": row.cancel_requested,
            "waiting_for": None if row.status in st.TERMINAL else waiting_for(
                RunState(row.status, row.owner is not None, row.created_at, row.wake_at,
                         row.queue),
                facts.get(row.id) or RunFacts(), now, circuits=circuits,
                live=_live(engine, row), step_timeout=_step_timeout),
        }
        if row.status == st.COMPLETED:
            d["result"] = codec.loads(row.result)
        if row.error is not None:
            d["error"] = {k: v for k, v in row.error.items() if k != "traceback"}
        out.append(d)
    return out


def _step_timeout(name: str) -> float | None:
    sdef = step_named(name)
    return None if sdef is None else sdef.timeout


def _live(engine: Engine, row: WorkflowRow) -> list[LiveStep] | None:
    """The step attempts in flight for ``row`` in this engine's own worker, if it runs it."""
    workers = engine._workers
    if workers is None or row.owner is None or row.owner != workers.worker_id:
        return None
    return [LiveStep(*s) for s in workers.steps_in_flight(row.id)]


# --- pages, counts ---------------------------------------------------------------------------


def statuses(value: Any) -> list[str] | None:
    """One status, several comma-separated, or a list of them (None: any)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise InvalidInput(f"status must be a status, a comma-separated string or a list,"
                           f" not {type(value).__name__}")
    out: list[str] = []
    for s in items:
        if not isinstance(s, str) or not s.strip():
            raise InvalidInput(f"status: {s!r} is not a status (one of {', '.join(st.ALL)})")
        try:
            found = st.validate(s.strip())
        except ValueError as exc:
            raise InvalidInput(f"status: {exc}") from None
        if found not in out:
            out.append(found)
    if not out:
        raise InvalidInput(f"status: give at least one of {', '.join(st.ALL)}")
    return out


def encode_cursor(row: WorkflowRow) -> str:
    raw = json.dumps([row.created_at, row.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: Any) -> tuple[float, str]:
    def bad() -> InvalidInput:
        return InvalidInput(f"cursor: {text!r:.80} is not a cursor of engine.runs (pass the"
                            " next_cursor of the page before, or nothing for the first page)")

    if not isinstance(text, str) or not text or len(text) > 2048:
        raise bad()
    try:
        at, wid = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad() from None
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) \
            or not isinstance(wid, str):
        raise bad()
    return float(at), wid


def page(engine: Engine, status: Any = None, name: Any = None, key: Any = None,
         since: Any = None, until: Any = None, limit: Any = 50,
         cursor: Any = None) -> RunPage:
    wanted = statuses(status)
    name = None if name is None else inputs.lookup(name, "name")
    key = None if key is None else inputs.key(key, "key")
    start, end = instant(since, "since"), instant(until, "until")
    limit = inputs.integer(limit, "limit", 1, MAX_LIMIT)
    before = None if cursor is None else decode_cursor(cursor)
    rows = engine.store.list_runs(wanted, name, key, start, end, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RunPage(describe_rows(engine, rows),
                   encode_cursor(rows[-1]) if more and rows else None)


def counts(engine: Engine, name: Any = None) -> dict[str, int]:
    name = None if name is None else inputs.lookup(name, "name")
    found = engine.store.count_statuses(name)
    return {s: found.get(s, 0) for s in st.ALL}


# --- the changes feed ------------------------------------------------------------------------


def changes(engine: Engine, after: Any = None,
            limit: Any = 100) -> tuple[list[dict[str, Any]], str]:
    limit = inputs.integer(limit, "limit", 1, MAX_LIMIT)
    if after is None:
        return [], feed.start(engine.store.latest_changes(feed.KEPT)).encode()
    pos = feed.Position.decode(after)
    read = feed.read_size(pos, limit)
    rows = engine.store.changed_runs(pos.floor, read)
    found, pos = feed.advance(pos, rows, limit, read)
    return [{"workflow_id": c[0], "name": c[1], "status": c[2], "key": c[3],
             "updated_at": iso(c[4])} for c in found], pos.encode()


__all__ = ["MAX_LIMIT", "RunPage", "actor_dict", "changes", "counts", "describe",
           "describe_rows", "instant", "keys_for", "new_run", "new_workflow_id", "page",
           "statuses"]
