"""The store interface every backend implements, and the records it speaks in."""

from __future__ import annotations

import abc
import socket
from collections.abc import Callable, Sequence
from typing import Any

from legato.domain.buffered import BufferedEvent
from legato.domain.changes import TaskChange
from legato.domain.circuit import CircuitState
from legato.domain.events import Event
from legato.domain.oplog import OpEntry
from legato.domain.records import (  # the records it speaks in (domain; re-exported)
    Claimed,
    CommitResult,
    Condition,
    CreateConflict,
    Delivered,
    Delivery,
    NewWorkflow,
    PublishResult,
    ScheduleRow,
    WorkerInfo,
    WorkflowRow,
    Write,
)
from legato.domain.tasks import Task
from legato.domain.tokens import TokenInfo
from legato.domain.waiting import RunFacts
from legato.store.migrations import SchemaInfo

HOST = socket.gethostname()


class Store(abc.ABC):
    """Persistence of workflows, journals and workers. Thread-safe."""

    url: str

    # --- lifecycle -----------------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> int:
        """Create or upgrade the schema; return the schema version."""

    @abc.abstractmethod
    def schema_info(self) -> SchemaInfo:
        """What the database holds of legato's schema, read without changing anything."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # --- client side ---------------------------------------------------------------------
    @abc.abstractmethod
    def create(self, new: NewWorkflow, started: Event) -> tuple[WorkflowRow, bool]:
        """Insert a workflow and its WorkflowStarted event, or return the existing row.

        Returns ``(row, created)``.
        """

    @abc.abstractmethod
    def create_many(self, items: Sequence[tuple[NewWorkflow, Event]]
                    ) -> list[tuple[WorkflowRow, bool]]:
        """:meth:`create` for many runs in one transaction, all or nothing: an id that exists
        with another name or input raises :class:`CreateConflict` and writes nothing."""

    @abc.abstractmethod
    def get(self, workflow_id: str) -> WorkflowRow | None: ...

    @abc.abstractmethod
    def list_workflows(self, status: str | None, name: str | None, limit: int,
                       key: str | None = None) -> list[WorkflowRow]:
        """Runs newest first, of ``status``, ``name`` and business ``key`` (each if given)."""

    # --- runs in bulk: pages, counts, changes, what they wait for (store/sql_runs.py) ------

    @abc.abstractmethod
    def list_runs(self, statuses: Sequence[str] | None, name: str | None, key: str | None,
                  since: float | None, until: float | None,
                  before: tuple[float, str] | None, limit: int) -> list[WorkflowRow]:
        """Runs newest first by ``(created_at, id)``: of ``statuses``, ``name`` and ``key``,
        created in ``[since, until)`` (each if given), strictly after ``before`` in that
        order (keyset pagination)."""

    @abc.abstractmethod
    def count_statuses(self, name: str | None) -> dict[str, int]:
        """How many runs (of ``name``, if given) each status has (absent: none)."""

    @abc.abstractmethod
    def changed_runs(self, floor: tuple[float, str] | None,
                     limit: int) -> list[tuple[str, str, str, str | None, float]]:
        """``(id, name, status, business key, updated_at)`` of runs in ``(updated_at, id)``
        order from ``floor`` on (inclusive; None: from the first)."""

    @abc.abstractmethod
    def latest_changes(self, limit: int) -> list[tuple[str, str, str, str | None, float]]:
        """As :meth:`changed_runs`, the ``limit`` runs updated last, newest first."""

    @abc.abstractmethod
    def waiting_facts(self, ids: Sequence[str]) -> dict[str, RunFacts]:
        """What the store holds of these runs besides their rows that says what they wait
        for (:mod:`legato.domain.waiting`)."""

    @abc.abstractmethod
    def cancel_actor(self, workflow_id: str) -> dict[str, str] | None:
        """Who asked for the run's cancel (``Actor.as_dict()``), if the request named
        someone."""

    @abc.abstractmethod
    def journal(self, workflow_id: str) -> list[Event]: ...

    @abc.abstractmethod
    def purge(self, before: float, statuses: Sequence[str], limit: int) -> list[str]:
        """Delete up to ``limit`` runs in ``statuses`` (ended ones) that ended before
        ``before``, with all that is recorded for them (journal, deliveries, waits, signals,
        state, human tasks and their audit); returns their ids."""

    @abc.abstractmethod
    def count_ended(self, before: float, statuses: Sequence[str]) -> int:
        """How many runs :meth:`purge` would delete in all."""

    @abc.abstractmethod
    def request_cancel(self, workflow_id: str, now: float,
                       actor: dict[str, str] | None = None) -> WorkflowRow | None:
        """Flag an active workflow for cancellation and make it runnable now; ``actor`` is
        kept for its WorkflowCancelled event (:meth:`cancel_actor`)."""

    @abc.abstractmethod
    def terminate(self, workflow_id: str, reason: str, now: float,
                  actor: dict[str, str] | None = None) -> WorkflowRow | None:
        """End an active workflow at once (CANCELLED), fencing out its owner; ``actor`` is
        recorded in its WorkflowTerminated event."""

    @abc.abstractmethod
    def retry(self, workflow_id: str, now: float,
              actor: dict[str, str] | None = None) -> WorkflowRow | None:
        """Re-open a FAILED workflow from its failed step (``plan_retry``): append a
        WorkflowRedriven event (with ``actor``, if given) and make it runnable. Raises
        ``RetryRefused``."""

    # --- worker side ---------------------------------------------------------------------
    @abc.abstractmethod
    def register_worker(self, info: WorkerInfo) -> None: ...

    @abc.abstractmethod
    def renew_worker(self, worker_id: str, lease_until: float) -> bool:
        """Extend the lease; False if the worker was declared dead (its row is gone)."""

    @abc.abstractmethod
    def remove_worker(self, worker_id: str, now: float) -> int:
        """Drop the worker and release whatever it still owns (fenced), due at ``now``
        (engine-clock time). Returns the number of workflows released."""

    @abc.abstractmethod
    def release_all_but(self, worker_id: str, keep: str, now: float) -> list[str]:
        """Release (fenced, due at ``now``) every run the worker owns except ``keep``; the
        worker stays registered. Returns the ids released (for the watchdog: a workflow body
        that holds the hub's thread must not hold up the worker's other runs)."""

    @abc.abstractmethod
    def workers(self) -> list[WorkerInfo]: ...

    @abc.abstractmethod
    def claim(self, worker_id: str, names: Sequence[str], now: float,
              limit: int) -> list[Claimed]:
        """Take up to ``limit`` due workflows with these names, bumping their epochs."""

    @abc.abstractmethod
    def commit(self, writes: Sequence[Write], now: float,
               creates: Sequence[tuple[NewWorkflow, Event]] = ()) -> CommitResult:
        """Apply all writes in one transaction; a write whose epoch is stale is skipped.

        ``creates`` are new workflows (as for :meth:`create`) inserted in the same
        transaction; ``CommitResult.created`` maps each id to ``(row, created)``.
        """

    @abc.abstractmethod
    def next_wake(self, names: Sequence[str]) -> float | None:
        """The earliest ``wake_at`` among unowned active workflows with these names."""

    @abc.abstractmethod
    def record_names(self, names: Sequence[str], now: float) -> None:
        """Remember workflow names some worker can run (so clients can validate starts)."""

    @abc.abstractmethod
    def known_names(self) -> list[str]: ...

    # --- events, signals, queries ---------------------------------------------------------

    @abc.abstractmethod
    def publish(self, event_id: str, type_: str, key: str, data: str | None, now: float,
                ttl: float) -> PublishResult:
        """Store the event; deliver it to every workflow waiting on (type, key) — then it is
        not buffered — or keep it for the first matching wait until ``now + ttl``."""

    @abc.abstractmethod
    def send_signal(self, workflow_id: str, name: str, data: str | None, now: float,
                    actor: dict[str, str] | None = None) -> bool:
        """Queue a signal for a workflow (in order); True if a waiting wait took it. The
        ``actor`` goes with it into the wait's completion."""

    @abc.abstractmethod
    def take(self, workflow_id: str, pos: int, conditions: Sequence[Condition], now: float,
             register: bool) -> Delivery | None:
        """What was delivered to the wait at ``pos``, else the first buffered event or queued
        signal matching a condition (consumed by this wait, once). With nothing to take,
        ``register`` the wait (so publishing wakes the workflow), or give it up."""

    @abc.abstractmethod
    def query_state(self, workflow_id: str, key: str) -> tuple[bool, str | None]:
        """``(found, JSON value)`` of the workflow's latest ``ctx.set_state(key, ...)``."""

    @abc.abstractmethod
    def expire_events(self, now: float) -> int:
        """Delete events past their time-to-live; returns how many. Each that no wait
        consumed is a WARNING naming it (``legato.events``), written once: by the store
        that deleted it, after its transaction committed."""

    @abc.abstractmethod
    def buffered_events(self, type_: str | None, key: str | None, now: float,
                        limit: int) -> list[BufferedEvent]:
        """Events no wait consumed yet and not expired at ``now``, of ``type_`` and ``key``
        (either given), oldest first."""

    # --- users and human tasks -----------------------------------------------------------

    @abc.abstractmethod
    def add_user(self, name: str, groups: Sequence[str], now: float) -> None:
        """Create the user if new and add it to ``groups``."""

    @abc.abstractmethod
    def user_groups(self, name: str) -> frozenset[str] | None:
        """The user's groups, or None if there is no such user."""

    @abc.abstractmethod
    def list_users(self) -> list[tuple[str, list[str]]]: ...

    @abc.abstractmethod
    def create_task(self, task: Task, now: float) -> Task:
        """Insert the task (idempotent by id) and return what is stored."""

    @abc.abstractmethod
    def get_task(self, task_id: str) -> Task | None: ...

    @abc.abstractmethod
    def list_tasks(self, assignee: str | None, groups: Sequence[str] | None,
                   statuses: Sequence[str] | None, limit: int,
                   workflow_id: str | None = None) -> list[Task]:
        """Tasks for ``assignee`` or any of ``groups`` (either given), in one of
        ``statuses`` (None: any), of the run ``workflow_id`` (if given), oldest first."""

    @abc.abstractmethod
    def save_task(self, task: Task, expected_version: int, now: float, user: str | None,
                  action: str, detail: Any, deliver: bool,
                  token_id: str | None = None) -> bool:
        """Store the task if still at ``expected_version`` and audit the action (by
        ``user``, through the API token ``token_id`` if any); with ``deliver``, hand
        ``task.result`` to the workflow waiting for it. False on a race."""

    @abc.abstractmethod
    def task_history(self, task_id: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def changed_tasks(self, floor: tuple[float, str] | None, limit: int) -> list[TaskChange]:
        """Human tasks by ``(updated_at, id)`` from ``floor`` (inclusive; None: the first),
        for the changes feed (:mod:`legato.domain.changes`)."""

    @abc.abstractmethod
    def latest_task_changes(self, limit: int) -> list[TaskChange]:
        """The ``limit`` human tasks updated last, newest first."""

    # --- queues ---------------------------------------------------------------------------

    @abc.abstractmethod
    def put_queue(self, name: str, concurrency: int | None, rate: tuple[int, float] | None,
                  per_key: int | None, now: float) -> None:
        """Store a queue's limits (``claim`` enforces them across all workers)."""

    @abc.abstractmethod
    def queue_stats(self, now: float) -> list[dict[str, Any]]:
        """Per queue: limits, depth (waiting to start), running, completed in the last 60 s."""

    # --- schedules ------------------------------------------------------------------------

    @abc.abstractmethod
    def put_schedule(self, s: ScheduleRow, now: float) -> ScheduleRow:
        """Create the schedule, or update its definition (keeping pause state, and its next
        tick unless the cron or timezone changed)."""

    @abc.abstractmethod
    def get_schedule(self, name: str) -> ScheduleRow | None: ...

    @abc.abstractmethod
    def list_schedules(self) -> list[ScheduleRow]: ...

    @abc.abstractmethod
    def set_schedule_paused(self, name: str, paused: bool, next_tick: float | None,
                            now: float) -> bool: ...

    @abc.abstractmethod
    def delete_schedule(self, name: str) -> bool: ...

    @abc.abstractmethod
    def due_schedules(self, now: float) -> list[ScheduleRow]: ...

    @abc.abstractmethod
    def next_schedule_tick(self) -> float | None: ...

    @abc.abstractmethod
    def advance_schedule(self, name: str, expected_next: float, new_next: float,
                         last_tick: float | None, runs: Sequence[tuple[NewWorkflow, Event]],
                         now: float) -> bool:
        """Move the schedule on from ``expected_next`` and create its runs, atomically;
        False if another worker did it first (so each tick runs once)."""

    # --- circuit breakers ----------------------------------------------------------------

    @abc.abstractmethod
    def circuit_load(self, name: str) -> CircuitState | None: ...

    @abc.abstractmethod
    def circuit_save(self, new: CircuitState, expected_version: int, now: float,
                     source: str | None) -> bool:
        """Store ``new`` if the breaker is still at ``expected_version`` (0: absent); audit
        a transition from ``source`` when the state changed. False on a lost race."""

    @abc.abstractmethod
    def circuits(self) -> list[CircuitState]: ...

    @abc.abstractmethod
    def circuit_transitions(self, name: str | None, limit: int
                            ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def owned_cancels(self, worker_id: str) -> list[str]:
        """Ids of workflows this worker owns that were asked to cancel."""

    # --- API tokens and the operator log ----------------------------------------------------

    @abc.abstractmethod
    def create_token(self, info: TokenInfo, secret_hash: str, entry: OpEntry) -> bool:
        """Store a new token (only the hash of its secret) and its operator-log ``entry``,
        in one transaction; False (nothing written) if its id or hash is taken."""

    @abc.abstractmethod
    def get_token(self, token_id: str) -> TokenInfo | None: ...

    @abc.abstractmethod
    def token_by_hash(self, secret_hash: str) -> TokenInfo | None: ...

    @abc.abstractmethod
    def list_tokens(self) -> list[TokenInfo]:
        """Every token, revoked and expired ones too, oldest first."""

    @abc.abstractmethod
    def revoke_token(self, token_id: str, now: float, entry: OpEntry) -> TokenInfo | None:
        """Revoke the token at ``now`` and record ``entry`` in one transaction (nothing if it
        was revoked already); its info afterwards, None if there is no such token."""

    @abc.abstractmethod
    def token_used(self, token_id: str, now: float, before: float) -> bool:
        """Set the token's ``last_used_at`` to ``now`` unless one at ``before`` or later is
        stored (so a busy API writes it seldom); True if written."""

    @abc.abstractmethod
    def tokens_exist(self) -> bool:
        """Whether any token that is not revoked exists (expired ones count)."""

    @abc.abstractmethod
    def oplog_append(self, entry: OpEntry) -> None: ...

    @abc.abstractmethod
    def oplog_list(self, since: float | None, action: str | None,
                   limit: int) -> list[OpEntry]:
        """Entries at ``since`` or later and of ``action`` (either given), newest first."""

    def notify(self) -> None:
        """Wake the workers of other processes: this process made work runnable (started an
        unowned run, delivered an event, asked for a cancel). Best effort, never raises.
        Backends whose writes notify by themselves (PostgreSQL) do nothing here."""
        return None

    def watch_ended(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(workflow_id)`` (from any thread) when another process ends a run,
        where the backend can say so cheaply (SQLite on Linux); returns what unsubscribes.
        The default cannot: waiters re-read their rows."""
        return lambda: None

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) when other processes make work runnable.

        Backends that can notify (PostgreSQL LISTEN/NOTIFY) call it on every notification;
        the default cannot, and workers fall back to polling :meth:`change_token`.
        Returns a function that unsubscribes.
        """
        return lambda: None

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a failed write may succeed if simply tried again (the database is
        unreachable, restarting or busy) rather than refused for what it writes."""
        return True

    def change_token(self) -> int | None:
        """A number that changes when another connection commits (None: unknown)."""
        return None

    def is_alive(self, info: WorkerInfo) -> bool | None:
        """Whether the worker's process provably lives (True/False) or cannot be told (None)."""
        return None

    def reap(self, me: str, now: float, wake_at: float | None = None,
             on_reaped: Callable[[WorkerInfo], None] | None = None) -> int:
        """Remove dead workers (lease expired by wall-clock ``now``, or provably dead) and
        free their workflows, due at ``wake_at`` (engine-clock time; default ``now``)."""
        freed = 0
        for w in self.workers():
            if w.id == me:
                continue
            alive = self.is_alive(w)
            if alive is False or w.lease_until < now:
                freed += self.remove_worker(w.id, now if wake_at is None else wake_at)
                if on_reaped is not None:
                    on_reaped(w)
        return freed + self.release_orphans(me, now if wake_at is None else wake_at)

    @abc.abstractmethod
    def release_orphans(self, me: str, now: float) -> int:
        """Free active workflows owned by a worker that is no longer registered (its claim
        committed just after it was declared dead): nobody else would ever reap them."""


__all__ = [
    "HOST",
    "Claimed",
    "CommitResult",
    "Condition",
    "CreateConflict",
    "Delivered",
    "Delivery",
    "NewWorkflow",
    "OpEntry",
    "PublishResult",
    "ScheduleRow",
    "Store",
    "TokenInfo",
    "WorkerInfo",
    "WorkflowRow",
    "Write",
]
