"""The workflow context handed to every workflow function as its first argument."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from legato.domain import inputs
from legato.domain.records import Condition
from legato.errors import InvalidInput, LegatoError, WaitTimeout
from legato.runtime.registry import StepDef, seconds
from legato.runtime.run import Captured

if TYPE_CHECKING:
    from legato.runtime.run import Run
    from legato.runtime.saga import Saga


class _Timer:
    __slots__ = ("seconds",)

    def __init__(self, secs: float) -> None:
        self.seconds = secs


class WorkflowContext:
    """What a workflow may do besides calling steps. Deterministic on replay.

    >>> @legato.workflow
    ... def remind(ctx: legato.WorkflowContext, user: str) -> None:
    ...     ctx.sleep(timedelta(days=1))   # durable: survives restarts, holds no thread
    ...     send_reminder(user)            # a @legato.step
    """

    __slots__ = ("_logger", "_run")

    def __init__(self, run: Run) -> None:
        self._run = run
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None

    @property
    def workflow_id(self) -> str:
        run = self._run
        if run.id_unknown:  # legato.testing.replay of a history that does not record it
            run.id_read = True
        return run.workflow_id

    @property
    def workflow_name(self) -> str:
        return self._run.wdef.name

    @property
    def is_replaying(self) -> bool:
        """True while the run re-reads recorded history (after a restart or a wake-up)."""
        return self._run.replaying

    def now(self) -> datetime:
        """The time of the latest journal event: the same on every replay (UTC)."""
        return datetime.fromtimestamp(self._run.now, UTC)

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that does not repeat its lines while the workflow replays."""
        if self._logger is None:
            from legato.runtime.run import ReplayAwareLogger

            self._logger = ReplayAwareLogger(self._run)
        return self._logger

    def sleep(self, duration: float | timedelta, *, name: str = "sleep") -> None:
        """Wait durably for ``duration`` (seconds or timedelta); holds no thread while waiting."""
        secs = seconds(duration, "ctx.sleep duration")
        assert secs is not None
        self._run.sleep(secs, name)

    async def sleep_async(self, duration: float | timedelta, *, name: str = "sleep") -> None:
        """``await ctx.sleep_async(...)`` in an ``async def`` workflow."""
        self.sleep(duration, name=name)

    def patched(self, patch_id: str) -> bool:
        """True for runs reaching this point first after a code change, False for older runs.

        Guard new code with it so that workflows that passed this point before the deploy
        replay the old path::

            if ctx.patched("new-fraud-check"):
                fraud_check(order)
        """
        return self._run.patched(patch_id)

    def saga(self, *, parallel: bool = False) -> Saga:
        """Compensations for the work done so far (``with ctx.saga() as saga:``).

        ``saga.add(undo_step, *args)`` after each successful step; if the block fails (or the
        workflow is cancelled or times out), the compensations run newest first — or all at
        once with ``parallel=True`` — as durable steps, then the error goes on.
        """
        from legato.runtime.saga import Saga

        return Saga(self._run, parallel=parallel)

    def parallel(self, branches: Sequence[Callable[[], Any]], *, limit: int = 8,
                 fail_fast: bool = True, return_exceptions: bool = False) -> list[Any]:
        """Run several step calls concurrently and return their results in order.

        Each branch is a callable making exactly one step call, e.g.
        ``ctx.parallel([lambda: reserve(a), lambda: reserve(b)], limit=8)``. With
        ``fail_fast`` (default) the first failure stops the branches not yet finished and is
        raised; otherwise every branch runs and the first failure (by position) is raised,
        or returned in place with ``return_exceptions=True``.
        """
        run = self._run
        calls = []
        run.capturing = True
        try:
            for i, branch in enumerate(branches):
                captured = branch()
                if not isinstance(captured, Captured):
                    raise LegatoError(
                        f"ctx.parallel branch {i} must make exactly one step call, like "
                        f"lambda: charge(order); it returned {captured!r} (for branches that "
                        "do more, use ctx.branches)")
                calls.append((captured.sdef, captured.args, captured.kwargs))
        finally:
            run.capturing = False
        return run.parallel_steps(calls, limit, fail_fast, return_exceptions)

    def map(self, step: Callable[..., Any], items: Iterable[Any], *, limit: int = 8,
            fail_fast: bool = True, return_exceptions: bool = False) -> list[Any]:
        """``step(item)`` for every item, concurrently (see :meth:`parallel`)."""
        def branch(item: Any) -> Callable[[], Any]:
            return lambda: step(item)

        return self.parallel([branch(item) for item in items], limit=limit,
                             fail_fast=fail_fast, return_exceptions=return_exceptions)

    def branches(self, branches: Sequence[Callable[[], Any]], *, limit: int = 8,
                 fail_fast: bool = True, return_exceptions: bool = False) -> list[Any]:
        """Run several functions concurrently, each as a branch of this workflow, and return
        their results in order.

        A branch may do anything the workflow body does: several steps, ``ctx.sleep``,
        waits for events, child workflows, nested branches. Up to ``limit`` run at a time;
        their steps run concurrently. Each branch is replayed from its own events, so a
        crash or a wake-up resumes every branch where it was. With ``fail_fast`` (default)
        the first failure stops the other branches at their next step (those not started
        never start) and is raised; otherwise every branch runs and the first failure (by
        position) is raised, or returned in place with ``return_exceptions=True``. In an
        async workflow the branches may be ``async def`` functions.
        """
        from legato.runtime.branches import run_branches

        return run_branches(self._run, list(branches), limit, fail_fast, return_exceptions)

    async def branches_async(self, branches: Sequence[Callable[[], Any]], **options: Any
                             ) -> list[Any]:
        return self.branches(branches, **options)

    async def parallel_async(self, branches: Sequence[Callable[[], Any]], **options: Any
                             ) -> list[Any]:
        return self.parallel(branches, **options)

    async def map_async(self, step: Callable[..., Any], items: Iterable[Any],
                        **options: Any) -> list[Any]:
        return self.map(step, items, **options)

    def child(self, workflow: Callable[..., Any], *args: Any,
              workflow_id: str | None = None,
              timeout: float | timedelta | None = None,
              key: str | int | None = None) -> Any:
        """Run ``workflow(*args)`` as a child workflow and return its result.

        The child is a full workflow (own history, visible in lists, retried and recovered
        on its own); the parent waits durably, holding no thread. A child that does not
        complete raises :class:`legato.WorkflowFailed` here. Cancelling the parent cancels
        its children; a child never outlives the parent's deadline. The default child id,
        ``"<parent id>:<seq>"``, is stable across replays. With ``timeout`` the child is
        stopped (``TIMED_OUT``) if it has not ended that long after it started. ``key`` is
        the child's business key (``engine.list(key=...)``, docs/runs.md).
        """
        from legato.runtime.registry import workflow_def

        wdef = workflow_def(workflow)
        if wdef is None:
            raise LegatoError(f"ctx.child needs a @legato.workflow, got {workflow!r}")
        return self._run.child(wdef, args, inputs.optional_text(workflow_id, "workflow_id"),
                                timeout=seconds(timeout, "ctx.child timeout"),
                                key=None if key is None else inputs.key(key, "key"))

    def start_child(self, workflow: Callable[..., Any], *args: Any,
                    workflow_id: str | None = None, key: str | int | None = None) -> str:
        """Start ``workflow(*args)`` as a detached workflow and carry on; returns its id.

        Durable and idempotent (recorded in this run's journal; the default id is
        ``"<this id>:<seq>"``). Unlike :meth:`child`, the new run is not tied to this one:
        it is not cancelled with it and does not inherit its deadline. ``key``: its business
        key.
        """
        from legato.runtime.registry import workflow_def

        wdef = workflow_def(workflow)
        if wdef is None:
            raise LegatoError(f"ctx.start_child needs a @legato.workflow, got {workflow!r}")
        return str(self._run.child(wdef, args,
                                    inputs.optional_text(workflow_id, "workflow_id"),
                                    wait=False,
                                    key=None if key is None else inputs.key(key, "key")))

    async def child_async(self, workflow: Callable[..., Any], *args: Any,
                          workflow_id: str | None = None,
                          timeout: float | timedelta | None = None,
                          key: str | int | None = None) -> Any:
        return self.child(workflow, *args, workflow_id=workflow_id, timeout=timeout, key=key)

    # --- waiting for the outside world -------------------------------------------------

    def event(self, event_type: str, *, key: str | None = None) -> Condition:
        """A condition for :meth:`wait_any`: an event of this type for this business key."""
        return Condition("event", inputs.text(event_type, "event type"),
                         "" if key is None else inputs.key(key))

    def signal(self, name: str) -> Condition:
        """A condition for :meth:`wait_any`: a signal sent to this workflow."""
        return Condition("signal", inputs.text(name, "signal name"))

    def timer(self, duration: float | timedelta) -> _Timer:
        """A condition for :meth:`wait_any`: this much time passing."""
        secs = seconds(duration, "ctx.timer duration")
        assert secs is not None
        return _Timer(secs)

    def wait_any(self, conditions: Sequence[Condition | _Timer], *,
                 name: str = "wait_any") -> tuple[int, Any]:
        """Wait durably for the first of several events, signals and timers.

        ``index, value = ctx.wait_any([ctx.event("paid", key=k), ctx.signal("cancel"),
        ctx.timer(3600)])`` — ``value`` is the event or signal data (``None`` for a timer).
        """
        conds = [c for c in conditions if isinstance(c, Condition)]
        timers = [(i, c.seconds) for i, c in enumerate(conditions) if isinstance(c, _Timer)]
        first_timer = min(timers, key=lambda t: t[1]) if timers else None
        timeout_at = None if first_timer is None else \
            self._run.clock.now() + first_timer[1]
        index, value = self._run.wait_for(conds, timeout_at, name)
        if index < 0:
            assert first_timer is not None
            return first_timer[0], None
        positions = [i for i, c in enumerate(conditions) if isinstance(c, Condition)]
        return positions[index], value

    def wait_event(self, event_type: str, *, key: str | None = None,
                   timeout: float | timedelta | None = None) -> Any:
        """Wait durably for an event of ``event_type`` for business ``key``; return its data.

        An event published before the wait was buffered and is consumed here (once).
        Raises :class:`legato.WaitTimeout` after ``timeout``. Holds no thread while waiting.
        """
        return self._wait_one(self.event(event_type, key=key), timeout,
                              f"event {event_type!r} (key {key!r})")

    def wait_signal(self, name: str, *, timeout: float | timedelta | None = None) -> Any:
        """Wait durably for the next signal ``name`` sent to this workflow; return its data.

        Signals sent before the wait are queued in order and never lost.
        """
        return self._wait_one(self.signal(name), timeout, f"signal {name!r}")

    def _wait_one(self, cond: Condition, timeout: float | timedelta | None, what: str) -> Any:
        secs = seconds(timeout, "timeout")
        timeout_at = None if secs is None else self._run.clock.now() + secs
        index, value = self._run.wait_for([cond], timeout_at, f"{cond.kind}:{cond.name}")
        if index < 0:
            raise WaitTimeout(f"no {what} arrived within {secs:g}s")
        return value

    async def wait_event_async(self, event_type: str, **options: Any) -> Any:
        return self.wait_event(event_type, **options)

    async def wait_signal_async(self, name: str, **options: Any) -> Any:
        return self.wait_signal(name, **options)

    async def wait_any_async(self, conditions: Sequence[Condition | _Timer]) -> tuple[int, Any]:
        return self.wait_any(conditions)

    def human_task(self, name: str, *, assignee: str | None = None,
                   group: str | None = None, data: Any = None,
                   form: dict[str, Any] | None = None, due: float | timedelta | None = None,
                   escalate_to: str | None = None, four_eyes: bool = False,
                   on_escalate: Callable[..., Any] | None = None,
                   escalation_due: float | timedelta | None = None) -> dict[str, Any]:
        """Ask a person (``assignee``) or anyone in ``group`` to decide; wait durably.

        Returns ``{"outcome": "completed" | "rejected", "data": {...}, "by": [users],
        "task_id": ...}``. ``form`` is a JSON Schema the completing data must match. Past
        ``due`` the task is handed to the ``escalate_to`` group; without one the workflow
        gets :class:`legato.TaskExpired`. ``four_eyes=True`` needs two different approvers.
        People act through ``engine.tasks`` (or ``legato tasks``).

        When the task escalates, ``on_escalate`` (a ``@legato.step`` function) runs once as
        a step of this workflow, called with the escalated task as a dict (``id``, ``name``,
        ``group``, ``data``, ``due``, ... and ``escalated_from``), then the wait goes on.
        ``escalation_due`` (seconds or a timedelta) is the escalated task's own due, counted
        from the escalation: past it the task expires (:class:`legato.TaskExpired`); without
        it the escalated task waits for ever. Both need ``due`` and ``escalate_to``.

        >>> ctx.human_task("approve", group="finance", due=timedelta(hours=24),
        ...                escalate_to="managers", on_escalate=page_managers,
        ...                escalation_due=timedelta(hours=4))
        """
        from legato.domain.tasks import Task as HumanTask

        if not assignee and not group:
            raise LegatoError(f"human task {name!r} needs an assignee or a group")
        due_in = seconds(due, "due")
        hook = getattr(on_escalate, "__legato_step__", None) if callable(on_escalate) \
            else None
        try:
            escalated_in = seconds(escalation_due, "escalation_due")
            if on_escalate is not None and not isinstance(hook, StepDef):
                raise InvalidInput(f"on_escalate must be a @legato.step function, not "
                                   f"{on_escalate!r}")
            for given, what in ((on_escalate, "on_escalate"),
                                (escalation_due, "escalation_due")):
                if given is not None and (due is None or not escalate_to):
                    raise InvalidInput(f"{what} needs due and escalate_to (the task escalates"
                                       " to the escalate_to group once due passes)")
        except InvalidInput as exc:
            raise InvalidInput(f"human task {name!r}: {exc}") from None
        spec = HumanTask(id="", workflow_id="", name=name, assignee=assignee, group=group,
                    data=data, form=form, escalate_to=escalate_to, four_eyes=four_eyes)
        return self._run.human_task(spec, due_in, escalated_in, hook)

    async def human_task_async(self, name: str, **options: Any) -> dict[str, Any]:
        return self.human_task(name, **options)

    def set_state(self, key: str, value: Any) -> None:
        """Publish a value that ``engine.handle(id).query(key)`` reads, even while suspended."""
        self._run.set_state(inputs.text(key, "state key"), value)

    def __repr__(self) -> str:
        return f"<WorkflowContext {self._run.wdef.name} {self._run.workflow_id!r}>"
