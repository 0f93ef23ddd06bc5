"""The engine: the one object an application holds to start and inspect workflows."""

from __future__ import annotations

import asyncio
import builtins
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from legato import runs as _runs
from legato.clock import Clock, SystemClock
from legato.domain import inputs
from legato.domain import status as st
from legato.domain.actor import Actor, actor_of
from legato.domain.events import Event
from legato.domain.queue import QUEUES
from legato.domain.redact import redact
from legato.domain.times import iso
from legato.errors import (
    ConfigError,
    InvalidInput,
    NotFound,
    UnknownWorkflow,
    WorkerStopped,
    WorkflowConflict,
    WorkflowEnded,
    WorkflowNotFound,
)
from legato.handle import WorkflowHandle
from legato.inbox import TaskInbox, UserDirectory
from legato.oplog import OperatorLog
from legato.runs import RunPage, actor_dict, keys_for, new_run, new_workflow_id
from legato.runtime import codec
from legato.runtime.attempt import refuse_inline_wait
from legato.runtime.registry import REGISTRY, Registry, WorkflowDef, seconds, workflow_def
from legato.schedules import ScheduleBook
from legato.store.base import (
    CreateConflict,
    NewWorkflow,
    PublishResult,
    Store,
    WorkflowRow,
)
from legato.store.url import open_store, resolve_url
from legato.tokens import Tokens
from legato.worker.circuits import CircuitGate
from legato.worker.commands import POKE, POKE_SCHEDULER, Cancel, Drop
from legato.worker.settings import DEFAULTS, WorkerSettings
from legato.worker.worker import PURGE_BATCH, Worker

if TYPE_CHECKING:
    from legato.worker.processes import WorkerProcesses
    from legato.worker.workers import Workers


#: most handles kept for the results of runs in flight in this engine's worker
IN_FLIGHT_KEPT = 100_000
#: the worker settings given to Engine (``concurrency=...``): the others come from ``settings``
_SETTINGS: Final = ("concurrency", "step_threads", "lease", "retention", "processes",
                    "inline_steps", "max_payload", "history_limit", "watchdog")


class _Unset:
    def __repr__(self) -> str:
        return "<from settings>"


#: an Engine keyword not given: its value comes from ``settings`` (by default
#: :class:`legato.WorkerSettings`'s defaults, written there once)
UNSET: Any = _Unset()


class Engine:
    """Starts, runs and inspects durable workflows.

    ``url`` selects the store: ``sqlite:///file.db`` (default ``LEGATO_DATABASE_URL``, else
    ``sqlite:///legato.db``) or ``postgresql://...``. ``with engine:`` launches in-process
    workers (and recovers unfinished workflows); leaving the block shuts them down::

        engine = legato.Engine("sqlite:///orders.db")
        with engine:
            handle = engine.start(fulfil_order, "o-1", workflow_id="order-o-1")
            print(handle.result(timeout=10))

    With ``processes=N`` the workers run in N child processes instead (past this process's
    GIL: see docs/processes.md); the workflows must then be importable by module.

    By default the engine creates legato's tables, or upgrades them, when it opens the
    database. ``migrate=False`` creates and changes nothing: a database that is missing, not
    migrated or behind this release raises :class:`legato.SchemaError` (run
    ``legato db migrate`` at deploy). Web processes that only start and inspect runs are the
    usual place for it (docs/deploy.md).

    Every input is checked before anything is written (docs/inputs.md): an id, name, number
    or value outside the contract raises :class:`legato.InvalidInput` naming it, the same on
    every store. ``max_payload`` is the most bytes of JSON (default 4 MiB) that a workflow's
    input, an event's or a signal's data may take.

    Every run can end (docs/architecture.md): a run fails with
    :class:`legato.HistoryLimitExceeded` at ``history_limit`` events (default 50,000), and a
    workflow body that runs ``watchdog`` seconds (default 1; ``None``: never) without parking
    has the worker's other runs handed to other workers and fails with
    :class:`legato.WorkflowBlocked`. If the worker dies of a defect anyway, :attr:`healthy`
    turns False and waiting results raise :class:`legato.WorkerStopped`.

    The workers' settings (``concurrency`` 500, ``step_threads`` 32, ``lease`` 5 s,
    ``retention``, ``processes`` 0, ``inline_steps``, ``max_payload``, ``history_limit``,
    ``watchdog``, and ``grace``, the default of :meth:`shutdown`) are one
    :class:`legato.WorkerSettings` (:attr:`settings`): given as ``settings=`` (for example
    ``legato.WorkerSettings.from_env()``), each keyword given here replacing its value. A
    setting that is not valid raises :class:`legato.ConfigError` naming it.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        concurrency: int = UNSET,
        step_threads: int = UNSET,
        lease: float = UNSET,
        registry: Registry | None = None,
        retention: float | timedelta | None = UNSET,
        processes: int = UNSET,
        inline_steps: bool = UNSET,
        migrate: bool = True,
        max_payload: int = UNSET,
        history_limit: int = UNSET,
        watchdog: float | None = UNSET,
        settings: WorkerSettings | None = None,
    ) -> None:
        given = {name: value for name, value in zip(
            _SETTINGS, (concurrency, step_threads, lease, retention, processes, inline_steps,
                        max_payload, history_limit, watchdog), strict=True)
            if value is not UNSET}
        if settings is not None and not isinstance(settings, WorkerSettings):
            raise ConfigError(f"settings must be a legato.WorkerSettings, not {settings!r}")
        #: the workers' settings (checked: a bad one raised ConfigError naming it)
        self.settings: WorkerSettings = (settings or DEFAULTS).replace(**given) if given \
            else settings or DEFAULTS
        #: the most bytes of JSON an input, event or signal data may take (docs/inputs.md)
        self.max_payload = self.settings.max_payload
        self._queues_stored: set[str] = set()  # queue names found in the store
        self.url = resolve_url(url)
        self.clock: Clock = clock or SystemClock()
        self.registry = registry or REGISTRY
        self.store: Store = open_store(self.url, migrate=migrate)
        #: where the runs this engine starts execute, once launched (None: a client)
        self._workers: Workers | None = None
        self._waiters: dict[str, list[threading.Event]] = {}
        #: handles of runs this engine started and its own worker runs: the hub hands each
        #: its result when it completes the run (so result() need not read it back)
        self._in_flight: dict[str, WorkflowHandle] = {}
        self._ended_watch: Callable[[], None] | None = None  # other processes' ended runs
        self.tasks = TaskInbox(self)
        self.users = UserDirectory(self)
        self.schedules = ScheduleBook(self)
        #: API tokens (legato.tokens) and the operator log (legato.oplog)
        self.tokens = Tokens(self)
        self.operator_log = OperatorLog(self)
        self._wlock = threading.Lock()
        #: why this engine's worker stopped (an internal error), None while it is fine
        self.failure: BaseException | None = None

    def __repr__(self) -> str:
        launched = self._workers is not None
        return f"<Engine {redact(self.url)}{' launched' if launched else ''}>"

    # --- the settings, as attributes (read-only: :attr:`settings` holds them) ---------------

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency

    @property
    def step_threads(self) -> int:
        return self.settings.step_threads

    @property
    def lease(self) -> float:
        return self.settings.lease

    @property
    def retention(self) -> float | None:
        return self.settings.retention

    @property
    def processes(self) -> int:
        return self.settings.processes

    @property
    def inline_steps(self) -> bool:
        return self.settings.inline_steps

    @property
    def history_limit(self) -> int:
        return self.settings.history_limit

    @property
    def watchdog(self) -> float | None:
        return self.settings.watchdog

    # --- lifecycle -----------------------------------------------------------------------

    def launch(self) -> Engine:
        """Start the workers (threads of this process, or ``processes`` child processes) and
        recover unfinished workflows. Idempotent."""
        if self._workers is None:
            self._workers = self._start_processes() if self.settings.processes \
                else self._start_worker()
        return self

    def _start_worker(self) -> Worker:
        worker = Worker(self.store, self.registry, self.clock, self.settings,
                        on_done=self._on_done, on_completed=self._on_completed,
                        on_failure=self._worker_failed)
        worker.start()
        return worker

    def _start_processes(self) -> WorkerProcesses:
        from legato.worker.processes import ChildConfig, WorkerProcesses, child_modules

        if self.registry is not REGISTRY:
            raise ConfigError("processes need the workflows registered by @legato.workflow"
                              " (a worker process imports them by module): not a custom"
                              " registry")
        if not isinstance(self.clock, SystemClock):
            raise ConfigError("processes run on the system clock: a test clock cannot be"
                              " shared with worker processes")
        defs = self.registry.defs()
        nested = sorted(d.name for d in defs if "<locals>" in getattr(d.fn, "__qualname__", ""))
        if nested:
            raise ConfigError(f"workflow(s) {', '.join(map(repr, nested))} are defined inside"
                              " a function: worker processes import workflows by module, so"
                              " define them at module level")
        config = ChildConfig(url=self.url, modules=child_modules([d.fn for d in defs]),
                             names=tuple(d.name for d in defs), settings=self.settings)
        procs = WorkerProcesses(self.settings.processes, config, self.store, self.clock,
                                self._on_done, self._on_completed)
        procs.start()
        return procs

    @property
    def healthy(self) -> bool:
        """False once this engine's worker has died of an internal error (see
        :attr:`failure`); a client engine that runs no worker is always healthy."""
        return self.failure is None

    def _worker_failed(self, exc: BaseException) -> None:
        """The worker's hub died (it released its runs already): wake every waiting
        ``result()``, which then raises :class:`legato.WorkerStopped`."""
        self.failure = exc
        with self._wlock:
            waiting = [e for events in self._waiters.values() for e in events]
        for e in waiting:
            e.set()

    def shutdown(self, grace: float | None = None) -> None:
        """Stop the workers (running steps get ``grace`` seconds, by default the settings'
        ``grace``: 10) and close the store."""
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.stop(self.settings.grace if grace is None else grace)
        watch, self._ended_watch = self._ended_watch, None
        if watch is not None:
            watch()
        self._in_flight.clear()
        self.store.close()

    def __enter__(self) -> Engine:
        return self.launch()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def poke(self) -> None:
        """Tell this engine's workers (if launched), and those of other processes, that
        something became runnable."""
        workers = self._workers
        if workers is not None:
            workers.send(POKE)
        self.store.notify()

    def poke_scheduler(self) -> None:
        workers = self._workers
        if workers is not None:
            workers.send(POKE_SCHEDULER)

    @property
    def worker_pids(self) -> builtins.list[int]:
        """The process ids of this engine's worker processes (empty without ``processes``)."""
        return self._workers.pids if self._workers is not None else []

    @property
    def worker_id(self) -> str | None:
        """The id of this engine's worker when it runs in this process (else None)."""
        return self._workers.worker_id if self._workers is not None else None

    # --- starting ------------------------------------------------------------------------

    def _resolve(self, workflow: Callable[..., Any] | str) -> tuple[str, WorkflowDef | None]:
        if isinstance(workflow, str):
            inputs.text(workflow, "workflow name")
            wdef = self.registry.find(workflow)
            if wdef is None:
                known = self.store.known_names()
                if workflow not in known:
                    raise UnknownWorkflow(workflow, sorted({*self.registry.names(), *known}))
            return workflow, wdef
        wdef = workflow_def(workflow)
        if wdef is None:
            raise UnknownWorkflow(getattr(workflow, "__qualname__", repr(workflow)),
                                  self.registry.names())
        return wdef.name, wdef

    def start(
        self,
        workflow: Callable[..., Any] | str,
        *args: Any,
        workflow_id: str | None = None,
        deadline: float | timedelta | None = None,
        queue: str | None = None,
        priority: int = 0,
        queue_key: str | None = None,
        key: str | int | None = None,
        actor: Actor | str | None = None,
    ) -> WorkflowHandle:
        """Start a workflow (a decorated function or its name) with positional ``args``.

        Starting with an id that exists returns the existing run; the same id with a different
        workflow or input raises :class:`legato.WorkflowConflict`. ``key``: the run's
        business key (several runs may share one: ``list(key=...)``, ``runs(key=...)``);
        ``actor``: who starts it, recorded in its WorkflowStarted event.
        """
        name, wdef = self._resolve(workflow)
        new, started = new_run(self, name, wdef, args, workflow_id, deadline, queue, priority,
                               queue_key, key, actor_of(actor))
        handle = WorkflowHandle(self, new.id)
        in_flight = self._in_flight
        if len(in_flight) >= IN_FLIGHT_KEPT:  # runs given back and ended elsewhere linger
            in_flight.clear()
        in_flight[new.id] = handle  # before the hub has it: it may complete it at once
        created = False
        try:
            row, created = self._create(new, started, wdef)
        finally:  # born owned (_own: by our worker or a worker process): handed its result
            if not (created and new.owner is not None):
                in_flight.pop(new.id, None)  # not ours to run: result() reads the store
        if not created and (row.name != name or row.input != new.input):
            raise _conflict(row, new)
        handle.created = created
        return handle

    def start_many(
        self,
        workflow: Callable[..., Any] | str,
        inputs: Iterable[Sequence[Any]],
        *,
        workflow_ids: Sequence[str] | None = None,
        deadline: float | timedelta | None = None,
        queue: str | None = None,
        priority: int = 0,
        key: str | int | None = None,
        keys: Sequence[str | int] | None = None,
        actor: Actor | str | None = None,
    ) -> list[WorkflowHandle]:
        """Start one run of ``workflow`` per item of ``inputs`` (each item the run's
        positional arguments), all in one transaction: every run is recorded, or none is.

        Much faster than a loop of :meth:`start` for bulk work (a nightly batch, a backfill).
        ``workflow_ids`` (one per input) makes the batch idempotent: ids that exist already
        return their existing runs; an id that exists with another workflow or input raises
        :class:`legato.WorkflowConflict` and nothing of the batch is written. Business keys:
        ``key`` for every run, or ``keys`` one per input; ``actor`` as for :meth:`start`.
        """
        name, wdef = self._resolve(workflow)
        who = actor_of(actor)
        items = [tuple(a) if isinstance(a, (list, tuple)) else None for a in inputs]
        bad = next((i for i, a in enumerate(items) if a is None), None)
        if bad is not None:
            raise InvalidInput(f"{name}: inputs[{bad}] must be a list or tuple of positional"
                               " arguments (wrap a single argument: [(x,) for x in ...])")
        if workflow_ids is not None and len(workflow_ids) != len(items):
            raise InvalidInput(f"{name}: {len(workflow_ids)} workflow_ids for {len(items)}"
                               " inputs (give one id per input)")
        runs = []
        business = keys_for(name, len(items), key, keys)
        for i, args in enumerate(items):
            wid = None if workflow_ids is None else workflow_ids[i]
            try:
                runs.append(new_run(self, name, wdef, args or (), wid, deadline, queue,
                                    priority, None, business[i], who))
            except InvalidInput as exc:
                raise InvalidInput(f"inputs[{i}]: {exc}") from None
        self._own(runs, wdef)
        try:
            results = self.store.create_many(runs)
        except CreateConflict as c:
            raise _conflict(c.existing, runs[c.index][0]) from None
        self._hand_over(runs, results)
        return [WorkflowHandle(self, new.id) for new, _ in runs]

    def _known_queue(self, queue: Any) -> str:
        """``queue`` if it is declared: by ``legato.Queue`` in this process, or in the store
        (a worker declared it); else :class:`legato.InvalidInput`."""
        name = inputs.text(queue, "queue")
        if name in QUEUES or name in self._queues_stored:
            return name
        stored = {str(q["name"]) for q in self.store.queue_stats(self.clock.now())}
        self._queues_stored.update(stored)
        if name not in stored:
            raise InvalidInput(f"unknown queue {name!r}: declare it with legato.Queue({name!r},"
                               " ...) where the workflow is defined (a worker stores it)")
        return name

    def _create(self, new: NewWorkflow, started: Event,
                wdef: WorkflowDef | None) -> tuple[WorkflowRow, bool]:
        self._own([(new, started)], wdef)
        result = self.store.create(new, started)
        self._hand_over([(new, started)], [result])
        return result

    def _own(self, runs: Sequence[tuple[NewWorkflow, Event]], wdef: WorkflowDef | None) -> None:
        """Runs started here are born owned by one of our workers (with room) and handed to
        it directly (no claim round trip): our worker's hub, or each of our worker
        processes in turn (``Workers.owner_for_new_run``). A queued run waits for its queue;
        a run of a workflow not registered here is left to the workers that know it."""
        workers = self._workers
        given = 0
        for new, _ in runs:
            owner = None
            if workers is not None and wdef is not None and new.queue is None:
                owner = workers.owner_for_new_run(given)
                if owner is not None:
                    given += 1
            new.owner = owner

    def _hand_over(self, runs: Sequence[tuple[NewWorkflow, Event]],
                   results: Sequence[tuple[WorkflowRow, bool]]) -> None:
        """Give our workers the runs they own; tell them when others became claimable."""
        workers = self._workers
        if workers is None:
            if any(created for _, created in results):
                self.store.notify()  # a client: the workers are other processes
        elif workers.hand_over(runs, results):
            self.poke()

    async def start_async(self, workflow: Callable[..., Any] | str, *args: Any,
                          **options: Any) -> WorkflowHandle:
        return await asyncio.to_thread(lambda: self.start(workflow, *args, **options))

    # --- inspecting ----------------------------------------------------------------------

    def handle(self, workflow_id: str) -> WorkflowHandle:
        """A handle on an existing run; raises :class:`legato.WorkflowNotFound` if unknown."""
        workflow_id = inputs.lookup(workflow_id, "workflow_id")
        if self.store.get(workflow_id) is None:
            raise WorkflowNotFound(workflow_id)
        return WorkflowHandle(self, workflow_id)

    def list(self, status: str | None = None, name: str | None = None,
             limit: int = 100, key: str | int | None = None) -> list[WorkflowHandle]:
        """Handles on runs, newest first, optionally filtered by status, name and business
        key."""
        s = st.validate(status) if status else None
        name = None if name is None else inputs.lookup(name, "name")
        limit = inputs.count(limit, "limit")
        key = None if key is None else inputs.key(key, "key")
        return [WorkflowHandle(self, r.id)
                for r in self.store.list_workflows(s, name, limit, key)]

    def runs(self, status: str | Sequence[str] | None = None, name: str | None = None,
             key: str | int | None = None, since: Any = None, until: Any = None,
             limit: int = 50, cursor: str | None = None) -> RunPage:
        """One page of runs (:class:`legato.RunPage`), newest first by (created_at, id):
        each item as :meth:`WorkflowHandle.describe` gives it. ``status``: one, several
        comma-separated, or a list; ``since``/``until`` bound ``created_at`` (an aware
        datetime, ISO 8601 or epoch seconds; ``until`` excluded); ``limit`` 1..1000;
        ``cursor``: the ``next_cursor`` of the page before (docs/runs.md)."""
        return _runs.page(self, status, name, key, since, until, limit, cursor)

    def counts(self, name: str | None = None) -> dict[str, int]:
        """How many runs (of workflow ``name``) each status has, every status present."""
        return _runs.counts(self, name)

    def run_changes(self, after: str | None = None,
                    limit: int = 100) -> tuple[builtins.list[dict[str, Any]], str]:
        """Runs whose status or update time changed after position ``after`` (None: from
        now on, no items), oldest change first, and the position to pass next: each
        ``{"workflow_id", "name", "status", "key", "updated_at"}`` (docs/runs.md says what
        a late commit from another process can count on)."""
        return _runs.changes(self, after, limit)

    def purge(self, older_than: float | timedelta, *, status: str | Iterable[str] | None = None,
              dry_run: bool = False) -> int:
        """Delete the runs that ended (``COMPLETED``, ``FAILED``, ``CANCELLED``,
        ``TIMED_OUT``, or those of ``status``) more than ``older_than`` ago, with everything
        recorded for them; returns how many. Runs that have not ended are never touched; a
        purged run's id may be started again. ``dry_run`` only counts them."""
        secs = seconds(older_than, "older_than")
        if secs is None or secs < 0:
            raise InvalidInput(f"older_than must be zero or more, not {older_than!r}")
        wanted = []
        for s in [status] if isinstance(status, str) else list(status or st.TERMINAL):
            try:
                s = st.validate(str(s))
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
            if s not in st.TERMINAL:
                raise InvalidInput(f"only ended runs can be purged; {s} is not an ended status"
                                   f" ({', '.join(sorted(st.TERMINAL))})")
            wanted.append(s)
        before = self.clock.now() - secs
        if dry_run:
            return self.store.count_ended(before, wanted)
        total = 0
        while True:
            gone = self.store.purge(before, wanted, PURGE_BATCH)  # one transaction each
            total += len(gone)
            if len(gone) < PURGE_BATCH:
                return total

    def publish(self, event_type: str, *, key: str | None = None, data: Any = None,
                event_id: str | None = None,
                ttl: float | timedelta = timedelta(hours=24),
                actor: Actor | str | None = None) -> PublishResult:
        """Publish an event correlated by business ``key``.

        Stored durably first: it is delivered to every workflow waiting on (type, key); if
        none waits, it is buffered for the first matching wait until ``ttl`` passes.
        Publishing twice with the same ``event_id`` does nothing the second time. An empty
        ``event_id`` is refused, not replaced (a retried publish must be a duplicate).
        ``actor`` (who publishes) is recorded in the operator log.
        """
        who = actor_of(actor)
        event_type = inputs.text(event_type, "event type")
        key = "" if key is None else inputs.key(key, "key")
        event_id = new_workflow_id() if event_id is None else inputs.text(event_id, "event_id")
        raw = None if data is None else codec.dumps(data, "event data", limit=self.max_payload,
                                                    max_depth=inputs.MAX_DEPTH)
        secs = inputs.seconds(ttl, "ttl")
        result = self.store.publish(event_id, event_type, key, raw, self.clock.now(), secs)
        if result.delivered_to:
            self.poke()
        if not result.duplicate:
            self.operator_log.record("event.publish", event_type, actor=who, data={
                "event_id": event_id, "key": key, "delivered": len(result.delivered_to),
                "buffered": result.buffered})
        return result

    def signal(self, workflow_id: str, name: str, data: Any = None, *,
               actor: Actor | str | None = None) -> None:
        """Send a signal to one workflow; queued in order if it is not waiting yet.

        Raises :class:`legato.WorkflowNotFound` for an unknown run, and
        :class:`legato.WorkflowEnded` (with its ``status``) for one that has ended. The
        ``actor`` is recorded with the wait that takes the signal (its WaitCompleted).
        """
        who = actor_dict(actor)
        workflow_id = inputs.ref(workflow_id, "workflow_id")
        name = inputs.text(name, "signal name")
        raw = None if data is None else codec.dumps(data, "signal data", limit=self.max_payload,
                                                    max_depth=inputs.MAX_DEPTH)
        row = self.store.get(workflow_id)
        if row is None:
            raise WorkflowNotFound(workflow_id)
        if row.status in st.TERMINAL:
            raise WorkflowEnded(workflow_id, row.status)
        if self.store.send_signal(workflow_id, name, raw, self.clock.now(), who):
            self.poke()

    def send_task_success(self, token: str, output: Any) -> None:
        """Answer an ASL ``.waitForTaskToken`` Task: it succeeds with ``output`` (JSON).

        Like AWS's ``SendTaskSuccess``: raises :class:`legato.asl.TaskTokenError` (``code``
        ``InvalidToken``, ``TaskDoesNotExist``, ``TaskTimedOut``, ``InvalidOutput``) when the
        token is not one legato issued, or its Task is over. An answer that arrives before
        the Task waits is kept for it.
        """
        from legato.asl.callbacks import send_task_success

        send_task_success(self, token, output)

    def send_task_failure(self, token: str, error: str | None = None,
                          cause: str | None = None) -> None:
        """Fail an ASL ``.waitForTaskToken`` Task with ``error`` and ``cause`` (its Retry
        and Catch apply); see :meth:`send_task_success`."""
        from legato.asl.callbacks import send_task_failure

        send_task_failure(self, token, error, cause)

    def send_task_heartbeat(self, token: str) -> None:
        """Keep an ASL ``.waitForTaskToken`` Task with ``HeartbeatSeconds`` alive."""
        from legato.asl.callbacks import send_task_heartbeat

        send_task_heartbeat(self, token)

    def query(self, workflow_id: str, key: str) -> Any:
        """The latest value the workflow set with ``ctx.set_state(key, ...)`` (or None)."""
        workflow_id = inputs.lookup(workflow_id, "workflow_id")
        found, raw = self.store.query_state(workflow_id, inputs.lookup(key, "key"))
        if not found and self.store.get(workflow_id) is None:
            raise WorkflowNotFound(workflow_id)
        return codec.loads(raw) if found else None

    def buffered_events(self, type: str | None = None, key: str | None = None,
                        limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Events published that no wait has consumed yet (and not expired), of ``type``
        and ``key`` if given, oldest first: ``{"event_id", "type", "key", "data",
        "published_at", "expires_at"}``, times as ISO 8601 UTC strings (``key`` None for an
        event published without one). One that expires unconsumed is a WARNING log line.

        >>> engine.buffered_events(type="payment.settled", key="o-7")
        """
        type_ = None if type is None else inputs.text(type, "event type")
        key = None if key is None else inputs.key(key, "key")
        limit = inputs.integer(limit, "limit", 0, inputs.COUNT_MAX)
        return [e.as_dict() for e in self.store.buffered_events(type_, key, self.clock.now(),
                                                                limit)]

    def queues(self) -> builtins.list[dict[str, Any]]:
        """Each queue's limits, depth (waiting to start), running and recent throughput."""
        return self.store.queue_stats(self.clock.now())

    def circuits(self) -> builtins.list[dict[str, Any]]:
        """Every circuit breaker's name, state, failure count and next probe time."""
        return [{"name": c.name, "state": c.state, "failures": c.failures,
                 "opened_at": iso(c.opened_at),
                 "next_probe_at": iso(c.next_probe_at) if c.state != "CLOSED" else None,
                 "probes": c.probes}
                for c in self.store.circuits()]

    def circuit_transitions(self, name: str | None = None,
                            limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The audit trail of breaker state changes, newest first (``at`` an ISO 8601 UTC
        string)."""
        return [{**t, "at": iso(t["at"])} for t in self.store.circuit_transitions(name, limit)]

    def reset_circuit(self, name: str, *, actor: Actor | str | None = None
                      ) -> dict[str, Any]:
        """Close the circuit breaker ``name`` for every worker of the store (CLOSED, failures
        cleared), recorded in the operator log; returns it as :meth:`circuits` shows it.
        Raises :class:`legato.NotFound` if no breaker has that name."""
        name = inputs.lookup(name, "circuit name")
        who = actor_of(actor)
        reason = f"reset by {who.user}" if who is not None else "reset by an operator"
        found = CircuitGate(self.store, self.clock).reset(name, reason)
        if found is None:
            raise NotFound(f"no circuit breaker named {name!r}")
        before, changed = found
        if changed:
            self.operator_log.record("circuit.reset", name, actor=who, data={
                "from": before.state, "failures": before.failures})
        return next(c for c in self.circuits() if c["name"] == name)

    # --- control -------------------------------------------------------------------------

    def cancel(self, workflow_id: str, *, actor: Actor | str | None = None) -> None:
        """Ask the run to stop at its next step boundary; ``actor`` is recorded in its
        WorkflowCancelled event when it stops (docs/runs.md)."""
        who = actor_dict(actor)
        workflow_id = inputs.lookup(workflow_id, "workflow_id")
        row = self.store.request_cancel(workflow_id, self.clock.now(), who)
        if row is None:
            raise WorkflowNotFound(workflow_id)
        if row.status in st.ACTIVE:
            workers = self._workers
            if workers is not None:
                workers.send(Cancel(workflow_id))
            self.store.notify()  # its owner may be another process

    def retry(self, workflow_id: str, *, actor: Actor | str | None = None) -> WorkflowHandle:
        """Retry a FAILED workflow from its failed step, journal intact (after a code fix,
        or when a dependency is back). Raises :class:`legato.RetryRefused` if it cannot.
        ``actor`` is recorded in its WorkflowRedriven event."""
        who = actor_dict(actor)
        workflow_id = inputs.lookup(workflow_id, "workflow_id")
        row = self.store.retry(workflow_id, self.clock.now(), who)
        if row is None:
            raise WorkflowNotFound(workflow_id)
        self.poke()
        return WorkflowHandle(self, workflow_id)

    def terminate(self, workflow_id: str, reason: str = "terminated", *,
                  actor: Actor | str | None = None) -> None:
        """End the run at once (CANCELLED); ``actor`` is recorded in WorkflowTerminated."""
        who = actor_dict(actor)
        workflow_id = inputs.lookup(workflow_id, "workflow_id")
        row = self.store.terminate(workflow_id, inputs.lookup(reason, "reason"),
                                   self.clock.now(), who)
        if row is None:
            raise WorkflowNotFound(workflow_id)
        workers = self._workers
        if workers is not None:
            workers.send(Drop(workflow_id))
        self._on_done(workflow_id, row.status)

    # --- completion ----------------------------------------------------------------------

    def _on_completed(self, workflow_id: str, name: str, result: str | None) -> None:
        """Our worker committed this run COMPLETED with ``result`` (JSON)."""
        handle = self._in_flight.pop(workflow_id, None)
        if handle is not None:
            handle._completed(name, result)

    def _on_done(self, workflow_id: str, status: str) -> None:
        self._in_flight.pop(workflow_id, None)
        with self._wlock:
            events = self._waiters.pop(workflow_id, None)
        for e in events or ():
            e.set()

    def _watch_ended(self) -> None:
        """A client engine waits for runs that other processes end: have the store say
        when they do (where it can), instead of only re-reading the rows."""
        with self._wlock:
            if self._ended_watch is None:
                self._ended_watch = self.store.watch_ended(self._ended_elsewhere)

    def _ended_elsewhere(self, workflow_id: str) -> None:
        self._on_done(workflow_id, "")

    def wait_terminal(self, workflow_id: str, timeout: float | None) -> WorkflowRow:
        """Block until the run is COMPLETED/FAILED/CANCELLED/TIMED_OUT; return its row."""
        refuse_inline_wait()  # a step on the hub's thread would hold up the hub it waits for
        end = None if timeout is None else time.monotonic() + timeout
        row = self.store.get(workflow_id)
        if row is None:
            raise WorkflowNotFound(workflow_id)
        if row.status not in st.TERMINAL and self._workers is None:
            self._watch_ended()
        poll = 0.01
        done = threading.Event()
        try:
            while row.status not in st.TERMINAL:
                workers = self._workers
                failure = self.failure  # set once the dead worker has released its runs
                if failure is not None and workers is not None:
                    raise WorkerStopped(
                        f"this engine's worker stopped after an internal error "
                        f"({type(failure).__name__}: {failure}); workflow "
                        f"{workflow_id!r} is {row.status} and goes on when another worker "
                        "takes it over")
                with self._wlock:
                    self._waiters.setdefault(workflow_id, []).append(done)
                row = self.store.get(workflow_id)  # again: it may have ended meanwhile
                if row is None:
                    raise WorkflowNotFound(workflow_id)
                if row.status in st.TERMINAL:
                    break
                wait = poll if end is None else min(poll, end - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(
                        f"workflow {workflow_id!r} did not finish within {timeout}s "
                        f"(status {row.status})")
                done.wait(wait)
                done.clear()
                # in-process completions signal at once; others are polled for
                poll = min(poll * 2, 0.5 if workers is not None and workers.reports_every_end
                           else 0.1)
            return row
        finally:
            with self._wlock:
                waiting = self._waiters.get(workflow_id)
                if waiting is not None:
                    while done in waiting:
                        waiting.remove(done)
                    if not waiting:
                        del self._waiters[workflow_id]


def _conflict(row: WorkflowRow, new: NewWorkflow) -> WorkflowConflict:
    return WorkflowConflict(
        f"workflow id {new.id!r} exists already as {row.name}{_args(row.input)}; "
        f"this start asks for {new.name}{_args(new.input)}: use another workflow_id")


def _args(input_json: str) -> str:
    text = input_json[1:-1] if input_json.startswith("[") else input_json
    return f"({text[:200]})"
