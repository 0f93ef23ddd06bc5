"""The two long-lived connections a PostgreSQL store keeps beside its pool.

* :class:`Listener` — ``LISTEN`` on the schema's channel in a thread; calls back on every
  notification and after every reconnect (so a worker re-polls whatever it may have missed).
* :class:`LockKeeper` — one session holding a session-level advisory lock per registered
  worker for the worker's lifetime. When the process dies, PostgreSQL ends the session and the
  lock is gone: other workers see that and take over its workflows at once.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq

if TYPE_CHECKING:
    from legato.store.postgres.queries import PostgresQueries

log = logging.getLogger("legato.store.postgres")

BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0
KEEPALIVE = 10.0  # seconds of silence after which the listener pings its connection


class Listener:
    """A thread that LISTENs on ``channel`` and survives connection loss."""

    def __init__(self, conninfo: str, channel: str, on_notify: Callable[[], None],
                 safe_url: str, application_name: str) -> None:
        self.conninfo = conninfo
        self.application_name = application_name
        self.channel = channel
        self.on_notify = on_notify
        self.safe_url = safe_url
        self.count = 0  # bumped on every notification batch and reconnect
        self.connected = False
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="legato-listen", daemon=True)
        self._ready = threading.Event()

    def start(self, wait: float = 5.0) -> None:
        self._thread.start()
        self._ready.wait(wait)  # first connection attempt (so no notification is missed)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)
        if not self._thread.is_alive():  # else it still selects on them; let GC close them
            for s in (self._wake_r, self._wake_w):
                s.close()

    def _fire(self) -> None:
        self.count += 1
        try:
            self.on_notify()
        except Exception:  # a subscriber's bug must not kill the listener
            log.exception("legato: notification callback failed")

    def _run(self) -> None:
        backoff = BACKOFF_MIN
        while not self._stop.is_set():
            conn: psycopg.Connection[Any] | None = None
            try:
                conn = psycopg.connect(self.conninfo, autocommit=True,
                                       application_name=self.application_name)
                conn.execute(f'LISTEN "{self.channel}"')
                self.connected = True
                self._ready.set()
                backoff = BACKOFF_MIN
                self._fire()  # (re)connected: whatever happened meanwhile is worth a look
                self._loop(conn)
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("legato: listening on %s failed (retrying in %.2fs): %s",
                                self.safe_url, backoff, str(exc).strip().splitlines()[0])
            finally:
                self.connected = False
                self._ready.set()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _loop(self, conn: psycopg.Connection[Any]) -> None:
        pgconn = conn.pgconn
        with selectors.DefaultSelector() as sel:  # not select(): fds may exceed 1024
            sel.register(pgconn.socket, selectors.EVENT_READ, "db")
            sel.register(self._wake_r, selectors.EVENT_READ, "stop")
            while not self._stop.is_set():
                ready = {key.data for key, _ in sel.select(KEEPALIVE)}
                if "stop" in ready:
                    return
                if not ready:
                    heard: list[object] = []
                    handler = heard.append  # what arrives during the ping
                    conn.add_notify_handler(handler)
                    conn.execute("SELECT 1")  # prove the connection still lives
                    conn.remove_notify_handler(handler)
                    if heard:
                        self._fire()
                    continue
                pgconn.consume_input()
                if pgconn.status != pq.ConnStatus.OK:
                    raise psycopg.OperationalError("the listening connection was closed")
                got = False
                while pgconn.notifies() is not None:
                    got = True
                if got:
                    self._fire()


class LockKeeper:
    """One connection holding a session-level advisory lock for each live worker.

    Every use of the connection proves it alive; when it is found broken, the keeper
    reconnects, takes the locks again and stamps ``locked_at`` anew (see ``001_init.sql``).
    """

    def __init__(self, conninfo: str, lock_prefix: str, queries: PostgresQueries,
                 application_name: str) -> None:
        self.conninfo = conninfo
        self.application_name = application_name
        self.lock_prefix = lock_prefix
        self.q = queries
        self.held: set[str] = set()
        self._conn: psycopg.Connection[Any] | None = None
        self._mutex = threading.RLock()

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.conninfo, autocommit=True,
                               application_name=self.application_name)
        try:
            conn.execute("SET lock_timeout = '10s'")
            for wid in sorted(self.held):
                self._lock(conn, wid)
            if self.held:
                conn.execute(self.q.workers_relocked, (sorted(self.held),))
        except BaseException:
            conn.close()
            raise
        return conn

    def _lock(self, conn: psycopg.Connection[Any], worker_id: str) -> None:
        conn.execute(self.q.worker_lock, (self.lock_prefix + worker_id,))

    def run(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> int:
        """Execute on the lock session (reconnecting once if it broke); return the row count."""
        with self._mutex:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                try:
                    return self._conn.execute(sql, params).rowcount
                except psycopg.OperationalError:
                    if self._conn.broken or self._conn.closed:
                        self._drop()
                        if attempt == 1:
                            continue
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def hold(self, worker_id: str, upsert_sql: str, params: Sequence[Any]) -> None:
        """Take ``worker_id``'s lock (once) and write its row, both on the lock session."""
        with self._mutex:
            if worker_id not in self.held:
                self.held.add(worker_id)  # a reconnect inside run() takes it as well
                try:
                    if self._conn is not None and not self._conn.closed:
                        self._lock(self._conn, worker_id)
                except psycopg.OperationalError:
                    self._drop()
                except BaseException:
                    self.held.discard(worker_id)
                    raise
            try:
                self.run(upsert_sql, params)
            except BaseException:
                self.release(worker_id)
                raise

    def release(self, worker_id: str) -> None:
        with self._mutex:
            if worker_id not in self.held:
                return
            self.held.discard(worker_id)
            conn = self._conn
            if conn is None or conn.closed:
                return
            if not self.held:
                self._drop()  # ending the session drops every lock it had
                return
            try:
                conn.execute(self.q.worker_unlock, (self.lock_prefix + worker_id,))
            except psycopg.Error:
                self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._mutex:
            self.held.clear()
            self._drop()
