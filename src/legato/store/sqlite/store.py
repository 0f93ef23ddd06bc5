"""The embedded store: one SQLite file in WAL mode, safe for many processes on one host.

Not for network filesystems (SQLite's locking is unreliable there). Liveness of worker
processes on this host is proven by an OS file lock each worker holds for its lifetime, so a
dead owner is detected at once instead of by waiting out its lease.

What both SQL stores share is :class:`legato.store.sql_store.SQLStore`; here are the
connections and the write gate, the hot paths (create, claim, commit), and what only SQLite
does (worker lock files, wake-ups between processes: :mod:`legato.store.sqlite.notify`). Every
statement is a block of ``sql/sqlite/queries.sql`` (:mod:`legato.store.sqlite.queries`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

from legato.domain import codec
from legato.domain import status as st
from legato.domain.events import Event
from legato.domain.queue import admit
from legato.errors import ConfigError, SchemaError
from legato.store.base import (
    HOST,
    Claimed,
    CommitResult,
    CreateConflict,
    NewWorkflow,
    PublishResult,
    WorkerInfo,
    WorkflowRow,
    Write,
)
from legato.store.migrations import SchemaInfo
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
from legato.store.sqlfile import statements
from legato.store.sqlite import schema as sqlite_schema
from legato.store.sqlite.notify import Notifier
from legato.store.sqlite.queries import QUERIES, SQLiteQueries

_CHUNK = 500
_PURGE = statements(QUERIES.purge)
_expanded: dict[tuple[str, int], str] = {}


def _marks(sql: str, n: int) -> str:
    """``sql`` with ``{marks}`` as ``n`` placeholders (one string per length, kept)."""
    key = (sql, n)
    out = _expanded.get(key)
    if out is None:
        out = _expanded[key] = sql.replace("{marks}", ",".join("?" * n))
    return out


def _as_json(update: dict[str, Any]) -> dict[str, Any]:
    """The lists of a final update (children, positions waited for) as JSON arrays."""
    if update["child"] is None and update["pos"] is None:
        return update
    return {**update, "child": None if update["child"] is None else json.dumps(update["child"]),
            "pos": None if update["pos"] is None else json.dumps(update["pos"])}


_migrations = sqlite_schema.scripts  # the names tests and tools know
_statements = sqlite_schema.statements


class _Start:
    """A workflow start waiting for the write lock; whoever commits next may carry it."""

    __slots__ = ("new", "queued", "result", "started")

    def __init__(self, new: NewWorkflow, started: Event) -> None:
        self.new, self.started = new, started
        self.result: tuple[WorkflowRow, bool] | None = None
        self.queued = True


class _WriteGate:
    """This process's writers to one file queue on ``lock`` (not on SQLite's busy handler,
    which sleeps in milliseconds; other processes still meet the file lock). Starts that wait
    for it are group-committed: the transaction holding the lock carries them along."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.starts: deque[_Start] = deque()


_gates: dict[str, _WriteGate] = {}
_gates_guard = threading.Lock()


def _gate_for(path: str) -> _WriteGate:
    key = os.path.realpath(path)
    with _gates_guard:
        return _gates.setdefault(key, _WriteGate())


def _run_params(new: NewWorkflow, row: WorkflowRow) -> tuple[Any, ...]:
    return (row.id, row.name, row.status, row.input, row.created_at, row.updated_at,
            row.owner, row.epoch, row.wake_at, row.deadline, row.queue, row.priority,
            new.parent_id, new.queue_key, new.now if new.owner else None, new.business_key)


class SQLiteStore(RunSQL, SQLStore):
    q: SQLiteQueries

    def __init__(self, path: str, url: str | None = None, synchronous: str = "NORMAL",
                 busy_timeout: str | int = 30000, *, migrate: bool = True) -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self.q = QUERIES
        sync = str(synchronous).upper()
        if sync not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"synchronous={synchronous!r} in {self.url}: use NORMAL or FULL")
        self.synchronous = sync
        self.busy_timeout = int(busy_timeout)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._locks: dict[str, int] = {}  # worker id -> fd of its liveness lock
        self._gate = _gate_for(path)
        self._notifier = Notifier(path, os.path.abspath(path) + "-workers")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ConfigError(f"cannot open {self.url}: folder {folder!r} does not exist")
        self.lock_dir = os.path.abspath(path) + "-workers"
        if not migrate:  # open only what exists and suits this code; create nothing
            sqlite_schema.inspect(path, self.url).require_ready()
            return
        try:
            self.migrate()
        except sqlite3.Error as exc:
            self.close()
            raise ConfigError(f"cannot use database {self.url}: {exc}") from None
        except SchemaError:
            self.close()
            raise

    # --- connections ---------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None:
            try:
                c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                    timeout=self.busy_timeout / 1000)
                c.execute(f"PRAGMA busy_timeout = {self.busy_timeout}")
                mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise ConfigError(f"cannot put {self.url} in WAL mode (got {mode})")
                c.execute(f"PRAGMA synchronous = {self.synchronous}")
                c.execute("PRAGMA cache_size = -65536")  # 64 MiB: keep hot B-tree pages
                c.execute("PRAGMA temp_store = MEMORY")
            except sqlite3.Error as exc:
                raise ConfigError(f"cannot open database {self.url}: {exc}") from None
            self._local.conn = c
            with self._all_lock:
                self._all.append(c)
        return c

    @contextlib.contextmanager
    def _tx(self, carry: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction; with ``carry`` it also commits the starts waiting for it."""
        with self._gate.lock, self._locked_tx(carry) as c:
            yield c

    @contextlib.contextmanager
    def _locked_tx(self, carry: bool) -> Iterator[sqlite3.Connection]:
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        carried: list[tuple[_Start, tuple[WorkflowRow, bool]]] = []
        try:
            yield c
            if carry:
                carried = self._carry_starts(c)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        for start, result in carried:  # published while the write lock is still held
            start.result = result

    def _carry_starts(self, c: sqlite3.Connection) -> list[tuple[_Start, tuple[WorkflowRow,
                                                                                bool]]]:
        """Insert every start queued on the gate (a start whose carrier fails is no longer
        queued, and its own thread commits it)."""
        taken: list[_Start] = []
        starts = self._gate.starts
        while starts:
            start = starts.popleft()
            start.queued = False
            taken.append(start)
        return [(start, self._create_in(c, start.new, start.started)) for start in taken]

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for c in conns:
            with contextlib.suppress(sqlite3.Error):
                c.close()
        self._local = threading.local()
        for fd in self._locks.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._locks.clear()
        self._notifier.close()

    # what the shared code (SQLStore) needs: every write transaction runs alone here (the
    # process's write gate, then the file's write lock), so nothing locks rows

    def _reader(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return contextlib.nullcontext(self._conn())

    def _writer(self, single: bool = False) -> contextlib.AbstractContextManager[
            sqlite3.Connection]:
        return self._tx()

    def _read_one(self, sql: str, params: Any = ()) -> Any:
        # a read is one call on the thread's connection (store.get() is on handles' paths)
        return self._conn().execute(sql, params).fetchone()

    def _read_all(self, sql: str, params: Any = ()) -> list[Any]:
        return self._conn().execute(sql, params).fetchall()

    def _many(self, c: Conn, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        cast(sqlite3.Connection, c).executemany(sql, rows)

    def _array(self, values: Iterable[str]) -> str:
        return json.dumps(list(values))  # read by json_each()

    def _create_runs_in(self, c: Conn, runs: Sequence[tuple[NewWorkflow, Event]]) -> None:
        for new, started in runs:
            self._create_in(cast(sqlite3.Connection, c), new, started)

    def _terminated_in(self, c: Conn, workflow_id: str, now: float) -> None:
        self._ended_in(cast(sqlite3.Connection, c), [(workflow_id, st.CANCELLED)], now)

    def _after_ended(self, ids: Sequence[str]) -> None:
        self._notifier.ended(list(ids))

    def notify(self) -> None:
        self._notifier.notify()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self._notifier.subscribe(callback)

    def watch_ended(self, callback: Callable[[str], None]) -> Callable[[], None]:
        return self._notifier.watch_ended(callback)

    def migrate(self) -> int:
        with self._tx() as c:
            return sqlite_schema.migrate(c, self.url)

    def schema_info(self) -> SchemaInfo:
        return sqlite_schema.inspect(self.path, self.url)

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError)  # locked, busy, I/O, disk full

    def change_token(self) -> int | None:
        return int(self._conn().execute("PRAGMA data_version").fetchone()[0])

    # --- client side ---------------------------------------------------------------------

    def create(self, new: NewWorkflow, started: Event) -> tuple[WorkflowRow, bool]:
        gate = self._gate
        if not gate.starts and gate.lock.acquire(blocking=False):
            try:  # no other writer in this process: one statement, its own transaction
                return self._create_alone(new, started)
            finally:
                gate.lock.release()
        # group commit: while this thread waits for the write lock, the transaction holding
        # it (the worker's, or another start's) may carry this start along
        start = _Start(new, started)
        gate.starts.append(start)
        with gate.lock:
            if start.result is None:
                if not start.queued:  # taken by a transaction that failed: ours carries it
                    gate.starts.append(start)
                    start.queued = True
                with self._locked_tx(carry=True):
                    pass
        assert start.result is not None
        return start.result

    def create_many(self, items: Sequence[tuple[NewWorkflow, Event]]
                    ) -> list[tuple[WorkflowRow, bool]]:
        if not items:
            return []
        with self._tx(carry=True) as c:
            out = [self._create_in(c, new, started) for new, started in items]
            for i, ((new, _), (row, created)) in enumerate(zip(items, out, strict=True)):
                if not created and (row.name != new.name or row.input != new.input):
                    raise CreateConflict(i, row)  # rolls the whole batch back
        return out

    def _create_in(self, c: sqlite3.Connection, new: NewWorkflow,
                   started: Event) -> tuple[WorkflowRow, bool]:
        row = new_row(new)
        cur = c.execute(self.q.insert_run, _run_params(new, row))
        if cur.rowcount != 1:
            return self._existing(c, new.id), False
        c.execute(self.q.append_event, event_params(new.id, started))
        return row, True

    def _create_alone(self, new: NewWorkflow, started: Event) -> tuple[WorkflowRow, bool]:
        """A start with the write lock of this process free: the run and its start event
        in one statement (``workflow_starts``), in autocommit: one call to SQLite instead of
        four, each of which hands the GIL to whichever thread waits for it."""
        c = self._conn()
        row = new_row(new)
        before = c.total_changes
        c.execute(self.q.insert_start,
                  (*_run_params(new, row), *event_params(new.id, started)[1:]))
        if c.total_changes - before == 2:  # the row and the event: created
            return row, True
        return self._existing(c, new.id), False

    def _existing(self, c: sqlite3.Connection, workflow_id: str) -> WorkflowRow:
        return row_to_workflow(c.execute(self.q.get_workflow, {"id": workflow_id}).fetchone())

    def purge(self, before: float, statuses: Sequence[str], limit: int) -> list[str]:
        with self._tx() as c:
            ids = [r[0] for r in c.execute(self.q.purge_ids, {
                "statuses": self._array(statuses), "before": before,
                "limit": min(limit, _CHUNK)})]
            if ids:
                gone = {"ids": json.dumps(ids)}
                for sql in _PURGE:
                    c.execute(sql, gone)
        return ids

    # --- workers -------------------------------------------------------------------------

    def register_worker(self, info: WorkerInfo) -> None:
        os.makedirs(self.lock_dir, exist_ok=True)
        path = os.path.join(self.lock_dir, f"{info.id}.lock")
        old = self._locks.pop(info.id, None)
        if old is not None:  # re-registering after being reaped: its lock file was removed
            os.close(old)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._locks[info.id] = fd
        with self._tx() as c:
            c.execute(self.q.insert_worker,
                      (info.id, info.host, info.pid, info.started_at, info.lease_until))

    def renew_worker(self, worker_id: str, lease_until: float) -> bool:
        with self._tx() as c:
            return c.execute(self.q.renew_worker, {"lease_until": lease_until,
                                                   "worker": worker_id}).rowcount == 1

    def remove_worker(self, worker_id: str, now: float) -> int:
        freed, gone = self._remove_worker_rows(worker_id, now)
        if gone is not None and gone[0] == HOST:  # a dead process's wake-up markers
            self._notifier.forget_process(int(gone[1]))
        fd = self._locks.pop(worker_id, None)
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.lock_dir, f"{worker_id}.lock"))
        return freed

    def is_alive(self, info: WorkerInfo) -> bool | None:
        if info.host != HOST or info.id in self._locks:
            return None if info.host != HOST else True
        path = os.path.join(self.lock_dir, f"{info.id}.lock")
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the lock we may just have taken
        return False

    # --- claiming ------------------------------------------------------------------------

    def claim(self, worker_id: str, names: Sequence[str], now: float,
              limit: int) -> list[Claimed]:
        if not names or limit <= 0:
            return []
        q = self.q
        with self._tx() as c:
            # runs outside a queue, or already started on one (a queue admits a run once)
            ids = [r[0] for r in c.execute(_marks(q.claim_due, len(names)),
                                           (now, *names, limit))]
            if len(ids) < limit:
                ids += self._admit_queued(c, names, now, limit - len(ids))
            if not ids:
                return []
            rows = c.execute(_marks(q.claim_rows, len(ids)),
                             (worker_id, now, now, *ids)).fetchall()
        claimed = {r[0]: Claimed(row_to_workflow(r), []) for r in rows}
        conn = self._conn()
        for i in range(0, len(ids), _CHUNK):
            part = ids[i:i + _CHUNK]
            for r in conn.execute(_marks(q.claim_journals, len(part)), part):
                claimed[r[0]].journal.append(row_to_event(r[1:]))
            for r in conn.execute(_marks(q.claim_inboxes, len(part)), part):
                claimed[r[0]].inbox[int(r[1])] = (r[2], r[3], r[4], r[5], r[6], float(r[7]),
                                                  r[8])
        return list(claimed.values())

    def _admit_queued(self, c: sqlite3.Connection, names: Sequence[str], now: float,
                      room: int) -> list[str]:
        """Queued runs that may start now without breaking their queue's limits."""
        q = self.q
        admitted: list[str] = []
        queues = [r[0] for r in c.execute(_marks(q.queues_with_work, len(names)),
                                          (now, *names))]
        for queue in queues:
            cfg = c.execute(q.queue_config, {"queue": queue}).fetchone()
            slots = room - len(admitted)
            concurrency, rate_count, rate_period, per_key = cfg or (None, None, None, None)
            if concurrency is not None:
                running = c.execute(q.queue_running, (queue,)).fetchone()[0]
                slots = min(slots, concurrency - running)
            if rate_count is not None and rate_period is not None:
                recent = c.execute(q.queue_recent, (queue, now - rate_period)).fetchone()[0]
                slots = min(slots, rate_count - recent)
            if slots <= 0:
                continue
            busy: dict[str, int] = {}
            if per_key is not None:
                busy = dict(c.execute(q.queue_busy_keys, (queue,)).fetchall())
            candidates = c.execute(_marks(q.queue_candidates, len(names)),
                                   (queue, now, *names))
            admitted += admit(candidates, slots, per_key, busy)
        return admitted

    def next_wake(self, names: Sequence[str]) -> float | None:
        if not names:
            return None
        r = self._conn().execute(_marks(self.q.next_wake, len(names)), list(names)).fetchone()
        return None if r is None or r[0] is None else float(r[0])

    # --- a group commit ------------------------------------------------------------------

    def commit(self, writes: Sequence[Write], now: float,
               creates: Sequence[tuple[NewWorkflow, Event]] = ()) -> CommitResult:
        result = CommitResult()
        if not writes and not creates:
            return result
        q = self.q
        prepared = prepare_writes(writes, now)  # encoded before the write lock is taken
        ids = list({w.workflow_id for w in writes})
        woken = 0
        ended: list[tuple[str, str | None]] = []
        with self._tx(carry=True) as c:
            for new, started in creates:
                result.created[new.id] = self._create_in(c, new, started)
            current: dict[str, tuple[int, int]] = {}
            for i in range(0, len(ids), _CHUNK):
                part = ids[i:i + _CHUNK]
                for r in c.execute(_marks(q.epochs, len(part)), part):
                    current[r[0]] = (int(r[1]), int(r[2]))
            batch = fence(prepared, current, result)
            if batch.events:
                c.executemany(q.append_event, batch.events)
            if batch.states:
                c.executemany(q.state_set, batch.states)
            if batch.updates:
                c.executemany(q.update_run, [_as_json(u) for u in batch.updates])
            ended = [(w.workflow_id, w.status) for w in batch.accepted
                     if w.status in st.TERMINAL]
            if ended:
                woken = self._ended_in(c, ended, now)
        if ended:
            self._notifier.ended([wid for wid, _ in ended])
        unowned = any(made and row.owner is None for row, made in result.created.values())
        if woken or unowned or any(w.release and w.status not in st.TERMINAL
                                   and (w.wake_at is None or w.wake_at <= now)
                                   for w in batch.accepted):
            self.notify()  # runnable now for any worker: other processes' too
        return result

    def _ended_in(self, c: sqlite3.Connection, ended: Sequence[tuple[str, str | None]],
                  now: float) -> int:
        """Workflows ended (id, status): wake their parents if they wait, forget their
        waits and deliveries, cancel their open human tasks, and cancel the children of
        cancelled (or timed out) ones. Returns how many runs this made runnable for any
        worker."""
        q = self.q
        woken = 0
        for i in range(0, len(ended), _CHUNK):
            part = ended[i:i + _CHUNK]
            ids = [wid for wid, _ in part]
            n = len(ids)
            woken += c.execute(_marks(q.wake_parents, n), (now, *ids)).rowcount
            c.execute(_marks(q.forget_waits, n), ids)
            c.execute(_marks(q.forget_inbox, n), ids)
            tasks = [r[0] for r in c.execute(_marks(q.open_tasks, n), ids)]
            if tasks:
                c.executemany(q.cancel_task, [(now, t) for t in tasks])
                c.executemany(q.task_audit, [
                    (t, now, None, "cancelled", codec.dumps("the workflow ended"), None)
                    for t in tasks])
            stopped = [(now, wid) for wid, status in part
                       if status in (st.CANCELLED, st.TIMED_OUT)]
            if stopped:
                woken += c.executemany(q.cancel_children, stopped).rowcount
        return woken

    # --- events ----------------------------------------------------------------------------

    def publish(self, event_id: str, type_: str, key: str, data: str | None, now: float,
                ttl: float) -> PublishResult:
        q = self.q
        with self._tx() as c:
            if c.execute(q.event_insert, (event_id, type_, key, data, now,
                                          now + ttl)).rowcount != 1:
                return PublishResult(event_id, [], False, duplicate=True)
            waiting = c.execute(q.event_waits, (type_, key)).fetchall()
            delivered = [wid for wid, pos in waiting
                         if self._deliver(c, wid, pos, "event", type_, key, data, event_id, now)]
            if delivered:
                c.execute(q.event_delivered, (event_id,))
        return PublishResult(event_id, delivered, not delivered)
