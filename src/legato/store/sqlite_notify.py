"""Wake-ups between processes on one SQLite file (one host, Linux).

SQLite cannot notify other connections, so a worker finds work made runnable by another
process by polling (``PRAGMA data_version``), backing off to 100 ms when idle. This adds what
PostgreSQL's LISTEN/NOTIFY gives: each subscribed process binds a datagram socket in the
abstract namespace (no file; gone with the process) and announces it by an empty marker file
``<db>-workers/notify-<name>``; a process that makes work runnable sends one byte to every
announced socket of that file but its own. A receiver thread turns each datagram into the
subscriber's callback (the hub's poke).

Best effort, never in the way of a write: notifying happens after the commit, errors are
swallowed, a full receiver buffer (it has wake-ups pending) drops the datagram, and a marker
whose process is gone (connection refused) is removed. Polling stays as it was, so a lost
wake-up costs only latency. Elsewhere than Linux (no abstract sockets) nothing is bound and
nothing is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("legato.store")

MARKER = "notify-"
#: how long a listing of the markers is reused before the folder is read again
LISTING_TTL = 1.0
#: a subscriber is called back at once, then at most once per this many seconds: a burst of
#: starts in another process is one wake-up (one claim) per interval, not one per start,
#: which would make the workers write as often as the starter (as a busy worker polls)
CALLBACK_GAP = 0.02

SUPPORTED = sys.platform.startswith("linux")


class Notifier:
    """The wake-up channel of one database file, for one process."""

    def __init__(self, db_path: str, folder: str) -> None:
        digest = hashlib.sha1(os.path.realpath(db_path).encode()).hexdigest()[:16]
        self._prefix = f"\0legato-{digest}-"
        self.folder = folder
        self._own: set[str] = set()
        self._lock = threading.Lock()
        self._listing: list[str] = []
        self._listed_at = -LISTING_TTL
        self._sender: socket.socket | None = None

    # --- receiving -----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (in a thread of its own) on each wake-up from another process;
        returns what unsubscribes."""
        if not SUPPORTED:
            return lambda: None
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        marker = os.path.join(self.folder, MARKER + name)
        try:
            sock.bind(self._prefix + name)
            os.makedirs(self.folder, exist_ok=True)
            with open(marker, "w"):
                pass
        except OSError as exc:
            sock.close()
            log.warning("legato: no wake-ups from other processes (%s); polling only", exc)
            return lambda: None
        with self._lock:
            self._own.add(name)
        stopped = threading.Event()

        def receive() -> None:
            while not stopped.is_set():
                try:
                    sock.recv(64)
                except OSError:
                    return  # closed: unsubscribed
                while not stopped.is_set():
                    callback()
                    time.sleep(CALLBACK_GAP)
                    if not _drain(sock):  # nothing came meanwhile: wait for the next one
                        break

        thread = threading.Thread(target=receive, name="legato-wakeups", daemon=True)
        thread.start()

        def unsubscribe() -> None:
            stopped.set()
            with contextlib.suppress(OSError):
                os.unlink(marker)
            with contextlib.suppress(OSError), \
                    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as waker:
                waker.sendto(b"", self._prefix + name)  # ends the receiver's recv
            thread.join(1.0)
            sock.close()
            with self._lock:
                self._own.discard(name)

        return unsubscribe

    # --- sending -------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every other subscribed process on this file (best effort)."""
        if not SUPPORTED:
            return
        try:
            self._notify()
        except OSError as exc:  # never the caller's problem: they poll anyway
            log.debug("legato: wake-up not sent: %s", exc)

    def _notify(self) -> None:
        names = self._names()
        if not names:
            return
        with self._lock:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            sender = self._sender
        for name in names:
            try:
                sender.sendto(b"!", self._prefix + name)
            except BlockingIOError:
                pass  # its buffer is full: it has wake-ups waiting already
            except (ConnectionRefusedError, FileNotFoundError):
                self._gone(name)

    def _names(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            if now - self._listed_at >= LISTING_TTL:
                try:
                    found = [f[len(MARKER):] for f in os.listdir(self.folder)
                             if f.startswith(MARKER)]
                except FileNotFoundError:
                    found = []
                self._listing, self._listed_at = found, now
            return [n for n in self._listing if n not in self._own]

    def _gone(self, name: str) -> None:
        """Its process is gone (nothing is bound to its name): forget its marker."""
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.folder, MARKER + name))
        with self._lock:
            self._listing = [n for n in self._listing if n != name]

    def close(self) -> None:
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()


def _drain(sock: socket.socket) -> bool:
    """Read every datagram waiting, without blocking; whether there was any."""
    got = False
    while True:
        try:
            sock.recv(64, socket.MSG_DONTWAIT)
            got = True
        except BlockingIOError:
            return got
        except OSError:
            return False
