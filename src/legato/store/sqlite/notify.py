"""Wake-ups between processes on one SQLite file (one host, Linux).

SQLite cannot notify other connections, so a worker finds work made runnable by another
process by polling (``PRAGMA data_version``), backing off to 100 ms when idle, and a client
waiting for a result re-reads its row every 10-100 ms. This adds what PostgreSQL's
LISTEN/NOTIFY gives, on two channels:

* **runnable** — each worker binds a datagram socket in the abstract namespace (no file;
  gone with the process) and announces it by an empty marker file
  ``<db>-workers/notify-<name>``; a process that makes work runnable sends one byte to every
  announced socket but its own, and the worker's hub is poked (at once, then at most once per
  ``CALLBACK_GAP`` while they keep coming).
* **ended** — a process waiting for results announces ``ended-<name>``; a process that ends
  runs sends their ids there, and the waiter of each id wakes at once.

Best effort, never in the way of a write: sending happens after the commit, errors are
swallowed, a full receiver buffer drops the datagram, and a marker whose process is gone
(connection refused) is removed. Polling stays as it was, so a lost wake-up costs only
latency. Elsewhere than Linux (no abstract sockets) nothing is bound and nothing is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import os
import secrets
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence

log = logging.getLogger("legato.store")

RUNNABLE = "notify-"
ENDED = "ended-"
#: how long a listing of the markers is reused before the folder is read again
LISTING_TTL = 1.0
#: a worker is called back at once, then at most once per this many seconds: a burst of
#: starts in another process is one wake-up (one claim) per interval, not one per start,
#: which would make the workers write as often as the starter (as a busy worker polls)
CALLBACK_GAP = 0.02
#: ids per datagram on the ended channel (an id longer than this is not sent)
PACKET = 4000

SUPPORTED = sys.platform.startswith("linux")

Unsubscribe = Callable[[], None]


def _NOTHING() -> None:
    """What unsubscribes from nothing."""


class _Watchers:
    """The watchers of runs ended elsewhere, for one database file in this process."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], Callable[[str], None] | None]] = {}
        self._ids = 0
        self.close: Unsubscribe = _NOTHING  # the socket's, once it listens

    def add(self, callback: Callable[[str], None]) -> Unsubscribe:
        # a bound method weakly (its object may be dropped), a plain function strongly
        ref: Callable[[], Callable[[str], None] | None] = (
            weakref.WeakMethod(callback) if inspect.ismethod(callback) else lambda: callback)
        with self._lock:
            self._ids += 1
            key = self._ids
            self._callbacks[key] = ref

        def remove() -> None:
            with _watchers_lock:
                with self._lock:
                    self._callbacks.pop(key, None)
                    last = not self._callbacks
                if last and _watchers.get(self.key) is self:  # the last one: stop listening
                    del _watchers[self.key]
                    self.close()

        return remove

    def serve(self, sock: socket.socket, stopped: threading.Event) -> None:
        while not stopped.is_set():
            self._dispatch(sock.recv(65536))

    def _dispatch(self, packet: bytes) -> None:
        """Call the live watchers with each id (in a frame of its own: no watcher stays
        referenced from the waiting thread)."""
        with self._lock:
            refs = list(self._callbacks.items())
        live = []
        for key, ref in refs:
            fn = ref()
            if fn is None:
                with self._lock:
                    self._callbacks.pop(key, None)
            else:
                live.append(fn)
        for wid in packet.decode(errors="replace").split("\n"):
            if wid:
                for fn in live:
                    try:
                        fn(wid)
                    except Exception:  # one watcher's bug must not end the others'
                        log.exception("legato: a watcher of ended runs failed")


_watchers: dict[str, _Watchers] = {}
_watchers_lock = threading.Lock()


class Notifier:
    """The wake-up channels of one database file, for one process."""

    def __init__(self, db_path: str, folder: str) -> None:
        digest = hashlib.sha1(os.path.realpath(db_path).encode()).hexdigest()[:16]
        self._prefix = f"\0legato-{digest}-"
        self.folder = folder
        self._own: set[str] = set()
        self._lock = threading.Lock()
        self._listings: dict[str, tuple[float, list[str]]] = {}
        self._sender: socket.socket | None = None

    # --- receiving -----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[], None]) -> Unsubscribe:
        """Call ``callback`` (in a thread of its own) when another process made work
        runnable; returns what unsubscribes."""

        def serve(sock: socket.socket, stopped: threading.Event) -> None:
            while not stopped.is_set():
                if sock.recv(64) == b"" and stopped.is_set():
                    return
                while not stopped.is_set():
                    callback()
                    time.sleep(CALLBACK_GAP)
                    if not _drain(sock):  # nothing came meanwhile: wait for the next one
                        break

        return self._listen(RUNNABLE, serve)

    def watch_ended(self, callback: Callable[[str], None]) -> Unsubscribe:
        """Call ``callback(workflow_id)`` when another process ended that run; returns what
        unsubscribes. One socket and thread per database file serve every watcher of this
        process (closed with the last one), and a bound method is held weakly: an engine
        that waited once and was dropped without a shutdown costs nothing from then on."""
        with _watchers_lock:
            watchers = _watchers.get(self._prefix)
            if watchers is None:
                watchers = _Watchers(self._prefix)
                watchers.close = self._listen(ENDED, watchers.serve, own=False)
                if watchers.close is _NOTHING:
                    return _NOTHING
                _watchers[self._prefix] = watchers
            return watchers.add(callback)

    def _listen(self, kind: str, serve: Callable[[socket.socket, threading.Event], None],
                own: bool = True) -> Unsubscribe:
        """Bind a socket, announce it, serve it in a thread; ``own``: this store's sends
        skip it."""
        if not SUPPORTED:
            return _NOTHING
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        marker = os.path.join(self.folder, kind + name)
        try:
            sock.bind(self._prefix + name)
            os.makedirs(self.folder, exist_ok=True)
            with open(marker, "w"):
                pass
        except OSError as exc:
            sock.close()
            log.warning("legato: no wake-ups from other processes (%s); polling only", exc)
            return _NOTHING
        if own:
            with self._lock:
                self._own.add(name)
        stopped = threading.Event()

        def run() -> None:
            with contextlib.suppress(OSError):  # closed: unsubscribed
                serve(sock, stopped)

        thread = threading.Thread(target=run, name="legato-wakeups", daemon=True)
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
        """Wake the workers of every other subscribed process on this file."""
        self._send(RUNNABLE, [b"!"])

    def ended(self, workflow_ids: Sequence[str]) -> None:
        """Tell the processes waiting for results which runs just ended."""
        if not workflow_ids or not SUPPORTED or not self._names(ENDED):
            return
        packets: list[bytes] = []
        part: list[bytes] = []
        size = 0
        for wid in workflow_ids:
            raw = wid.encode()
            if len(raw) > PACKET or b"\n" in raw:
                continue
            if size + len(raw) + 1 > PACKET:
                packets.append(b"\n".join(part))
                part, size = [], 0
            part.append(raw)
            size += len(raw) + 1
        if part:
            packets.append(b"\n".join(part))
        self._send(ENDED, packets)

    def _send(self, kind: str, packets: list[bytes]) -> None:
        """Best effort: never raises (the receivers poll anyway)."""
        if not SUPPORTED:
            return
        try:
            names = self._names(kind)
            if not names:
                return
            with self._lock:
                if self._sender is None:
                    self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sender.setblocking(False)
                sender = self._sender
            for name in names:
                for packet in packets:
                    try:
                        sender.sendto(packet, self._prefix + name)
                    except BlockingIOError:
                        break  # its buffer is full: it has wake-ups waiting already
                    except (ConnectionRefusedError, FileNotFoundError):
                        self._gone(kind, name)
                        break
        except OSError as exc:
            log.debug("legato: wake-up not sent: %s", exc)

    def _names(self, kind: str) -> list[str]:
        now = time.monotonic()
        with self._lock:
            at, listing = self._listings.get(kind, (-LISTING_TTL, []))
            if now - at >= LISTING_TTL:
                try:
                    listing = [f[len(kind):] for f in os.listdir(self.folder)
                               if f.startswith(kind)]
                except FileNotFoundError:
                    listing = []
                self._listings[kind] = (now, listing)
            return [n for n in listing if n not in self._own]

    def _gone(self, kind: str, name: str) -> None:
        """Its process is gone (nothing is bound to its name): forget its marker."""
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(self.folder, kind + name))
        with self._lock:
            at, listing = self._listings.get(kind, (0.0, []))
            self._listings[kind] = (at, [n for n in listing if n != name])

    def forget_process(self, pid: int) -> None:
        """Remove the markers of process ``pid`` if it is gone (a worker reaped after a
        kill -9 leaves its own; a live process removes its markers itself)."""
        if pid == os.getpid() or _alive(pid):
            return
        mine = (f"{RUNNABLE}{pid}-", f"{ENDED}{pid}-")
        with contextlib.suppress(OSError):
            for f in os.listdir(self.folder):
                if f.startswith(mine):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(self.folder, f))

    def close(self) -> None:
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.close()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        return True  # cannot tell: leave its markers to the senders it refuses


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
