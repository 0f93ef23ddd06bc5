"""What the SQL stores share: the store's cold paths, written once for both dialects.

:class:`SQLStore` holds every operation whose code is the same on SQLite and PostgreSQL but
for the SQL text, the parameter style and how a connection or a transaction is had: reading
runs and journals, cancelling, terminating and retrying a run, releasing a worker's runs,
events' signals, waits and deliveries, users and human tasks, schedules, circuit breakers,
queue limits and statistics. The SQL comes from the dialect's ``queries.sql`` under the
names :class:`CommonQueries` declares (:mod:`legato.store.sqlfile`); the statements take
named parameters (``:name`` on SQLite, ``%(name)s`` on PostgreSQL), so one dict serves both
and a dialect takes only the keys it names (PostgreSQL's ``channel`` for its notifications),
while row inserts take their values in the order of their column list.

A dialect subclass (``legato.store.sqlite.store``, ``legato.store.postgres.store``) supplies
the connections (:meth:`SQLStore._reader`, :meth:`SQLStore._writer`), how it sends a list
(:meth:`SQLStore._array`) and many rows (:meth:`SQLStore._many`), the row locks PostgreSQL
needs where transactions run side by side (``_lock_runs`` and the like; SQLite's writes run
one at a time and lock nothing), its notifications, and the hot paths — create, claim,
commit — whose speed needs code of their own, with the few operations whose SQL takes a
different shape (publishing an event, purging, workers' liveness).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from legato.domain import codec
from legato.domain import status as st
from legato.domain.changes import TaskChange
from legato.domain.circuit import CircuitState
from legato.domain.events import WORKFLOW_RETRIED, Event
from legato.domain.journal import plan_retry
from legato.domain.tasks import Task
from legato.store.base import (
    Condition,
    Delivery,
    NewWorkflow,
    ScheduleRow,
    Store,
    WorkerInfo,
    WorkflowRow,
)
from legato.store.sql_auth import AuthQueries, AuthSQL
from legato.store.sql_common import (
    error_json,
    event_params,
    row_to_event,
    row_to_task,
    row_to_workflow,
    where_clause,
)
from legato.store.sql_events import EventQueries, EventsSQL

_TERMINATED = "WorkflowTerminated"
_TRANSITION_KEYS = ("name", "at", "source", "target", "reason")


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...


class Conn(Protocol):
    """A connection as the shared code uses it (``sqlite3`` and ``psycopg`` both fit)."""

    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...


class CommonQueries(AuthQueries, EventQueries):
    """The statements :class:`SQLStore` runs: every dialect's ``queries.sql`` has them (with
    those of tokens and the operator log, :class:`AuthQueries`)."""

    HOLES = frozenset({"where"})

    # workflows
    get_workflow: str
    journal: str
    count_ended: str
    append_event: str
    request_cancel: str
    lock_to_end: str
    terminate_event: str
    terminate: str
    lock_to_retry: str
    retry: str
    # workers
    renew_worker: str
    workers: str
    release_owned: str
    release_all_but: str
    release_orphans: str
    delete_worker: str
    owned_cancels: str
    record_name: str
    known_names: str
    # events, signals, waits, deliveries
    inbox_insert: str
    wait_delete: str
    wake: str
    signal_insert: str
    signal_wait: str
    signal_taken: str
    inbox_get: str
    wait_insert: str
    buffered_event: str
    event_taken: str
    queued_signal: str
    decided_task: str
    state_get: str
    # users and human tasks
    user_insert: str
    group_insert: str
    user_exists: str
    groups_of: str
    users: str
    memberships: str
    task_insert: str
    task_audit: str
    task: str
    tasks: str  # {where}: the tasks_* conditions
    tasks_of_assignee: str
    tasks_of_groups: str
    tasks_of_nobody: str
    tasks_with_status: str
    tasks_of_workflow: str
    task_save: str
    task_waits: str
    task_history: str
    task_changes: str
    latest_task_changes: str
    # schedules
    schedule_lock: str
    schedule: str
    schedule_insert: str
    schedule_update: str
    schedules: str
    schedule_pause: str
    schedule_delete: str
    schedules_due: str
    next_schedule_tick: str
    schedule_advance: str
    # queues
    queue_config: str
    queue_put: str
    queue_names: str
    queue_counts: str
    # circuit breakers
    circuit: str
    circuits: str
    circuit_insert: str
    circuit_update: str
    transition_insert: str
    transitions: str
    transitions_of: str


def _task_change(r: Sequence[Any]) -> TaskChange:
    return (r[0], r[1], r[2], r[3], float(r[4]), r[5], r[6])


def _schedule(r: Sequence[Any]) -> ScheduleRow:
    return ScheduleRow(name=r[0], workflow=r[1], cron=r[2], timezone=r[3], catch_up=r[4],
                       args=json.loads(r[5]), paused=bool(r[6]), next_tick=float(r[7]),
                       last_tick=None if r[8] is None else float(r[8]))


def _worker(r: Sequence[Any]) -> WorkerInfo:
    return WorkerInfo(r[0], r[1], int(r[2]), float(r[3]), float(r[4]))


class SQLStore(AuthSQL, EventsSQL, Store):
    """A store on an SQL database: the shared operations (see the module's doc), API tokens
    and the operator log among them (:class:`AuthSQL`)."""

    q: CommonQueries
    #: PostgreSQL's notification channel (statements that notify take it as ``channel``)
    channel: str = ""

    # --- what a dialect supplies ----------------------------------------------------------

    @abc.abstractmethod
    def _reader(self) -> AbstractContextManager[Conn]:
        """A connection for reads (each statement sees what was committed when it began)."""

    @abc.abstractmethod
    def _writer(self, single: bool = False) -> AbstractContextManager[Conn]:
        """A connection in one write transaction, committed when the block ends (rolled back
        if it raises). ``single``: the block runs one statement, which may then be its own
        transaction."""

    @abc.abstractmethod
    def _many(self, c: Conn, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``sql`` once per row, in the caller's transaction."""

    @abc.abstractmethod
    def _array(self, values: Iterable[str]) -> Any:
        """A list of strings as one statement parameter."""

    @abc.abstractmethod
    def _create_runs_in(self, c: Conn, runs: Sequence[tuple[NewWorkflow, Event]]) -> None:
        """Insert new runs (idempotent by id) in the caller's transaction."""

    @abc.abstractmethod
    def _terminated_in(self, c: Conn, workflow_id: str, now: float) -> None:
        """A run just terminated in this transaction: what its end sets off (as a commit
        that ends a run does)."""

    def _read_one(self, sql: str, params: Any = ()) -> Any:
        """The first row of one read (None: no row)."""
        with self._reader() as c:
            return c.execute(sql, params).fetchone()

    def _read_all(self, sql: str, params: Any = ()) -> Sequence[Any]:
        """The rows of one read."""
        with self._reader() as c:
            return c.execute(sql, params).fetchall()

    def _after_ended(self, ids: Sequence[str]) -> None:
        """Runs ended by a transaction that committed (SQLite tells other processes)."""

    def _notify_in(self, c: Conn) -> None:
        """Work became runnable in this transaction: PostgreSQL notifies in it (after it,
        :meth:`notify` is called: SQLite notifies there)."""

    def _lock_runs(self, c: Conn, ids: Sequence[str]) -> None:
        """Lock these runs' rows before what is delivered to them (PostgreSQL)."""

    def _lock_for_take(self, c: Conn, workflow_id: str,
                       conditions: Sequence[Condition]) -> None:
        """What a wait's take locks first (PostgreSQL: the events' keys, then the run)."""
        self._lock_runs(c, [workflow_id])

    def _lock_task_waiters(self, c: Conn, task_id: str) -> None:
        """Lock the runs waiting for a task, before its decision is handed to them."""

    # --- workflows --------------------------------------------------------------------------

    def get(self, workflow_id: str) -> WorkflowRow | None:
        r = self._read_one(self.q.get_workflow, {"id": workflow_id})
        return None if r is None else row_to_workflow(r)

    def journal(self, workflow_id: str) -> list[Event]:
        return [row_to_event(r) for r in self._read_all(self.q.journal, {"id": workflow_id})]

    def count_ended(self, before: float, statuses: Sequence[str]) -> int:
        r = self._read_one(self.q.count_ended, {"statuses": self._array(statuses),
                                                "before": before})
        return int(r[0])

    def request_cancel(self, workflow_id: str, now: float,
                       actor: dict[str, str] | None = None) -> WorkflowRow | None:
        with self._writer(single=True) as c:
            c.execute(self.q.request_cancel,
                      {"id": workflow_id, "now": now, "channel": self.channel,
                       "actor": None if actor is None else codec.dumps(actor)}).fetchall()
        return self.get(workflow_id)

    def terminate(self, workflow_id: str, reason: str, now: float,
                  actor: dict[str, str] | None = None) -> WorkflowRow | None:
        q = self.q
        ended = False
        with self._writer() as c:
            status = next((r[1] for r in c.execute(q.lock_to_end, {"id": workflow_id})
                           .fetchall() if r[0] == workflow_id), None)
            if status in st.ACTIVE:
                err = {"type": "Terminated", "message": reason}
                what: dict[str, Any] = {"reason": reason}
                if actor is not None:
                    what["actor"] = actor
                data = event_params(workflow_id, Event(0, _TERMINATED, now, data=what))[-1]
                c.execute(q.terminate_event, {"id": workflow_id, "type": _TERMINATED,
                                              "now": now, "data": data})
                c.execute(q.terminate, {"id": workflow_id, "status": st.CANCELLED,
                                        "detail": f"terminated: {reason}",
                                        "error": error_json(err), "now": now})
                self._terminated_in(c, workflow_id, now)
                ended = True
        if ended:
            self._after_ended([workflow_id])
        return self.get(workflow_id)

    def retry(self, workflow_id: str, now: float,
              actor: dict[str, str] | None = None) -> WorkflowRow | None:
        q = self.q
        with self._writer() as c:
            r = c.execute(q.lock_to_retry, {"id": workflow_id}).fetchone()
            if r is None:
                return None
            events = [row_to_event(e) for e in
                      c.execute(q.journal, {"id": workflow_id}).fetchall()]
            plan = plan_retry(events, r[0], r[1])  # raises RetryRefused: rolled back
            if actor is not None:
                plan["actor"] = actor
            c.execute(q.append_event, event_params(
                workflow_id, Event(events[-1].seq + 1, WORKFLOW_RETRIED, now, data=plan)))
            c.execute(q.retry, {"id": workflow_id, "now": now})
            self._notify_in(c)
        return self.get(workflow_id)

    # --- workers ----------------------------------------------------------------------------

    def workers(self) -> list[WorkerInfo]:
        return [_worker(r) for r in self._read_all(self.q.workers)]

    def _remove_worker_rows(self, worker_id: str, now: float) -> tuple[int, Any]:
        """Release what the worker owns (fenced, due at ``now``) and delete its row; returns
        how many runs were released and the row's ``(host, pid)`` (None: there was none)."""
        with self._writer() as c:
            freed = c.execute(self.q.release_owned, {"worker": worker_id, "now": now}).rowcount
            gone = c.execute(self.q.delete_worker, {"worker": worker_id}).fetchone()
            if freed:
                self._notify_in(c)
        if freed:
            self.notify()
        return int(freed), gone

    def release_all_but(self, worker_id: str, keep: str, now: float) -> list[str]:
        with self._writer() as c:
            ids = [str(r[0]) for r in c.execute(self.q.release_all_but, {
                "worker": worker_id, "keep": keep, "now": now}).fetchall()]
            if ids:
                self._notify_in(c)
        if ids:
            self.notify()
        return ids

    def release_orphans(self, me: str, now: float) -> int:
        with self._writer() as c:
            freed = int(c.execute(self.q.release_orphans, {"me": me, "now": now}).rowcount)
            if freed:
                self._notify_in(c)
        if freed:
            self.notify()
        return freed

    def owned_cancels(self, worker_id: str) -> list[str]:
        return [r[0] for r in self._read_all(self.q.owned_cancels, {"worker": worker_id})]

    def record_names(self, names: Sequence[str], now: float) -> None:
        if names:
            with self._writer() as c:
                self._many(c, self.q.record_name, [(n, now) for n in sorted(set(names))])

    def known_names(self) -> list[str]:
        return [r[0] for r in self._read_all(self.q.known_names)]

    # --- events, signals, waits -------------------------------------------------------------

    def _deliver(self, c: Conn, wid: str, pos: int, kind: str, name: str, key: str,
                 data: str | None, source: str, now: float, actor: str | None = None) -> bool:
        """Hand ``data`` to the wait (wid, pos) unless it already got something; wake its run
        if it is suspended. The run's row is locked by the caller (where rows are locked).
        ``actor``: JSON of who sent it (a signal), recorded with the wait's completion."""
        params = {"id": wid, "pos": pos, "kind": kind, "name": name, "key": key, "data": data,
                  "source": source, "now": now, "channel": self.channel, "actor": actor}
        if c.execute(self.q.inbox_insert, params).rowcount != 1:
            return False
        c.execute(self.q.wait_delete, params)
        c.execute(self.q.wake, params).fetchall()
        return True

    def send_signal(self, workflow_id: str, name: str, data: str | None, now: float,
                    actor: dict[str, str] | None = None) -> bool:
        q = self.q
        who = None if actor is None else codec.dumps(actor)
        with self._writer() as c:
            self._lock_runs(c, [workflow_id])
            sid = int(c.execute(q.signal_insert, {"id": workflow_id, "name": name,
                                                  "data": data, "now": now,
                                                  "actor": who}).fetchone()[0])
            w = c.execute(q.signal_wait, {"id": workflow_id, "name": name}).fetchone()
            if w is not None and self._deliver(c, workflow_id, w[0], "signal", name, "", data,
                                               f"signal:{sid}", now, who):
                c.execute(q.signal_taken, {"pos": w[0], "signal": sid})
                return True
        return False

    def take(self, workflow_id: str, pos: int, conditions: Sequence[Condition], now: float,
             register: bool) -> Delivery | None:
        q = self.q
        at = {"id": workflow_id, "pos": pos}
        with self._writer() as c:
            self._lock_for_take(c, workflow_id, conditions)
            got = c.execute(q.inbox_get, at).fetchone()
            if got is None:
                got = self._take_buffered(c, workflow_id, pos, conditions, now)
            if got is not None:
                c.execute(q.wait_delete, at)
                kind, name, key, data, source, when, actor = got
                for i, cond in enumerate(conditions):
                    if (cond.kind, cond.name, cond.key) == (kind, name, key):
                        return Delivery(i, data, source, float(when), actor)
                return Delivery(-1, data, source, float(when), actor)  # it waits for others
            if register:
                self._many(c, q.wait_insert, [(workflow_id, pos, cd.kind, cd.name, cd.key, now)
                                              for cd in conditions])
            else:
                c.execute(q.wait_delete, at)
        return None

    def _take_buffered(self, c: Conn, wid: str, pos: int, conditions: Sequence[Condition],
                       now: float) -> tuple[Any, ...] | None:
        """The first buffered event, queued signal or decided task a condition matches,
        delivered to the wait (wid, pos) and returned as an inbox row."""
        q = self.q
        for cond in conditions:
            if cond.kind == "event":
                e = c.execute(q.buffered_event, {"type": cond.name, "key": cond.key,
                                                 "now": now}).fetchone()
                if e is not None:
                    c.execute(q.event_taken, {"taker": f"{wid}:{pos}", "event": e[0]})
                    self._deliver(c, wid, pos, "event", cond.name, cond.key, e[1], e[0], now)
                    return ("event", cond.name, cond.key, e[1], e[0], now, None)
            elif cond.kind == "signal":
                s = c.execute(q.queued_signal, {"id": wid, "name": cond.name}).fetchone()
                if s is not None:
                    c.execute(q.signal_taken, {"pos": pos, "signal": s[0]})
                    self._deliver(c, wid, pos, "signal", cond.name, "", s[1],
                                  f"signal:{s[0]}", now, s[2])
                    return ("signal", cond.name, "", s[1], f"signal:{s[0]}", now, s[2])
            elif cond.kind == "task":  # decided while no wait was registered for it
                t = c.execute(q.decided_task, {"task": cond.name}).fetchone()
                if t is not None:
                    self._deliver(c, wid, pos, "task", cond.name, "", t[0],
                                  f"task:{cond.name}", now)
                    return ("task", cond.name, "", t[0], f"task:{cond.name}", now, None)
        return None

    def query_state(self, workflow_id: str, key: str) -> tuple[bool, str | None]:
        r = self._read_one(self.q.state_get, {"id": workflow_id, "key": key})
        return (False, None) if r is None else (True, r[0])

    # --- users and human tasks ----------------------------------------------------------------

    def add_user(self, name: str, groups: Sequence[str], now: float) -> None:
        with self._writer() as c:
            c.execute(self.q.user_insert, {"name": name, "now": now})
            if groups:
                self._many(c, self.q.group_insert, [(name, g) for g in sorted(set(groups))])

    def user_groups(self, name: str) -> frozenset[str] | None:
        with self._reader() as c:
            if c.execute(self.q.user_exists, {"name": name}).fetchone() is None:
                return None
            return frozenset(r[0] for r in c.execute(self.q.groups_of,
                                                     {"name": name}).fetchall())

    def list_users(self) -> list[tuple[str, list[str]]]:
        with self._reader() as c:
            groups: dict[str, list[str]] = {r[0]: [] for r in
                                            c.execute(self.q.users).fetchall()}
            for user, group in c.execute(self.q.memberships).fetchall():
                groups.setdefault(user, []).append(group)
        return list(groups.items())

    def create_task(self, task: Task, now: float) -> Task:
        q = self.q
        with self._writer() as c:
            made = c.execute(q.task_insert, (
                task.id, task.workflow_id, task.name, task.status, task.assignee, task.group,
                codec.dumps(task.data), codec.dumps(task.form), task.due, task.escalate_to,
                task.four_eyes, "[]", None, None, False, now, now, 1)).rowcount
            if made == 1:
                c.execute(q.task_audit, (task.id, now, None, "created", codec.dumps(
                    {"assignee": task.assignee, "group": task.group}), None))
            r = c.execute(q.task, {"id": task.id}).fetchone()
        return row_to_task(r)

    def get_task(self, task_id: str) -> Task | None:
        r = self._read_one(self.q.task, {"id": task_id})
        return None if r is None else row_to_task(r)

    def list_tasks(self, assignee: str | None, groups: Sequence[str] | None,
                   statuses: Sequence[str] | None, limit: int,
                   workflow_id: str | None = None) -> list[Task]:
        q = self.q
        if isinstance(statuses, str):
            statuses = [statuses]
        where: list[str] = []
        who = [cond for cond, given in ((q.tasks_of_assignee, assignee is not None),
                                        (q.tasks_of_groups, bool(groups))) if given]
        if who:
            where.append("(" + " OR ".join(who) + ")")
        elif groups is not None:  # a user in no group with no assignee filter sees nothing
            where.append(q.tasks_of_nobody)
        if statuses is not None:
            where.append(q.tasks_with_status)
        if workflow_id is not None:
            where.append(q.tasks_of_workflow)
        params = {"assignee": assignee, "groups": self._array(groups or ()),
                  "statuses": self._array(statuses or ()), "workflow_id": workflow_id,
                  "limit": limit}
        sql = q.tasks.replace("{where}", where_clause(where))
        return [row_to_task(r) for r in self._read_all(sql, params)]

    def save_task(self, task: Task, expected_version: int, now: float, user: str | None,
                  action: str, detail: Any, deliver: bool,
                  token_id: str | None = None) -> bool:
        q = self.q
        with self._writer() as c:
            if deliver:  # lock the waiting runs before anything else (as every delivery)
                self._lock_task_waiters(c, task.id)
            if c.execute(q.task_save, {
                    "status": task.status, "assignee": task.assignee, "group": task.group,
                    "approvals": json.dumps(list(task.approvals)),
                    "claimed_by": task.claimed_by, "result": codec.dumps(task.result),
                    "escalated": task.escalated, "due": task.due, "now": now,
                    "version": expected_version + 1,
                    "id": task.id, "expected": expected_version}).rowcount != 1:
                return False
            c.execute(q.task_audit, (task.id, now, user, action, codec.dumps(detail),
                                     token_id))
            if deliver:
                raw = codec.dumps(task.result)
                for wid, pos in c.execute(q.task_waits, {"task": task.id}).fetchall():
                    self._deliver(c, wid, pos, "task", task.id, "", raw, f"task:{task.id}",
                                  now)
        return True

    def task_history(self, task_id: str) -> list[dict[str, Any]]:
        rows = self._read_all(self.q.task_history, {"task": task_id})
        return [{"task_id": task_id, "at": r[0], "user": r[1], "action": r[2],
                 "detail": codec.loads(r[3]), "token_id": r[4]} for r in rows]

    def changed_tasks(self, floor: tuple[float, str] | None, limit: int) -> list[TaskChange]:
        """Human tasks by ``(updated_at, id)``, from ``floor`` (inclusive; None: the first)."""
        rows = self._read_all(self.q.task_changes, {
            "at": floor[0] if floor else -1e300, "id": floor[1] if floor else "",
            "limit": limit})
        return [_task_change(r) for r in rows]

    def latest_task_changes(self, limit: int) -> list[TaskChange]:
        """The ``limit`` human tasks updated last, newest first."""
        return [_task_change(r) for r in self._read_all(self.q.latest_task_changes,
                                                         {"limit": limit})]

    # --- schedules ----------------------------------------------------------------------------

    def put_schedule(self, s: ScheduleRow, now: float) -> ScheduleRow:
        q = self.q
        named = {"name": s.name}
        with self._writer() as c:
            cur = c.execute(q.schedule_lock, named).fetchone()
            if cur is None and c.execute(q.schedule_insert, (
                    s.name, s.workflow, s.cron, s.timezone, s.catch_up, json.dumps(s.args),
                    s.paused, s.next_tick, None, now, now)).rowcount != 1:
                cur = c.execute(q.schedule_lock, named).fetchone()  # created meanwhile
            if cur is not None:
                old = _schedule(cur)
                same_clock = (old.cron, old.timezone) == (s.cron, s.timezone)
                c.execute(q.schedule_update, {
                    "workflow": s.workflow, "cron": s.cron, "timezone": s.timezone,
                    "catch_up": s.catch_up, "args": json.dumps(s.args),
                    "next_tick": old.next_tick if same_clock else s.next_tick, "now": now,
                    "name": s.name})
            r = c.execute(q.schedule, named).fetchone()
        return _schedule(r)

    def get_schedule(self, name: str) -> ScheduleRow | None:
        r = self._read_one(self.q.schedule, {"name": name})
        return None if r is None else _schedule(r)

    def list_schedules(self) -> list[ScheduleRow]:
        return [_schedule(r) for r in self._read_all(self.q.schedules)]

    def set_schedule_paused(self, name: str, paused: bool, next_tick: float | None,
                            now: float) -> bool:
        with self._writer(single=True) as c:
            return c.execute(self.q.schedule_pause, {"paused": paused, "next_tick": next_tick,
                                                     "now": now, "name": name}).rowcount == 1

    def delete_schedule(self, name: str) -> bool:
        with self._writer(single=True) as c:
            return c.execute(self.q.schedule_delete, {"name": name}).rowcount == 1

    def due_schedules(self, now: float) -> list[ScheduleRow]:
        return [_schedule(r) for r in self._read_all(self.q.schedules_due, {"now": now})]

    def next_schedule_tick(self) -> float | None:
        r = self._read_one(self.q.next_schedule_tick)
        return None if r is None or r[0] is None else float(r[0])

    def advance_schedule(self, name: str, expected_next: float, new_next: float,
                         last_tick: float | None, runs: Sequence[tuple[NewWorkflow, Event]],
                         now: float) -> bool:
        with self._writer() as c:
            if c.execute(self.q.schedule_advance, {
                    "next_tick": new_next, "last_tick": last_tick, "now": now, "name": name,
                    "expected": expected_next}).rowcount != 1:
                return False  # another worker handled these ticks
            self._create_runs_in(c, runs)
        return True

    # --- queues -------------------------------------------------------------------------------

    def put_queue(self, name: str, concurrency: int | None, rate: tuple[int, float] | None,
                  per_key: int | None, now: float) -> None:
        with self._writer(single=True) as c:
            c.execute(self.q.queue_put, (name, concurrency, rate[0] if rate else None,
                                         rate[1] if rate else None, per_key, now))

    def queue_stats(self, now: float) -> list[dict[str, Any]]:
        q = self.q
        out = []
        with self._reader() as c:
            for (name,) in c.execute(q.queue_names).fetchall():
                cfg = c.execute(q.queue_config, {"queue": name}).fetchone() or (
                    None, None, None, None)
                depth, running, done = c.execute(q.queue_counts, {
                    "queue": name, "since": now - 60}).fetchone() or (0, 0, 0)
                out.append({"name": name, "concurrency": cfg[0],
                            "rate": None if cfg[1] is None else (cfg[1], cfg[2]),
                            "per_key_concurrency": cfg[3], "depth": depth or 0,
                            "running": running or 0, "completed_last_minute": done or 0})
        return out

    # --- circuit breakers ---------------------------------------------------------------------

    def circuit_load(self, name: str) -> CircuitState | None:
        r = self._read_one(self.q.circuit, {"name": name})
        return None if r is None else CircuitState(*r)

    def circuit_save(self, new: CircuitState, expected_version: int, now: float,
                     source: str | None) -> bool:
        params = {"name": new.name, "state": new.state, "failures": new.failures,
                  "opened_at": new.opened_at, "next_probe_at": new.next_probe_at,
                  "probes": new.probes, "recent": new.recent, "version": expected_version + 1,
                  "now": now, "expected": expected_version, "source": source,
                  "target": new.state, "reason": new.reason}
        with self._writer() as c:
            sql = self.q.circuit_insert if expected_version == 0 else self.q.circuit_update
            if c.execute(sql, params).rowcount != 1:
                return False
            if source is not None and source != new.state:
                c.execute(self.q.transition_insert, params)
        return True

    def circuits(self) -> list[CircuitState]:
        return [CircuitState(*r) for r in self._read_all(self.q.circuits)]

    def circuit_transitions(self, name: str | None, limit: int) -> list[dict[str, Any]]:
        sql = self.q.transitions if name is None else self.q.transitions_of
        return [dict(zip(_TRANSITION_KEYS, r, strict=True))
                for r in self._read_all(sql, {"name": name, "limit": limit})]
