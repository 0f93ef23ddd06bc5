"""Worker processes run by an engine: workflows executed past the GIL of the caller's process.

``Engine(url, processes=N)`` runs its workers in N child processes instead of threads of its
own process. Each child imports the modules that define the engine's workflows (started with
``multiprocessing``'s *spawn*, which also re-imports the parent's main script, as
``multiprocessing`` always does: its entry point must sit under
``if __name__ == "__main__":``) and runs a :class:`~legato.worker.worker.Worker` on the same
store. The children claim work from the store like any other worker; two one-way pipes per
child keep them quick. Their messages are the typed values of :mod:`legato.worker.commands`,
in its one encoding:

* parent -> child: the engine's commands (:data:`~legato.worker.commands.WorkerCommand`):
  ``Adopt`` (a run the parent started, born owned by this child's worker: start it, no claim
  needed; only its id travels), ``Poke`` (something became runnable: claim now, do not wait
  for the next poll), ``PokeScheduler`` (the schedules changed), ``Cancel`` / ``Drop``
  (cancel / drop that run if this child runs it); then ``Stop(grace)`` (stop gracefully).
  The child hands each command to its worker as the engine's own worker takes them
  (``Worker.send``). End of file (the parent died) also stops the child.
* child -> parent (:data:`~legato.worker.commands.Reply`): ``Ready(worker id)`` or
  ``StartFailed(message)``, then ``Done(id, status)`` for every run the child ended, so that
  ``handle.result()`` in the parent returns at once, preceded for a COMPLETED run by
  ``Completed(id, workflow, result JSON)`` when that fits in a message (the parent's handle
  then need not read the result back).

The parent deals the runs it starts to the children in turn, each born owned by a child
(as an engine's own worker gets the runs it starts): the work is spread evenly, which is
what CPU-bound steps need (left to claim, the first child to look took a whole burst of
starts while the others idled), and no claim is needed. Writes on both sides never block
(a hand-over waits up to ``HAND_OVER_WAIT`` for room): a message that does not fit in a full
pipe is dropped, which costs only latency (the children still poll the store, the parent's
waiters still re-read their rows) — except a hand-over, whose run the parent then releases
for any worker to claim. A child that dies is replaced; its runs are taken over by the
store's usual recovery (at once on SQLite, where its liveness lock is gone; after its lease
on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, assert_never

from legato.clock import Clock
from legato.domain.events import Event
from legato.errors import ConfigError
from legato.store.base import NewWorkflow, Store, WorkflowRow
from legato.worker.commands import (
    POKE,
    Adopt,
    Completed,
    Done,
    Poke,
    Ready,
    StartFailed,
    Stop,
    WorkerCommand,
    decode_command,
    decode_reply,
    encode,
)
from legato.worker.commit import release_run
from legato.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from legato.worker.worker import Worker

log = logging.getLogger("legato.worker")

#: seconds a new child may take to import the workflow modules and start its worker
READY_TIMEOUT = 60.0
RESPAWN_MIN = 0.5
RESPAWN_MAX = 30.0
HUB_DIED = 70  # exit code of a worker process whose hub died (EX_SOFTWARE)
#: at most one nudge per this many seconds (then one when it ends): each makes every child
#: read the store, and write if it claims, so a burst of events is one nudge, not many
POKE_EVERY = 0.0005

OnDone = Callable[[str, str], None]
OnCompleted = Callable[[str, str, str | None], None]


@dataclass(frozen=True)
class ChildConfig:
    """What a child needs to run the parent's workflows (pickled to it by *spawn*)."""

    url: str
    modules: tuple[str, ...]
    names: tuple[str, ...]
    #: the engine's; its ``grace`` is running steps' time to finish when the child stops
    #: without being told how long (SIGTERM, or the parent gone)
    settings: WorkerSettings


#: longest message sent: a pipe write up to PIPE_BUF (4,096 bytes on Linux, 512 by POSIX)
#: is atomic, so a message that does not fit is never half-written on a non-blocking pipe
MAX_MESSAGE = 500
#: how long a hand-over may wait for room in a child's pipe before the run is released
HAND_OVER_WAIT = 5.0
_POKE = encode(POKE)


def _send(conn: mpc.Connection, msg: bytes, wait: float = 0.0) -> bool:
    """Send without blocking (or waiting up to ``wait`` s for room in the pipe); False if
    it was not sent: too long, the pipe full or closed."""
    if len(msg) > MAX_MESSAGE:
        return False
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.send_bytes(msg)
            return True
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                select.select([], [conn.fileno()], [], min(left, 0.05))
            except (OSError, ValueError):
                return False
        except (OSError, ValueError):
            return False


class _Child:
    def __init__(self, index: int, process: BaseProcess, to_child: mpc.Connection,
                 from_child: mpc.Connection) -> None:
        self.index = index
        self.process = process
        self.to_child = to_child
        self.from_child = from_child
        self.ready = False
        self.worker_id: str | None = None
        self.error: str | None = None

    def close(self) -> None:
        for conn in (self.to_child, self.from_child):
            with contextlib.suppress(OSError):
                conn.close()


class WorkerProcesses:
    """The parent's side: spawns the children, relays messages, replaces dead ones. The
    engine's :class:`~legato.worker.workers.Workers` when they run in worker processes
    (``store`` and ``clock`` are the engine's: a run that cannot be handed over is
    released)."""

    def __init__(self, count: int, config: ChildConfig, store: Store, clock: Clock,
                 on_done: OnDone, on_completed: OnCompleted | None = None) -> None:
        self.count = count
        self.config = config
        self.store = store
        self.clock = clock
        self.on_done = on_done
        self.on_completed = on_completed
        self._ctx = multiprocessing.get_context("spawn")
        self._children: list[_Child | None] = [None] * count
        self._lock = threading.Lock()
        self._stopping = False
        self._turn = 0  # the child the next hand-over goes to
        self._poked_at = 0.0  # monotonic time of the last nudge
        self._poke_due = False  # a nudge was held back: the relay sends it
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()  # interrupts the relay's wait
        os.set_blocking(self._wake_w, False)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Spawn every child and wait until each runs its worker; raises
        :class:`ConfigError` with a child's reason if one cannot start."""
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            for i in range(self.count):
                self._children[i] = self._spawn(i)
            for child in self._live():
                self._await_ready(child, deadline)
        except BaseException:
            self.stop(0.0)
            raise
        self._thread = threading.Thread(target=self._relay, name="legato-processes",
                                        daemon=True)
        self._thread.start()

    def _spawn(self, index: int) -> _Child:
        from_child_r, from_child_w = self._ctx.Pipe(duplex=False)
        to_child_r, to_child_w = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=child_main, name=f"legato-worker-{index}",
                                    args=(self.config, to_child_r, from_child_w), daemon=True)
        process.start()
        to_child_r.close()  # the child has its own copies now
        from_child_w.close()
        os.set_blocking(to_child_w.fileno(), False)
        return _Child(index, process, to_child_w, from_child_r)

    def _await_ready(self, child: _Child, deadline: float) -> None:
        while not child.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConfigError(f"worker process {child.index} did not start within"
                                  f" {READY_TIMEOUT:g}s")
            ready = mpc.wait([child.from_child, child.process.sentinel], timeout=left)
            if child.from_child in ready:
                try:
                    self._handle(child, child.from_child.recv_bytes())
                    continue
                except (EOFError, OSError):
                    ready = [child.process.sentinel]  # it closed its end: it is exiting
                finally:
                    if child.error is not None:
                        raise ConfigError(f"worker process {child.index} could not start:"
                                          f" {child.error}")
            if ready:  # exited without a word
                child.process.join(5)
                raise ConfigError(
                    f"worker process {child.index} exited during start-up (exit code"
                    f" {child.process.exitcode}; its error is printed above). A script that"
                    " starts an engine with processes must do so under"
                    " 'if __name__ == \"__main__\":', as worker processes import it again")

    def stop(self, grace: float) -> None:
        """Ask every child to stop (running steps get ``grace`` seconds), then reap them."""
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(READY_TIMEOUT)  # first: it may be starting a replacement
        children = self._live()
        stop = encode(Stop(grace))
        for child in children:
            _send(child.to_child, stop)
            with contextlib.suppress(OSError):
                child.to_child.close()  # if "s" did not fit, the end of the pipe says it
        end = time.monotonic() + grace + 10
        for child in children:
            child.process.join(max(0.0, end - time.monotonic()))
            if child.process.is_alive():
                log.warning("legato: worker process %s did not stop in time; killing it",
                            child.process.pid)
                child.process.kill()
                child.process.join(5)
        for child in children:
            child.close()
        with self._lock:
            self._children = [None] * self.count
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _live(self) -> list[_Child]:
        with self._lock:
            return [c for c in self._children if c is not None]

    # --- the engine's Workers ------------------------------------------------------------

    worker_id = None  # none runs in this process
    #: a child's report of a run it ended is best effort (a full pipe drops it)
    reports_every_end = False

    @property
    def ids(self) -> list[str]:
        return [c.worker_id for c in self._live() if c.worker_id is not None]

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self._live() if c.process.pid is not None]

    def steps_in_flight(self, workflow_id: str) -> list[tuple[str, int, float, float | None]]:
        return []  # they run in the children: the store tells what it can

    def send(self, command: WorkerCommand) -> None:
        """Send ``command`` to every ready child (a ``Poke`` at most once per
        ``POKE_EVERY``: one held back is sent by the relay thread when the interval ends).
        An ``Adopt`` sent so reaches every child; only its owner runs it."""
        if isinstance(command, Poke):
            self._poke()
        else:
            self._tell(encode(command))

    def _tell(self, msg: bytes) -> None:
        for child in self._live():
            if child.ready:
                _send(child.to_child, msg)

    def _poke(self) -> None:
        now = time.monotonic()
        if now - self._poked_at >= POKE_EVERY:
            self._poked_at = now
            self._tell(_POKE)
        elif not self._poke_due:
            self._poke_due = True
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"p")

    def owner_for_new_run(self, given: int) -> str | None:
        """The worker of the child that gets the next run started here (in turn); a child
        with no room gives it back for any worker to claim."""
        children = [c for c in self._live() if c.ready and c.worker_id is not None]
        if not children or self._stopping:
            return None
        self._turn = (self._turn + 1) % len(children)
        return children[self._turn].worker_id

    def hand_over(self, runs: Sequence[tuple[NewWorkflow, Event]],
                  results: Sequence[tuple[WorkflowRow, bool]]) -> bool:
        """Tell each created run's child to start it (no claim); a run whose child cannot be
        told is released for any worker to claim. True if runs were left to claim."""
        others = False
        for (new, _), (row, created) in zip(runs, results, strict=True):
            if not created:
                continue
            if new.owner is None or not self._adopt(new.owner, new.id):
                others = True
                if new.owner is not None:  # its worker was not told: let anyone claim it
                    release_run(self.store, row.id, row.epoch, self.clock.now())
        return others

    def _adopt(self, worker_id: str, workflow_id: str) -> bool:
        """Tell the child ``worker_id`` to start the run born owned by it; False if it could
        not be told."""
        for child in self._live():
            if child.worker_id == worker_id:
                return _send(child.to_child, encode(Adopt(workflow_id)), HAND_OVER_WAIT)
        return False

    # --- the relay thread ----------------------------------------------------------------

    def _relay(self) -> None:
        """Read what the children say; replace a child that died."""
        respawn_at: dict[int, float] = {}
        delay: dict[int, float] = {}
        while not self._stopping:
            children = self._live()
            waits: list[Any] = [self._wake_r]
            for c in children:
                waits += [c.from_child, c.process.sentinel]
            due = [*respawn_at.values()]
            if self._poke_due:
                due.append(self._poked_at + POKE_EVERY)
            timeout = max(0.0, min(due) - time.monotonic()) if due else None
            ready = mpc.wait(waits, timeout=timeout)
            if self._stopping:
                return
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 512)
            if self._poke_due and time.monotonic() >= self._poked_at + POKE_EVERY:
                self._poke_due = False
                self._poked_at = time.monotonic()
                self._tell(_POKE)
            for c in children:
                if c.from_child in ready:
                    self._drain(c)
                if c.process.sentinel in ready and not c.process.is_alive():
                    self._drain(c)
                    c.process.join(1)
                    log.warning("legato: worker process %s (pid %s) exited with code %s;"
                                " starting another", c.index, c.process.pid,
                                c.process.exitcode)
                    c.close()
                    with self._lock:
                        self._children[c.index] = None
                    d = delay.get(c.index, RESPAWN_MIN / 2) * 2
                    delay[c.index] = min(d, RESPAWN_MAX)
                    respawn_at[c.index] = time.monotonic() + delay[c.index]
            now = time.monotonic()
            for index, at in list(respawn_at.items()):
                if at <= now and not self._stopping:
                    del respawn_at[index]
                    try:
                        child = self._spawn(index)
                    except Exception as exc:
                        log.warning("legato: starting worker process %s failed: %s", index,
                                    exc)
                        respawn_at[index] = now + delay.get(index, RESPAWN_MIN)
                        continue
                    with self._lock:
                        self._children[index] = child

    def _drain(self, child: _Child) -> None:
        conn = child.from_child
        try:
            while conn.poll():
                self._handle(child, conn.recv_bytes())
        except (EOFError, OSError):
            pass

    def _handle(self, child: _Child, data: bytes) -> None:
        try:
            msg = decode_reply(data)
        except ValueError as exc:
            log.warning("legato: worker process %s sent what this engine cannot read: %s",
                        child.index, exc)
            return
        match msg:
            case Done(workflow_id=wid, status=status):
                self.on_done(wid, status)
            case Completed(workflow_id=wid, name=name, result=result):
                if self.on_completed is not None:
                    self.on_completed(wid, name, result)
            case Ready(worker_id=wid):
                child.worker_id = wid
                child.ready = True
                if self._thread is not None:  # a replacement: runs may wait for it
                    _send(child.to_child, _POKE)
            case StartFailed(message=message):
                child.error = message
                log.error("legato: worker process %s could not start: %s", child.index,
                          message)
            case _:
                assert_never(msg)


# --- the child's side ---------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM in a worker process: stop gracefully, as the parent's ``s`` would."""


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second one ends it at once
    raise _Stop


def _hub_died(exc: BaseException) -> None:
    """The child's hub died (its worker logged why and released its runs): exit at once,
    non-zero, so that the parent starts another worker process in its place."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(HUB_DIED)


def child_main(config: ChildConfig, inbox: mpc.Connection, outbox: mpc.Connection) -> None:
    """Entry point of a worker process (runs in the child)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from legato.clock import SystemClock
    from legato.runtime.registry import REGISTRY
    from legato.store.url import open_store
    from legato.worker.worker import Worker

    try:
        for name in config.modules:
            importlib.import_module(name)
        missing = sorted(set(config.names) - set(REGISTRY.names()))
        if missing:
            raise ConfigError(
                f"workflow(s) {', '.join(map(repr, missing))} are not registered after"
                " importing their modules: define workflows at module level (a worker"
                " process imports them by name)")
        def done(wid: str, status: str) -> None:  # in the hub's thread: never blocks
            _send(outbox, encode(Done(wid, status)))

        def completed(wid: str, name: str, result: str | None) -> None:  # (sent if it fits)
            if result is not None and len(result) < MAX_MESSAGE:
                try:
                    msg = encode(Completed(wid, name, result))
                except ValueError:  # (a NUL in the id or name: the parent reads the row)
                    return
                _send(outbox, msg)

        store = open_store(config.url, migrate=False)  # the parent opened (and migrated) it
        worker = Worker(store, REGISTRY, SystemClock(), config.settings, on_done=done,
                        on_completed=completed, on_failure=_hub_died)
        worker.start()
    except BaseException as exc:
        outbox.send_bytes(_start_failed(f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
    os.set_blocking(outbox.fileno(), False)
    signal.signal(signal.SIGTERM, _on_sigterm)
    grace: float | None = None
    try:
        _send(outbox, encode(Ready(worker.id)))
        grace = _serve(worker, inbox)
    except _Stop:
        pass
    finally:
        worker.stop(config.settings.grace if grace is None else grace)
        store.close()


def _start_failed(message: str) -> bytes:
    """The ``StartFailed`` reply, its message cut to fit in one message."""
    msg = encode(StartFailed(message))
    if len(msg) <= MAX_MESSAGE:
        return msg
    cut = msg[1:MAX_MESSAGE - 3].decode("utf-8", "ignore")  # (a character cut in two goes)
    return encode(StartFailed(cut + "…"))


def _serve(worker: Worker, inbox: mpc.Connection) -> float | None:
    """Carry out the parent's commands until it says stop (returns the grace it gives) or
    goes away (None)."""
    while True:
        try:
            data = inbox.recv_bytes()
        except (EOFError, OSError):
            return None  # the parent is gone
        try:
            command = decode_command(data)
        except ValueError as exc:
            log.warning("legato: worker %s cannot read its engine's message: %s", worker.id,
                        exc)
            continue
        if isinstance(command, Stop):
            return command.grace
        worker.send(command)


def child_modules(fns: Sequence[Callable[..., Any]]) -> tuple[str, ...]:
    """The modules a child imports to register ``fns`` (the main script re-runs by itself)."""
    names = {getattr(fn, "__module__", None) for fn in fns}
    return tuple(sorted(n for n in names if n and n not in ("__main__", "__mp_main__")))
