"""The embedded store: one SQLite file in WAL mode, safe for many processes on one host.

Not for network filesystems (SQLite's locking is unreliable there). Liveness of worker
processes on this host is proven by an OS file lock each worker holds for its lifetime, so a
dead owner is detected at once instead of by waiting out its lease.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from legato.domain import status as st
from legato.domain.circuit import CircuitState
from legato.domain.events import WORKFLOW_REDRIVEN, Event
from legato.domain.journal import plan_redrive
from legato.domain.queue import admit
from legato.errors import ConfigError, SchemaError
from legato.store import sqlite_schema
from legato.store.base import (
    HOST,
    Claimed,
    CommitResult,
    CreateConflict,
    NewWorkflow,
    Store,
    WorkerInfo,
    WorkflowRow,
    Write,
)
from legato.store.migrations import SchemaInfo
from legato.store.sql_common import (
    EVENT_COLUMNS,
    RUN_TABLES,
    WF_COLUMNS,
    error_json,
    event_params,
    fence,
    list_filter,
    new_row,
    prepare_writes,
    row_to_event,
    row_to_workflow,
)
from legato.store.sqlite_events import SQLiteEvents
from legato.store.sqlite_notify import Notifier
from legato.store.sqlite_schedules import SQLiteSchedules
from legato.store.sqlite_tasks import SQLiteTasks

_ACTIVE = "('PENDING', 'RUNNING', 'WAITING')"
_CHUNK = 500
# the new state a run's owner writes; a waiting run wakes at once if it was asked to
# cancel or the child it waits for has ended meanwhile
_FINAL_UPDATE = (
    "UPDATE workflows SET status = :status, result = :result, error = :error,"
    " detail = COALESCE(:detail, detail),"
    " wake_at = CASE WHEN :active = 0 THEN NULL"
    "  WHEN cancel_requested = 1 THEN :now"
    "  WHEN :child IS NOT NULL AND EXISTS (SELECT 1 FROM workflows k WHERE k.id IN"
    "   (SELECT value FROM json_each(:child))"
    "   AND k.status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')) THEN :now"
    "  WHEN :pos IS NOT NULL AND EXISTS (SELECT 1 FROM inbox i WHERE i.workflow_id = :id"
    "   AND i.pos IN (SELECT value FROM json_each(:pos))) THEN :now"
    "  ELSE :wake END,"
    " updated_at = :now, owner = CASE WHEN :release THEN NULL ELSE owner END,"
    " completed_at = :done WHERE id = :id AND epoch = :epoch")


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


def _marks(n: int) -> str:
    return ",".join("?" * n)


_RUN_COLUMNS = ("id, name, status, input, created_at, updated_at, owner, epoch, wake_at,"
                " deadline, queue, priority, parent_id, queue_key, started_at")
_INSERT_RUN = (f"INSERT INTO workflows ({_RUN_COLUMNS}) VALUES ({_marks(15)})"
               " ON CONFLICT (id) DO NOTHING")
_INSERT_START = (f"INSERT INTO workflow_starts ({_RUN_COLUMNS}, ev_seq, ev_type, ev_at, ev_name,"
                 f" ev_pos, ev_attempt, ev_data) VALUES ({_marks(22)})")


def _run_params(new: NewWorkflow, row: WorkflowRow) -> tuple[Any, ...]:
    return (row.id, row.name, row.status, row.input, row.created_at, row.updated_at,
            row.owner, row.epoch, row.wake_at, row.deadline, row.queue, row.priority,
            new.parent_id, new.queue_key, new.now if new.owner else None)


class SQLiteStore(SQLiteEvents, SQLiteTasks, SQLiteSchedules, Store):
    def __init__(self, path: str, url: str | None = None, synchronous: str = "NORMAL",
                 busy_timeout: str | int = 30000, *, migrate: bool = True) -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"
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
        cur = c.execute(_INSERT_RUN, _run_params(new, row))
        if cur.rowcount != 1:
            return self._existing(c, new.id), False
        c.execute("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?)", event_params(new.id, started))
        return row, True

    def _create_alone(self, new: NewWorkflow, started: Event) -> tuple[WorkflowRow, bool]:
        """A start with the write lock of this process free: the run and its start event
        in one statement (``workflow_starts``), in autocommit: one call to SQLite instead of
        four, each of which hands the GIL to whichever thread waits for it."""
        c = self._conn()
        row = new_row(new)
        before = c.total_changes
        c.execute(_INSERT_START, (*_run_params(new, row), *event_params(new.id, started)[1:]))
        if c.total_changes - before == 2:  # the row and the event: created
            return row, True
        return self._existing(c, new.id), False

    @staticmethod
    def _existing(c: sqlite3.Connection, workflow_id: str) -> WorkflowRow:
        r = c.execute(f"SELECT {WF_COLUMNS} FROM workflows WHERE id = ?",
                      (workflow_id,)).fetchone()
        return row_to_workflow(r)

    def purge(self, before: float, statuses: Sequence[str], limit: int) -> list[str]:
        with self._tx() as c:
            ids = [r[0] for r in c.execute(
                f"SELECT id FROM workflows WHERE status IN ({_marks(len(statuses))})"
                " AND completed_at < ? LIMIT ?", (*statuses, before, min(limit, _CHUNK)))]
            if ids:
                marks = _marks(len(ids))
                c.execute("DELETE FROM task_audit WHERE task_id IN (SELECT id FROM tasks"
                          f" WHERE workflow_id IN ({marks}))", ids)
                for table in RUN_TABLES:
                    c.execute(f"DELETE FROM {table} WHERE workflow_id IN ({marks})", ids)
                c.execute(f"DELETE FROM workflows WHERE id IN ({marks})", ids)
        return ids

    def count_ended(self, before: float, statuses: Sequence[str]) -> int:
        return int(self._conn().execute(
            f"SELECT COUNT(*) FROM workflows WHERE status IN ({_marks(len(statuses))})"
            " AND completed_at < ?", (*statuses, before)).fetchone()[0])

    def get(self, workflow_id: str) -> WorkflowRow | None:
        r = self._conn().execute(f"SELECT {WF_COLUMNS} FROM workflows WHERE id = ?",
                                 (workflow_id,)).fetchone()
        return None if r is None else row_to_workflow(r)

    def list_workflows(self, status: str | None, name: str | None,
                       limit: int) -> list[WorkflowRow]:
        where, params = list_filter(status, name, "?")
        sql = f"SELECT {WF_COLUMNS} FROM workflows{where}"
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        params.append(limit)
        return [row_to_workflow(r) for r in self._conn().execute(sql, params)]

    def journal(self, workflow_id: str) -> list[Event]:
        rows = self._conn().execute(
            f"SELECT {EVENT_COLUMNS} FROM journal WHERE workflow_id = ? ORDER BY seq",
            (workflow_id,))
        return [row_to_event(r) for r in rows]

    def request_cancel(self, workflow_id: str, now: float) -> WorkflowRow | None:
        with self._tx() as c:
            c.execute(
                "UPDATE workflows SET cancel_requested = 1, updated_at = ?,"
                f" wake_at = CASE WHEN owner IS NULL THEN ? ELSE wake_at END"
                f" WHERE id = ? AND status IN {_ACTIVE}", (now, now, workflow_id))
        return self.get(workflow_id)

    def terminate(self, workflow_id: str, reason: str, now: float) -> WorkflowRow | None:
        ended = False
        with self._tx() as c:
            r = c.execute("SELECT status FROM workflows WHERE id = ?", (workflow_id,)).fetchone()
            if r is not None and r[0] in st.ACTIVE:
                seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM journal"
                                " WHERE workflow_id = ?", (workflow_id,)).fetchone()[0]
                err = {"type": "Terminated", "message": reason}
                c.execute("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?)",
                          event_params(workflow_id, Event(seq, "WorkflowTerminated", now,
                                                          data={"reason": reason})))
                c.execute(
                    "UPDATE workflows SET status = ?, detail = ?, error = ?, owner = NULL,"
                    " epoch = epoch + 1, updated_at = ?, completed_at = ?, wake_at = NULL"
                    " WHERE id = ?",
                    (st.CANCELLED, f"terminated: {reason}", error_json(err), now, now,
                     workflow_id))
                self._ended_in(c, [(workflow_id, st.CANCELLED)], now)
                ended = True
        if ended:
            self._notifier.ended([workflow_id])
        return self.get(workflow_id)

    def redrive(self, workflow_id: str, now: float) -> WorkflowRow | None:
        with self._tx() as c:
            r = c.execute("SELECT status, detail FROM workflows WHERE id = ?",
                          (workflow_id,)).fetchone()
            if r is None:
                return None
            events = [row_to_event(e) for e in c.execute(
                f"SELECT {EVENT_COLUMNS} FROM journal WHERE workflow_id = ? ORDER BY seq",
                (workflow_id,))]
            plan = plan_redrive(events, r[0], r[1])
            seq = events[-1].seq + 1
            c.execute("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?)", event_params(
                workflow_id, Event(seq, WORKFLOW_REDRIVEN, now, data=plan)))
            c.execute(
                "UPDATE workflows SET status = 'PENDING', owner = NULL, epoch = epoch + 1,"
                " wake_at = ?, updated_at = ?, error = NULL, detail = NULL, result = NULL,"
                " completed_at = NULL, cancel_requested = 0 WHERE id = ?",
                (now, now, workflow_id))
        return self.get(workflow_id)

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
            c.execute("INSERT OR REPLACE INTO workers VALUES (?,?,?,?,?)",
                      (info.id, info.host, info.pid, info.started_at, info.lease_until))

    def renew_worker(self, worker_id: str, lease_until: float) -> bool:
        with self._tx() as c:
            cur = c.execute("UPDATE workers SET lease_until = ? WHERE id = ?",
                            (lease_until, worker_id))
            return cur.rowcount == 1

    def remove_worker(self, worker_id: str, now: float) -> int:
        with self._tx() as c:
            cur = c.execute(
                # recovered work keeps its place in the queue (its old wake_at), due now
                "UPDATE workflows SET owner = NULL, epoch = epoch + 1,"
                " wake_at = MIN(COALESCE(wake_at, ?), ?),"
                " status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END,"
                f" updated_at = ? WHERE owner = ? AND status IN {_ACTIVE}",
                (now, now, now, worker_id))
            gone = c.execute("SELECT host, pid FROM workers WHERE id = ?",
                             (worker_id,)).fetchone()
            c.execute("DELETE FROM workers WHERE id = ?", (worker_id,))
            freed = cur.rowcount
        if freed:
            self.notify()
        if gone is not None and gone[0] == HOST:  # a dead process's wake-up markers
            self._notifier.forget_process(int(gone[1]))
        fd = self._locks.pop(worker_id, None)
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.lock_dir, f"{worker_id}.lock"))
        return freed

    def release_all_but(self, worker_id: str, keep: str, now: float) -> list[str]:
        with self._tx() as c:
            ids = [r[0] for r in c.execute(
                f"SELECT id FROM workflows WHERE owner = ? AND id <> ? AND status IN {_ACTIVE}",
                (worker_id, keep)).fetchall()]
            c.execute(
                "UPDATE workflows SET owner = NULL, epoch = epoch + 1,"
                " wake_at = MIN(COALESCE(wake_at, ?), ?),"
                " status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END,"
                f" updated_at = ? WHERE owner = ? AND id <> ? AND status IN {_ACTIVE}",
                (now, now, now, worker_id, keep))
        if ids:
            self.notify()
        return ids

    def release_orphans(self, me: str, now: float) -> int:
        with self._tx() as c:
            freed = int(c.execute(
                "UPDATE workflows SET owner = NULL, epoch = epoch + 1,"
                " wake_at = MIN(COALESCE(wake_at, ?), ?),"
                " status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END,"
                f" updated_at = ? WHERE owner IS NOT NULL AND owner <> ? AND status IN {_ACTIVE}"
                " AND owner NOT IN (SELECT id FROM workers)",
                (now, now, now, me)).rowcount)
        if freed:
            self.notify()
        return freed

    def workers(self) -> list[WorkerInfo]:
        rows = self._conn().execute("SELECT id, host, pid, started_at, lease_until FROM workers")
        return [WorkerInfo(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in rows]

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

    def claim(self, worker_id: str, names: Sequence[str], now: float,
              limit: int) -> list[Claimed]:
        if not names or limit <= 0:
            return []
        with self._tx() as c:
            # runs outside a queue, or already started on one (a queue admits a run once)
            ids = [r[0] for r in c.execute(
                "SELECT id FROM workflows INDEXED BY workflows_claim"
                f" WHERE owner IS NULL AND status IN {_ACTIVE}"
                f" AND wake_at <= ? AND name IN ({_marks(len(names))})"
                " AND (queue IS NULL OR started_at IS NOT NULL)"
                " ORDER BY priority DESC, wake_at LIMIT ?", (now, *names, limit))]
            if len(ids) < limit:
                ids += self._admit_queued(c, names, now, limit - len(ids))
            if not ids:
                return []
            rows = c.execute(
                f"UPDATE workflows SET owner = ?, epoch = epoch + 1, status = 'RUNNING',"
                " updated_at = ?, started_at = COALESCE(started_at, ?)"
                f" WHERE id IN ({_marks(len(ids))}) RETURNING {WF_COLUMNS}",
                (worker_id, now, now, *ids)).fetchall()
        claimed = {r[0]: Claimed(row_to_workflow(r), []) for r in rows}
        conn = self._conn()
        for i in range(0, len(ids), _CHUNK):
            part = ids[i:i + _CHUNK]
            for r in conn.execute(
                f"SELECT workflow_id, {EVENT_COLUMNS} FROM journal"
                f" WHERE workflow_id IN ({_marks(len(part))}) ORDER BY workflow_id, seq", part):
                claimed[r[0]].journal.append(row_to_event(r[1:]))
            for r in conn.execute(
                "SELECT workflow_id, pos, kind, name, key, data, source, at FROM inbox"
                f" WHERE workflow_id IN ({_marks(len(part))})", part):
                claimed[r[0]].inbox[int(r[1])] = (r[2], r[3], r[4], r[5], r[6], float(r[7]))
        return list(claimed.values())

    def _admit_queued(self, c: sqlite3.Connection, names: Sequence[str], now: float,
                      room: int) -> list[str]:
        """Queued runs that may start now without breaking their queue's limits."""
        marks = _marks(len(names))
        admitted: list[str] = []
        queues = [r[0] for r in c.execute(
            "SELECT DISTINCT queue FROM workflows WHERE queue IS NOT NULL AND owner IS NULL"
            f" AND started_at IS NULL AND status = 'PENDING' AND wake_at <= ? AND name IN"
            f" ({marks})", (now, *names))]
        for q in queues:
            cfg = c.execute("SELECT concurrency, rate_count, rate_period, per_key FROM queues"
                            " WHERE name = ?", (q,)).fetchone()
            slots = room - len(admitted)
            concurrency, rate_count, rate_period, per_key = cfg or (None, None, None, None)
            if concurrency is not None:
                running = c.execute("SELECT COUNT(*) FROM workflows WHERE queue = ? AND"
                                    f" started_at IS NOT NULL AND status IN {_ACTIVE}",
                                    (q,)).fetchone()[0]
                slots = min(slots, concurrency - running)
            if rate_count is not None and rate_period is not None:
                recent = c.execute("SELECT COUNT(*) FROM workflows WHERE queue = ? AND"
                                   " started_at > ?", (q, now - rate_period)).fetchone()[0]
                slots = min(slots, rate_count - recent)
            if slots <= 0:
                continue
            busy: dict[str, int] = {}
            if per_key is not None:
                busy = dict(c.execute(
                    "SELECT queue_key, COUNT(*) FROM workflows WHERE queue = ? AND"
                    f" queue_key IS NOT NULL AND started_at IS NOT NULL AND status IN {_ACTIVE}"
                    " GROUP BY queue_key", (q,)).fetchall())
            candidates = c.execute(
                "SELECT id, queue_key FROM workflows WHERE queue = ? AND owner IS NULL"
                " AND started_at IS NULL AND status = 'PENDING' AND wake_at <= ?"
                f" AND name IN ({marks}) ORDER BY priority DESC, created_at, rowid",
                (q, now, *names))
            admitted += admit(candidates, slots, per_key, busy)
        return admitted

    def put_queue(self, name: str, concurrency: int | None, rate: tuple[int, float] | None,
                  per_key: int | None, now: float) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO queues VALUES (?,?,?,?,?,?) ON CONFLICT (name) DO UPDATE"
                      " SET concurrency = excluded.concurrency, rate_count = excluded.rate_count,"
                      " rate_period = excluded.rate_period, per_key = excluded.per_key,"
                      " updated_at = excluded.updated_at",
                      (name, concurrency, rate[0] if rate else None, rate[1] if rate else None,
                       per_key, now))

    def queue_stats(self, now: float) -> list[dict[str, Any]]:
        c = self._conn()
        names = {r[0] for r in c.execute("SELECT name FROM queues")} | {
            r[0] for r in c.execute("SELECT DISTINCT queue FROM workflows WHERE queue IS NOT"
                                    " NULL")}
        out = []
        for q in sorted(names):
            cfg = c.execute("SELECT concurrency, rate_count, rate_period, per_key FROM queues"
                            " WHERE name = ?", (q,)).fetchone() or (None, None, None, None)
            depth, running, done = c.execute(
                "SELECT SUM(started_at IS NULL AND status = 'PENDING'),"
                f" SUM(started_at IS NOT NULL AND status IN {_ACTIVE}),"
                " SUM(completed_at > ?) FROM workflows WHERE queue = ?",
                (now - 60, q)).fetchone()
            out.append({"name": q, "concurrency": cfg[0],
                        "rate": None if cfg[1] is None else (cfg[1], cfg[2]),
                        "per_key_concurrency": cfg[3], "depth": depth or 0,
                        "running": running or 0, "completed_last_minute": done or 0})
        return out

    def commit(self, writes: Sequence[Write], now: float,
               creates: Sequence[tuple[NewWorkflow, Event]] = ()) -> CommitResult:
        result = CommitResult()
        if not writes and not creates:
            return result
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
                for r in c.execute(f"SELECT id, epoch, cancel_requested FROM workflows"
                                   f" WHERE id IN ({_marks(len(part))})", part):
                    current[r[0]] = (int(r[1]), int(r[2]))
            batch = fence(prepared, current, result)
            if batch.events:
                c.executemany("INSERT INTO journal VALUES (?,?,?,?,?,?,?,?)", batch.events)
            if batch.states:
                self._set_state_in(c, batch.states)
            if batch.updates:
                c.executemany(_FINAL_UPDATE, [_as_json(u) for u in batch.updates])
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

    @staticmethod
    def _ended_in(c: sqlite3.Connection, ended: Sequence[tuple[str, str | None]],
                  now: float) -> int:
        """Workflows ended (id, status): wake their parents if they wait, forget their
        waits, cancel their human tasks, and cancel the children of cancelled (or timed out)
        ones. Returns how many runs this made runnable for any worker."""
        woken = 0
        for i in range(0, len(ended), _CHUNK):
            part = ended[i:i + _CHUNK]
            ids = [wid for wid, _ in part]
            marks = _marks(len(ids))
            woken += c.execute(
                "UPDATE workflows SET wake_at = ? WHERE status = 'WAITING' AND owner IS"
                " NULL AND id IN (SELECT parent_id FROM workflows WHERE id IN"
                f" ({marks}) AND parent_id IS NOT NULL)", (now, *ids)).rowcount
            SQLiteEvents._forget_waits_in(c, ids, marks)
            SQLiteTasks._cancel_tasks_in(c, ids, marks, now)
            stopped = [(now, wid) for wid, status in part
                       if status in (st.CANCELLED, st.TIMED_OUT)]
            if stopped:
                woken += c.executemany(
                    "UPDATE workflows SET cancel_requested = 1,"
                    " wake_at = CASE WHEN owner IS NULL THEN ? ELSE wake_at END"
                    f" WHERE parent_id = ? AND status IN {_ACTIVE}", stopped).rowcount
        return woken

    def next_wake(self, names: Sequence[str]) -> float | None:
        if not names:
            return None
        r = self._conn().execute(
            f"SELECT MIN(wake_at) FROM workflows WHERE owner IS NULL AND status IN {_ACTIVE}"
            f" AND name IN ({_marks(len(names))})", list(names)).fetchone()
        return None if r is None or r[0] is None else float(r[0])

    def owned_cancels(self, worker_id: str) -> list[str]:
        return [r[0] for r in self._conn().execute(
            "SELECT id FROM workflows WHERE owner = ? AND cancel_requested = 1", (worker_id,))]

    def record_names(self, names: Sequence[str], now: float) -> None:
        if names:
            with self._tx() as c:
                c.executemany("INSERT OR REPLACE INTO workflow_types VALUES (?, ?)",
                              [(n, now) for n in names])

    def known_names(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT name FROM workflow_types")]

    # --- circuit breakers ----------------------------------------------------------------

    def circuit_load(self, name: str) -> CircuitState | None:
        r = self._conn().execute(
            "SELECT name, state, failures, opened_at, next_probe_at, probes, recent, version"
            " FROM circuits WHERE name = ?", (name,)).fetchone()
        return None if r is None else CircuitState(*r)

    def circuit_save(self, new: CircuitState, expected_version: int, now: float,
                     source: str | None) -> bool:
        with self._tx() as c:
            params = (new.state, new.failures, new.opened_at, new.next_probe_at, new.probes,
                      new.recent, expected_version + 1, now)
            if expected_version == 0:
                cur = c.execute("INSERT INTO circuits VALUES (?,?,?,?,?,?,?,?,?)"
                                " ON CONFLICT (name) DO NOTHING", (new.name, *params))
            else:
                cur = c.execute(
                    "UPDATE circuits SET state = ?, failures = ?, opened_at = ?,"
                    " next_probe_at = ?, probes = ?, recent = ?, version = ?, updated_at = ?"
                    " WHERE name = ? AND version = ?", (*params, new.name, expected_version))
            if cur.rowcount != 1:
                return False
            if source is not None and source != new.state:
                c.execute("INSERT INTO circuit_transitions VALUES (?,?,?,?,?)",
                          (new.name, now, source, new.state, new.reason))
        return True

    def circuits(self) -> list[CircuitState]:
        return [CircuitState(*r) for r in self._conn().execute(
            "SELECT name, state, failures, opened_at, next_probe_at, probes, recent, version"
            " FROM circuits ORDER BY name")]

    def circuit_transitions(self, name: str | None, limit: int) -> list[dict[str, Any]]:
        sql = "SELECT name, at, source, target, reason FROM circuit_transitions"
        params: list[Any] = []
        if name is not None:
            sql += " WHERE name = ?"
            params.append(name)
        rows = self._conn().execute(sql + " ORDER BY at DESC, rowid DESC LIMIT ?",
                                    (*params, limit))
        return [dict(zip(("name", "at", "source", "target", "reason"), r, strict=True))
                for r in rows]
