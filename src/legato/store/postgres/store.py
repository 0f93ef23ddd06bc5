"""The shared store: PostgreSQL through psycopg 3, for many worker processes on many hosts.

Semantics mirror the SQLite store exactly (``legato.store.sqlite``); what differs is how they
are enforced when writers really run in parallel:

* claiming takes due rows ``FOR UPDATE SKIP LOCKED``, so concurrent claimers never wait for
  or get the same workflow; claiming bumps the epoch;
* a group commit locks the rows it writes and the rows they affect (parents, children) in
  id order, so two commits cannot deadlock; drops every write whose epoch is stale
  (fencing) and writes the rest in one transaction, one round-trip per statement kind
  (``executemany`` in pipeline mode);
* a worker holds a session advisory lock for its lifetime (:class:`LockKeeper`); a worker
  whose lock is gone is provably dead and its workflows are taken over at once;
* anything that makes work runnable for other processes sends ``NOTIFY`` in its own
  transaction; :meth:`subscribe` hears it through a ``LISTEN`` thread (:class:`Listener`).

What both SQL stores share (events' signals and waits, human tasks, schedules, circuits,
queue limits, reading and controlling runs) is :class:`legato.store.sql_store.SQLStore`,
with the row locks it asks for supplied here; every statement is a block of
``sql/postgres/queries.sql`` (:mod:`legato.store.postgres.queries`), with this store's schema
filled in.

A connection lost mid-run makes the operation raise; callers retry. Commits are idempotent
under retry (a commit whose reply was lost may be sent again), and a claim or an adopted
start whose reply was lost is handed out again by the worker's next claim.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import psycopg
from psycopg_pool import ConnectionPool

from legato.domain import codec
from legato.domain import status as st
from legato.domain.events import Event
from legato.domain.queue import admit
from legato.errors import ConfigError
from legato.store.base import (
    Claimed,
    CommitResult,
    Condition,
    CreateConflict,
    NewWorkflow,
    PublishResult,
    WorkerInfo,
    WorkflowRow,
    Write,
)
from legato.store.migrations import SchemaInfo
from legato.store.postgres import arrays
from legato.store.postgres import schema as pg_schema
from legato.store.postgres.arrays import BigintArray, TextArray
from legato.store.postgres.conninfo import Settings, parse
from legato.store.postgres.pipeline import pipelined
from legato.store.postgres.queries import PostgresQueries
from legato.store.postgres.session import Listener, LockKeeper
from legato.store.sql_common import (
    event_params,
    fence,
    new_row,
    prepare_writes,
    row_to_event,
    row_to_workflow,
)
from legato.store.sql_runs import RunSQL
from legato.store.sql_store import Conn, SQLStore

log = logging.getLogger("legato.store.postgres")

_POOL_CHECK_EVERY = 0.5  # seconds between pool sweeps after connection errors
_FALLBACK_POLLS_PER_S = 10  # while notifications cannot be heard
_RECLAIM_DELAY = 0.01  # seconds before claiming again rows that were locked a moment ago


class PostgresStore(RunSQL, SQLStore):
    """Workflows, journals and workers in one schema of a PostgreSQL database.

    >>> store = PostgresStore("postgresql://app@db.internal/app?schema=orders")
    """

    q: PostgresQueries

    def __init__(self, url: str, *, schema: str | None = None,
                 pool_size: int | None = None, migrate: bool = True) -> None:
        self.url = url
        self.settings: Settings = parse(url, schema=schema, pool_size=pool_size)
        self.safe_url = self.settings.safe_url
        self.schema = self.settings.schema
        self.q = PostgresQueries(self.settings.quoted_schema)
        self.channel = self.settings.channel
        self._doubt: dict[str, list[tuple[str, int]]] = {}  # worker -> maybe-owned rows
        self._doubt_lock = threading.Lock()
        self._last_check = 0.0
        self._callbacks: list[Callable[[], None]] = []
        self._cb_lock = threading.Lock()
        self._listener: Listener | None = None
        self._poke_timer: threading.Timer | None = None
        #: tests may set this to raise at named points ("claim_committed": a claim's
        #: transaction committed but its reply is about to be lost)
        self.fault: Callable[[str], None] | None = None
        # either also proves the database is reachable, with a clear error if not
        if migrate:
            self.migrate()
        else:  # open only a schema that exists and suits this code; create nothing
            self.schema_info().require_ready()
        app = self.settings.application_name
        self.keeper = LockKeeper(self.settings.conninfo, self.settings.lock_prefix(), self.q,
                                 f"{app} worker")
        self._pool_lock = threading.Lock()
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._get_pool()

    # --- connections ---------------------------------------------------------------------

    def _get_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        """The pool, opened on first use (again after :meth:`close`, like the SQLite store)."""
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                pool = self._pool
                if pool is None:
                    pool = ConnectionPool(
                        self.settings.conninfo, min_size=self.settings.pool_min,
                        max_size=self.settings.pool_size, kwargs={"autocommit": True},
                        configure=_configure,
                        timeout=self.settings.pool_timeout, open=False,
                        name=f"legato-{self.schema}")
                    pool.open(wait=False)
                    self._pool = pool
        return pool

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        pool = self._get_pool()
        try:
            with pool.connection() as conn:
                yield conn
        except psycopg.OperationalError:
            self._sweep(pool)
            raise

    def _sweep(self, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        """After a connection error, drop every idle connection that is dead as well."""
        now = time.monotonic()
        if now - self._last_check < _POOL_CHECK_EVERY or pool.closed:
            return
        self._last_check = now
        with contextlib.suppress(Exception):
            pool.check()

    def _event_lock_name(self, type_: str, key: str) -> str:
        return f"{self.settings.lock_prefix()}event:{len(type_)}:{type_}:{key}"

    def _event_id_lock_name(self, event_id: str) -> str:
        return f"{self.settings.lock_prefix()}event-id:{event_id}"

    def _queue_lock_name(self, queue: str) -> str:
        return f"{self.settings.lock_prefix()}queue:{queue}"

    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, params).fetchall()

    # what the shared code (SQLStore) needs: transactions run side by side here, so a
    # delivery locks its run's row first (and a wait's take the events' keys before it)

    def _reader(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        return self._conn()

    def _writer(self, single: bool = False) -> contextlib.AbstractContextManager[
            psycopg.Connection[Any]]:
        return self._conn() if single else self._transaction()  # one statement: autocommit

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._conn() as conn, conn.transaction():
            yield conn

    def _many(self, c: Conn, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with cast("psycopg.Connection[Any]", c).cursor() as cur:
            cur.executemany(sql, rows)

    def _array(self, values: Iterable[str]) -> TextArray:
        return TextArray(values)

    def _create_runs_in(self, c: Conn, runs: Sequence[tuple[NewWorkflow, Event]]) -> None:
        self._insert_workflows(cast("psycopg.Connection[Any]", c), runs)

    def _terminated_in(self, c: Conn, workflow_id: str, now: float) -> None:
        self._ended(cast("psycopg.Connection[Any]", c), [(workflow_id, None)],
                    [(workflow_id, None)], now)

    def _notify_in(self, c: Conn) -> None:
        c.execute(self.q.notify, {"channel": self.channel})

    def _lock_runs(self, c: Conn, ids: Sequence[str]) -> None:
        """Lock these runs' rows, in id order (as every multi-row lock here is)."""
        if ids:
            c.execute(self.q.lock_workflows, (TextArray(sorted(set(ids))),))

    def _lock_for_take(self, c: Conn, workflow_id: str,
                       conditions: Sequence[Condition]) -> None:
        # the events' keys first, as a publisher takes them: either the wait sees the
        # buffered event, or the publisher sees the registered wait
        keys = sorted({self._event_lock_name(cd.name, cd.key) for cd in conditions
                       if cd.kind == "event"})
        if keys:
            c.execute(self.q.key_locks, (TextArray(keys),))
        self._lock_runs(c, [workflow_id])

    def _lock_task_waiters(self, c: Conn, task_id: str) -> None:
        self._lock_runs(c, [r[0] for r in c.execute(self.q.task_waits,
                                                     {"task": task_id}).fetchall()])

    def close(self) -> None:
        """Stop listening, drop the workers' locks and close the pool.

        The store stays usable: a later call opens a new pool (handles outlive engines).
        """
        with self._cb_lock:
            listener, self._listener = self._listener, None
            self._callbacks.clear()
        if listener is not None:
            listener.stop()
        self.keeper.close()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection of its own (for migrations and schema checks), not from the pool."""
        try:
            return psycopg.connect(self.settings.conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to PostgreSQL at {self.safe_url}: "
                              f"{_one_line(exc)}") from None

    def migrate(self, target: int | None = None) -> int:
        conn = self._connect()
        try:
            return pg_schema.migrate(conn, self.schema, self.settings.lock_prefix() + "migrate",
                                     target=target, safe_url=self.safe_url)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot create or upgrade legato's tables in schema "
                              f"{self.schema!r} of {self.safe_url}: {_one_line(exc)}") from None
        finally:
            conn.close()

    def schema_info(self) -> SchemaInfo:
        conn = self._connect()
        try:
            return pg_schema.inspect(conn, self.schema, self.safe_url)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot read legato's tables in schema {self.schema!r} of "
                              f"{self.safe_url}: {_one_line(exc)}") from None
        finally:
            conn.close()

    # --- notifications -------------------------------------------------------------------

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._cb_lock:
            self._callbacks.append(callback)
            start = self._listener is None
            if start:
                self._listener = Listener(self.settings.conninfo, self.channel, self._notified,
                                          self.safe_url,
                                          f"{self.settings.application_name} listen")
            listener = self._listener
        if start and listener is not None:
            listener.start()

        def unsubscribe() -> None:
            with self._cb_lock, contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def _poke_soon(self) -> None:
        if self._poke_timer is not None and self._poke_timer.is_alive():
            return
        timer = threading.Timer(_RECLAIM_DELAY, self._notified)
        timer.daemon = True
        self._poke_timer = timer
        timer.start()

    def _notified(self) -> None:
        with self._cb_lock:
            callbacks = list(self._callbacks)
        for cb in callbacks:
            cb()

    @property
    def listening(self) -> bool:
        """Whether notifications are being heard right now."""
        listener = self._listener
        return listener is not None and listener.connected

    def is_transient(self, exc: BaseException) -> bool:
        # the server restarting or unreachable, the connection lost; not a refused write
        return isinstance(exc, psycopg.OperationalError | ConnectionError | TimeoutError)

    def change_token(self) -> int | None:
        listener = self._listener
        if listener is not None and listener.connected:
            return listener.count  # changes exactly when a notification arrived
        # not listening (yet, or the connection is being re-established): a token that
        # changes ten times a second makes the worker poll at that pace meanwhile
        return -int(time.monotonic() * _FALLBACK_POLLS_PER_S)

    # --- client side ---------------------------------------------------------------------

    def _create_params(self, new: NewWorkflow, started: Event) -> tuple[Any, ...]:
        row = new_row(new)
        return (row.id, row.name, row.status, row.input, row.created_at, row.updated_at,
                row.owner, row.epoch, row.wake_at, row.deadline, row.queue, row.priority,
                new.parent_id, new.queue_key, new.now if new.owner else None, new.business_key,
                *event_params(new.id, started)[1:], self.channel, new.owner is None)

    def create(self, new: NewWorkflow, started: Event) -> tuple[WorkflowRow, bool]:
        try:
            rows = self._fetchall(self.q.create, self._create_params(new, started))
        except psycopg.OperationalError:
            self._creates_in_doubt([new])
            raise
        if rows[0][0] == 0:
            existing = self.get(new.id)
            if existing is None:  # pragma: no cover - rows are never deleted
                raise RuntimeError(f"workflow {new.id!r} vanished while being created")
            return existing, False
        return new_row(new), True

    def create_many(self, items: Sequence[tuple[NewWorkflow, Event]]
                    ) -> list[tuple[WorkflowRow, bool]]:
        if not items:
            return []
        params = [self._create_params(new, started) for new, started in items]
        try:
            with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(self.q.create, params, returning=True)
                inserted: list[bool] = []
                while True:
                    r = cur.fetchone()
                    inserted.append(r is not None and r[0] == 1)
                    if not cur.nextset():
                        break
                missing = [new.id for (new, _), ok in zip(items, inserted, strict=True)
                           if not ok]
                existing = {} if not missing else {
                    r[0]: row_to_workflow(r) for r in
                    conn.execute(self.q.get_many, (missing,)).fetchall()}
                out: list[tuple[WorkflowRow, bool]] = []
                for i, ((new, _), ok) in enumerate(zip(items, inserted, strict=True)):
                    if ok:
                        out.append((new_row(new), True))
                        continue
                    row = existing[new.id]
                    if row.name != new.name or row.input != new.input:
                        raise CreateConflict(i, row)  # rolls the whole batch back
                    out.append((row, False))
        except psycopg.OperationalError:
            self._creates_in_doubt([new for new, _ in items])
            raise
        return out

    def _insert_workflows(self, conn: psycopg.Connection[Any],
                          news: Sequence[tuple[NewWorkflow, Event]]) -> None:
        """Insert new workflows (idempotent by id) inside the caller's transaction."""
        if news:
            with conn.cursor() as cur:
                cur.executemany(self.q.create, [self._create_params(n, e) for n, e in news])

    def _creates_in_doubt(self, news: Sequence[NewWorkflow]) -> None:
        """An insert owned by a worker whose reply was lost: its next claim hands it out."""
        for new in news:
            if new.owner:
                self._in_doubt(new.owner, [(new.id, 1)])

    def purge(self, before: float, statuses: Sequence[str], limit: int) -> list[str]:
        with self._conn() as conn, conn.transaction():
            rows = conn.execute(self.q.purge, {"statuses": TextArray(statuses),
                                               "before": before, "limit": limit}).fetchall()
        return [r[0] for r in rows]

    def _ended(self, conn: psycopg.Connection[Any], ended: Sequence[tuple[str, int | None]],
               cancelled: Sequence[tuple[str, int | None]], now: float) -> None:
        """Workflows (id, epoch) ended: wake their waiting parents, forget their waits and
        deliveries, cancel their open tasks, and cancel the children of those that were
        cancelled or timed out. Only for the workflows whose row still has that epoch (a
        fenced write ended nothing; None: no fence); their rows are locked already."""
        if ended:
            conn.execute(self.q.ended, {
                "ids": TextArray(i for i, _ in ended),
                "epochs": BigintArray(e for _, e in ended), "now": now,
                "why": codec.dumps("the workflow ended"), "channel": self.channel})
        if cancelled:
            conn.execute(self.q.cancel_children, {
                "ids": TextArray(i for i, _ in cancelled),
                "epochs": BigintArray(e for _, e in cancelled),
                "now": now, "channel": self.channel})

    # --- workers -------------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        lease = max(info.lease_until - info.started_at, 0.0)
        self.keeper.hold(info.id, self.q.upsert_worker,
                         (info.id, info.host, info.pid, info.started_at, info.lease_until, lease))

    def renew_worker(self, worker_id: str, lease_until: float) -> bool:
        renewal = {"lease_until": lease_until, "worker": worker_id}
        # on the lock session: a renewal that succeeds also proves the lock is still held
        if worker_id in self.keeper.held:
            return self.keeper.run(self.q.renew_worker, renewal) == 1
        with self._conn() as conn:
            return conn.execute(self.q.renew_worker, renewal).rowcount == 1

    def remove_worker(self, worker_id: str, now: float) -> int:
        freed, _ = self._remove_worker_rows(worker_id, now)
        self.keeper.release(worker_id)
        return freed

    def is_alive(self, info: WorkerInfo) -> bool | None:
        if info.id in self.keeper.held:
            return True
        rows = self._fetchall(self.q.liveness_of, (self.settings.lock_prefix(), info.id))
        return None if not rows or rows[0][5] is None else bool(rows[0][5])

    def reap(self, me: str, now: float, wake_at: float | None = None,
             on_reaped: Callable[[WorkerInfo], None] | None = None) -> int:
        """Remove dead workers and free their workflows.

        Dead means: its lock is provably gone, or its lease expired. A lease that ran out
        while the server itself was down does not count until the worker has had one full
        lease since the server came back to renew it.
        """
        rows = self._fetchall(self.q.liveness_of_others, (self.settings.lock_prefix(), me))
        freed = 0
        for r in rows:
            info = WorkerInfo(r[0], r[1], int(r[2]), float(r[3]), float(r[4]))
            if r[0] in self.keeper.held:
                continue
            expired = info.lease_until < now and bool(r[6])
            if r[5] is False or expired:
                freed += self.remove_worker(info.id, now if wake_at is None else wake_at)
                if on_reaped is not None:
                    on_reaped(info)
        return freed + self.release_orphans(me, now if wake_at is None else wake_at)

    def claim(self, worker_id: str, names: Sequence[str], now: float,
              limit: int) -> list[Claimed]:
        if not names or limit <= 0:
            return []
        with self._doubt_lock:
            doubt = self._doubt.pop(worker_id, [])
        maybe: list[tuple[str, int]] = []
        try:
            # one transaction, two round trips: one statement claims the rows (with their
            # journals and inboxes) and says what else may be due; then the runs admitted
            # from queues, if any, and the commit (the claimed rows are read before it: if
            # its reply is lost, they are in doubt, see below)
            with self._conn() as conn:
                with pipelined(conn):
                    kinds = TextArray(names)
                    got = conn.execute(self.q.claim, (now, kinds, limit, worker_id, now,
                                                        now, now, kinds, now, kinds)).fetchall()
                    rows = [r for r in got if r[0] is not None]
                    skipped, queues = next((r[-2], r[-1]) for r in got if r[0] is None)
                    if len(rows) < limit and skipped:
                        # SQLite would have waited for those rows; a worker that believes
                        # them "due but not ours" would not look again until its clock
                        # moves on. Ask it to look again in a moment instead.
                        self._poke_soon()
                    if len(rows) < limit and queues:
                        admitted = self._admit_queued(conn, names, now, limit - len(rows),
                                                      queues)
                        if admitted:
                            rows += conn.execute(self.q.claim_ids, (
                                worker_id, now, now, TextArray(admitted))).fetchall()
                    maybe = [(r[0], int(r[11])) for r in rows]
                    if doubt:
                        ids = [d[0] for d in doubt]
                        rows += conn.execute(self.q.reclaim, (
                            TextArray(ids), BigintArray(d[1] for d in doubt),
                            worker_id)).fetchall()
                if self.fault is not None:
                    self.fault("claim_committed")
            claimed = {r[0]: _claimed(r) for r in rows}
        except BaseException:
            # rows this worker may own without knowing it: hand them out on the next claim
            self._in_doubt(worker_id, doubt + maybe)
            raise
        return sorted(claimed.values(), key=lambda c: (-c.row.priority, c.row.wake_at or 0.0))

    def _in_doubt(self, worker_id: str, rows: list[tuple[str, int]]) -> None:
        if rows:
            with self._doubt_lock:
                self._doubt.setdefault(worker_id, []).extend(rows)

    def commit(self, writes: Sequence[Write], now: float,
               creates: Sequence[tuple[NewWorkflow, Event]] = ()) -> CommitResult:
        result = CommitResult()
        if not writes and not creates:
            return result
        try:
            self._commit(writes, now, creates, result)
        except psycopg.OperationalError:
            self._creates_in_doubt([new for new, _ in creates])
            raise
        return result

    def _commit(self, writes: Sequence[Write], now: float,
                creates: Sequence[tuple[NewWorkflow, Event]], result: CommitResult) -> None:
        # One round trip: every write carries its epoch into the SQL (see Queries.append),
        # so nothing has to be read before the writes are sent; the locked rows' epochs,
        # read after the commit, say which writes were fenced (as the SQL did).
        ids = sorted({w.workflow_id for w in writes})
        children = [c for w in writes
                    for c in ([w.await_child] if w.await_child else []) + [*w.await_children]]
        ending = [w.workflow_id for w in writes if w.status in st.TERMINAL]
        stopping = [w.workflow_id for w in writes if w.status in (st.CANCELLED, st.TIMED_OUT)]
        prepared = prepare_writes(writes, now)
        events = [(*row[1:], w.workflow_id, w.epoch) for w, rows, _, _ in prepared
                  for row in rows]
        states = [(*row[1:], w.workflow_id, w.epoch) for w, _, rows, _ in prepared
                  for row in rows]
        updates = [u for _, _, _, u in prepared if u is not None]
        ended = [(w.workflow_id, w.epoch) for w in writes if w.status in st.TERMINAL]
        cancelled = [(w.workflow_id, w.epoch) for w in writes
                     if w.status in (st.CANCELLED, st.TIMED_OUT)]
        # runnable again, now or later: the others should look (see Queries.notify_held)
        released = [(w.workflow_id, w.epoch) for w in writes
                    if w.release and w.status is not None and w.status not in st.TERMINAL]
        with self._conn() as conn, conn.cursor() as made, conn.cursor() as cur:
            rows_cur = lock_cur = None
            with pipelined(conn):
                if creates:
                    made.executemany(self.q.create,
                                     [self._create_params(n, e) for n, e in creates],
                                     returning=True)
                    rows_cur = conn.execute(self.q.get_many,
                                            (TextArray(n.id for n, _ in creates),))
                if ids:  # the rows to write, and those they affect, locked in id order
                    lock_cur = conn.execute(self.q.lock_for_commit,
                                            (TextArray(ids + children), TextArray(ending),
                                             TextArray(stopping)))
                if events:
                    cur.executemany(self.q.append, events)
                if states:
                    cur.executemany(self.q.state_set, states)
                if ends := [u for u in updates if not u["active"]]:
                    cur.executemany(self.q.update_ended, ends)
                if goes_on := [u for u in updates if u["active"]]:
                    cur.executemany(self.q.update, goes_on)
                self._ended(conn, ended, cancelled, now)
                if released:
                    conn.execute(self.q.notify_held, {
                        "ids": TextArray(i for i, _ in released),
                        "epochs": BigintArray(e for _, e in released),
                        "channel": self.channel})
            if creates and rows_cur is not None:
                inserted: list[bool] = []
                while True:
                    row = made.fetchone()
                    inserted.append(bool(row and row[0]))
                    if not made.nextset():
                        break
                existing = {r[0]: r for r in rows_cur.fetchall()}
                for (new, _), was_made in zip(creates, inserted, strict=True):
                    result.created[new.id] = ((new_row(new), True) if was_made else
                                              (row_to_workflow(existing[new.id]), False))
            current: dict[str, tuple[int, bool]] = {}
            if lock_cur is not None:
                current = {r[0]: (int(r[1]), bool(r[2])) for r in lock_cur.fetchall()}
        fence(prepared, current, result)

    def next_wake(self, names: Sequence[str]) -> float | None:
        if not names:
            return None
        rows = self._fetchall(self.q.next_wake, (TextArray(names),))
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    def _admit_queued(self, conn: psycopg.Connection[Any], names: Sequence[str], now: float,
                      room: int, queues: Sequence[str] | None = None) -> list[str]:
        """Queued runs that may start now without breaking their queue's limits (locked
        until the caller's transaction ends). ``queues``: the result of
        ``queues_with_work`` if the caller read it already (in the same transaction).

        Workers admit queued runs in parallel here, so admission to one queue is serialised
        by a transaction-level advisory lock on the queue: the counts a claimer reads
        (running, started recently, busy keys) stay true until it commits what it admitted.
        """
        q = self.q
        admitted: list[str] = []
        kinds = TextArray(names)
        if queues is None:
            queues = [name for (name,) in conn.execute(q.queues_with_work,
                                                       (now, kinds)).fetchall()]
        for queue in queues:
            slots = room - len(admitted)
            if slots <= 0:
                break
            conn.execute(q.queue_lock, (self._queue_lock_name(queue),))
            cfg = conn.execute(q.queue_config, {"queue": queue}).fetchone()
            concurrency, rate_count, rate_period, per_key = cfg or (None, None, None, None)
            if concurrency is not None:
                running = conn.execute(q.queue_running, (queue,)).fetchone()
                slots = min(slots, concurrency - (running[0] if running else 0))
            if rate_count is not None and rate_period is not None:
                recent = conn.execute(q.queue_recent, (queue, now - rate_period)).fetchone()
                slots = min(slots, rate_count - (recent[0] if recent else 0))
            if slots <= 0:
                continue
            busy: dict[str, int] = {}
            if per_key is not None:
                busy = {k: int(n) for k, n in conn.execute(q.queue_busy_keys,
                                                           (queue,)).fetchall()}
            # with per-key limits some candidates are skipped: look further than ``slots``
            limit = slots if per_key is None else max(slots * 20, 100)
            candidates = conn.execute(q.queue_candidates, (queue, now, kinds, limit)).fetchall()
            admitted += admit(candidates, slots, per_key, busy)
        return admitted

    # --- events ----------------------------------------------------------------------------

    def publish(self, event_id: str, type_: str, key: str, data: str | None, now: float,
                ttl: float) -> PublishResult:
        # the event's key and its id locked first: a wait taken or registered for the same
        # (type, key) meanwhile is seen, and so is a publication of the same id (even under
        # another key), which makes this one a duplicate that delivers nothing
        locks = sorted([self._event_lock_name(type_, key), self._event_id_lock_name(event_id)])
        try:
            with self._conn() as conn:  # one round trip, one transaction
                with pipelined(conn):
                    conn.execute(self.q.key_locks, (TextArray(locks),))
                    cur = conn.execute(self.q.publish, {
                        "id": event_id, "type": type_, "key": key, "data": data,
                        "now": now, "expires": now + ttl, "channel": self.channel})
                row = cur.fetchone()
        except psycopg.errors.UniqueViolation:
            # stored meanwhile by a publisher that did not take the id's lock (an older
            # legato): a duplicate after all, and everything above was rolled back
            return PublishResult(event_id, [], False, duplicate=True)
        assert row is not None
        if not row[0]:
            return PublishResult(event_id, [], False, duplicate=True)
        delivered = list(row[1])
        return PublishResult(event_id, delivered, not delivered)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """A new pool connection: fast array parameters, and every statement prepared the
    first time it runs (psycopg waits for the fifth by default, and planning the store's
    larger statements costs more than running them)."""
    arrays.register(conn)
    conn.prepare_threshold = 0


def _claimed(r: tuple[Any, ...]) -> Claimed:
    """A claimed row, with its journal and inbox (the JSON arrays after its columns)."""
    c = Claimed(row_to_workflow(r), [row_to_event(e) for e in r[18] or ()])
    for pos, kind, name, key, data, source, at, actor in r[19] or ():
        c.inbox[int(pos)] = (kind, name, key, data, source, float(at), actor)
    return c


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
