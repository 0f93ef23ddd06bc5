"""``asl.register``: a state machine as a durable legato workflow.

The interpreter runs inside the workflow body and reaches the world only through
:class:`DurableExecutor`:

- a Task is a journaled step (one ``@legato.step`` per handler, named ``asl:<machine>:<key>``)
  whose result is an envelope: failures are data, and ASL's Retry/Catch decide what follows;
- Wait states and retry intervals are ``ctx.sleep`` (durable timers, no thread held);
- a ``.waitForTaskToken`` Task waits with ``ctx.wait_any`` for the events that
  ``engine.send_task_success/failure/heartbeat`` publish under its token, and a timer for
  TimeoutSeconds/HeartbeatSeconds (see :mod:`legato.asl.callbacks`);
- ``states:startExecution.sync`` runs a registered machine as a child workflow
  (``ctx.child``, its id the execution name);
- every history event (``PassStateEntered``, ``TaskSucceeded`` ...) is a journal marker
  ``asl:<event id>:<type>:<state>``, so the run's progress shows in ``handle.history()``;
- Parallel branches and Map iterations run concurrently in the same workflow
  (``ctx.branches``), each replayed from its own events;
- time is the journal's and randomness is seeded by the workflow id, so a replay after a
  crash takes the same path and resumes at the state it was in.

The handle uses legato's statuses: SUCCEEDED -> COMPLETED, FAILED -> FAILED (the error is
:class:`ExecutionFailed` with the ASL error and cause), TIMED_OUT (the machine's
``TimeoutSeconds`` is the workflow deadline) and ABORTED -> CANCELLED (``handle.cancel()``).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from legato.asl import callbacks, errors
from legato.asl import model as m
from legato.asl.api import REGION, run_info
from legato.asl.callbacks import make_token, parse_token
from legato.asl.errors import HandlerError, StatesFailure
from legato.asl.executor import (
    BranchAborted,
    BranchResult,
    ExecutionOutcome,
    ExecutionRequest,
    Job,
    TaskRequest,
    stopped_by_task,
)
from legato.asl.handlers import (
    Handler,
    Handlers,
    Outcome,
    Target,
    TaskContext,
    classify,
    invoke,
)
from legato.asl.history import TERMINAL_EVENTS, History
from legato.asl.interpreter import Interpreter
from legato.asl.parser import parse
from legato.domain.retry import NO_RETRY
from legato.errors import LegatoError, WorkflowFailed
from legato.runtime.context import WorkflowContext
from legato.runtime.parallel import SiblingFailed
from legato.runtime.registry import step, workflow


class ExecutionFailed(LegatoError):
    """A durable state machine ended FAILED; ``error`` and ``cause`` as AWS words them."""

    def __init__(self, error: str | None, cause: str | None = None) -> None:
        super().__init__(error, cause)  # args rebuild it from a journal (a parent's .sync)
        self.error = error
        self.cause = cause

    def __str__(self) -> str:
        return f"{self.error}: {self.cause}" if self.cause else str(self.error)


@dataclass
class Binding:
    """A registered machine: its model, handlers and the steps that call them."""

    name: str
    machine: m.Machine
    handlers: Handlers
    steps: dict[str, Callable[..., Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    workflow: Callable[..., Any] | None = None  # the registered workflow (for ctx.child)

    def step_for(self, key: str) -> Callable[..., Any]:
        with self.lock:
            fn = self.steps.get(key)
            if fn is None:
                fn = _task_step(self.name, key)
                self.steps[key] = fn
            return fn


_BINDINGS: dict[str, Binding] = {}
#: a child workflow's legato status -> the child execution's AWS status
_STATUS = {"COMPLETED": "SUCCEEDED", "FAILED": "FAILED", "TIMED_OUT": "TIMED_OUT",
           "CANCELLED": "ABORTED"}


def _task_step(machine: str, key: str) -> Callable[..., Any]:
    def invoke_task(request: dict[str, Any]) -> dict[str, Any]:
        binding = _BINDINGS.get(machine)
        target = classify(request["resource"])
        fn = binding.handlers.find(target, request.get("function")) if binding else None
        if fn is None:
            name = request.get("function") or target.key or target.resource
            return Outcome(False, error="Lambda.ResourceNotFoundException",
                           cause=f"Function not found: {name}").as_dict()
        ctx = TaskContext(function_name=request.get("function") or target.key or "",
                          aws_request_id=request["request_id"], state_name=request["state"],
                          task_token=request.get("token"), timeout=request.get("timeout"),
                          heartbeat_seconds=request.get("heartbeat"), virtual=False,
                          invoked_function_arn=target.resource)
        return invoke(fn, request["event"], ctx, target).as_dict()

    invoke_task.__qualname__ = f"asl[{machine}].{key}"
    return step(name=f"asl:{machine}:{key}", retry=NO_RETRY)(invoke_task)


#: history events one branch of a durable execution records between two checkpoints
CHECKPOINT_EVERY = 200
#: ... or characters of state input/output in those events (their JSON encoding is most of
#: the work: 200 events of 256 KiB payloads would take the worker's thread for seconds)
CHECKPOINT_CHARS = 1 << 20
#: the ``ctx.patched`` id that marks runs which take checkpoints (runs started before legato
#: took them replay without)
CHECKPOINTS = "asl:checkpoints"


@step(name="asl:checkpoint", retry=NO_RETRY, inline=False)
def _checkpoint() -> None:
    """Does nothing, in the worker's step pool: calling it parks the run.

    States that do no I/O (Pass, Choice, a Wait of 0 seconds) never park, so a run looping
    through them would keep the worker's thread until its history is full. Every
    :data:`CHECKPOINT_EVERY` events (or :data:`CHECKPOINT_CHARS` characters of payload) the
    run calls this step: what it recorded is committed,
    the worker serves its other runs while the step goes to the pool and back, and a
    cancellation or the machine's ``TimeoutSeconds`` (the workflow deadline) stops it there.
    """


#: iterations of an inline Map that run at once (AWS runs at most 40)
INLINE_AT_ONCE = 40
#: iterations of a distributed Map that run at once when MaxConcurrency is 0 (AWS: 10,000
#: child executions; here each is a branch of the run, ~20 KB of memory while it waits)
DISTRIBUTED_AT_ONCE = 1000


class DurableExecutor:
    """The :class:`~legato.asl.executor.Executor` that runs on a legato workflow's journal."""

    virtual = False

    def __init__(self, ctx: WorkflowContext, binding: Binding, rng: random.Random,
                 history: History | None = None, prefix: str = "") -> None:
        self.ctx = ctx
        self.binding = binding
        self.rng = rng
        self.history = history if history is not None else History(keep=False)
        self.prefix = prefix
        self._stopped = False
        self._unchecked = 0  # events recorded since the last checkpoint
        self._unchecked_chars = 0  # ... and the characters of their details

    def now(self) -> float:
        return self.ctx.now().timestamp()

    def record(self, event_type: str, details: dict[str, Any] | None = None) -> int:
        event_id = self.history.add(event_type, self.now(), details)
        name = (details or {}).get("name")
        marker = f"asl:{self.prefix}{event_id}:{event_type}" + (f":{name}" if name else "")
        self.ctx.patched(marker[:250])
        self._unchecked += 1
        if details:
            self._unchecked_chars += sum(len(v) for v in details.values() if isinstance(v, str))
        if (self._unchecked >= CHECKPOINT_EVERY or self._unchecked_chars >= CHECKPOINT_CHARS) \
                and event_type not in TERMINAL_EVENTS:
            # at the same event of this branch on every replay (the same events with the same
            # payloads): the journal matches
            self._unchecked = self._unchecked_chars = 0
            if self.ctx.patched(CHECKPOINTS):
                _checkpoint()
        return event_id

    @property
    def next_event_id(self) -> int:
        return self.history.next_id

    def invoke(self, request: TaskRequest) -> Outcome:
        key = request.function or request.target.key or request.target.resource
        call = self.binding.step_for(key)
        envelope = call({"resource": request.target.resource, "function": request.function,
                         "event": request.event, "state": request.state,
                         "timeout": request.timeout, "heartbeat": request.heartbeat,
                         "request_id": request.request_id, "token": request.token})
        return Outcome.from_dict(envelope)

    def handles(self, target: Target) -> bool:
        return self.binding.handlers.find(target) is not None

    def task_token(self, where: str) -> str:
        return make_token(self.ctx.workflow_id, f"{self.prefix}{where}")

    def await_token(self, request: TaskRequest, started: float) -> Outcome | None:
        """Wait durably for send_task_success/failure, heartbeats, or a time limit.

        ``started`` and every heartbeat time come from the journal (the same on replay), so
        which limit fires is decided the same way on every replay.
        """
        token = request.token or ""
        ctx = self.ctx
        deadline = None if request.timeout is None else started + request.timeout
        beat = started
        name = f"asl:callback:{request.state}"[:200]
        outcome: Outcome | None = None
        while outcome is None:
            limits = [(at, kind) for at, kind in (
                (deadline, "timeout"),
                (None if request.heartbeat is None else beat + request.heartbeat, "heartbeat"))
                if at is not None]
            waits: list[Any] = [ctx.event(callbacks.RESULT, key=callbacks.event_key(token))]
            if request.heartbeat is not None:  # else heartbeats need not wake the workflow
                waits.append(ctx.event(callbacks.HEARTBEAT, key=callbacks.event_key(token)))
            limit = min(limits) if limits else None
            if limit is not None:
                waits.append(ctx.timer(max(0.0, limit[0] - self.now())))
            index, data = ctx.wait_any(waits, name=name)
            if index == 1 and request.heartbeat is not None:
                beat = self.now()
            elif index == 0:
                answer = data if isinstance(data, dict) else {}
                outcome = (Outcome(True, answer.get("output")) if answer.get("ok") else
                           Outcome(False, error=answer.get("error"), cause=answer.get("cause")))
            else:
                assert limit is not None
                outcome = Outcome(False, timed_out=limit[1])
        ctx.set_state(callbacks.closed_key(parse_token(token)[1]), True)
        return outcome

    def start_execution(self, request: ExecutionRequest) -> ExecutionOutcome:
        """A child machine as a legato child workflow (``.sync``: waited for durably)."""
        started = self.now()
        binding = _BINDINGS.get(request.machine)
        if binding is None or binding.workflow is None:
            return ExecutionOutcome(started, refused="missing")
        try:
            if not request.wait:  # fire and forget: a detached run, recorded once
                self.ctx.start_child(binding.workflow, request.input, workflow_id=request.name)
                return ExecutionOutcome(started)
            output = self.ctx.child(binding.workflow, request.input, workflow_id=request.name,
                                    timeout=request.timeout)
        except WorkflowFailed as exc:
            err = exc.error or {}
            if str(err.get("type", "")).endswith("WorkflowConflict"):
                return ExecutionOutcome(started, refused="exists")
            status = _STATUS.get(exc.status, "FAILED")
            if status == "TIMED_OUT" and stopped_by_task(request, binding.machine.timeout_seconds):
                return ExecutionOutcome(started, "ABORTED", stopped=self.now(), timed_out=True)
            args = err.get("args")
            if str(err.get("type", "")).endswith("ExecutionFailed") and \
                    isinstance(args, list) and len(args) == 2:
                error, cause = args[0], args[1]
            elif status == "TIMED_OUT":
                error, cause = errors.TIMEOUT, "The execution ran longer than the state " \
                                               "machine's TimeoutSeconds."
            elif status == "ABORTED":
                error, cause = None, None
            else:
                error, cause = str(err.get("type", "")) or None, err.get("message")
            return ExecutionOutcome(started, status, error=error, cause=cause,
                                    stopped=self.now())
        return ExecutionOutcome(started, "SUCCEEDED", output, stopped=self.now())

    def sleep(self, seconds: float, what: str) -> None:
        if seconds > 0:
            self.ctx.sleep(seconds, name=f"asl:{what}"[:200])

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def random(self) -> float:
        return self.rng.random()

    def stopped(self) -> bool:
        return self._stopped

    def branches(self, jobs: list[Job], max_concurrency: int, *, fail_fast: bool,
                 isolated: bool, interleaved: bool = False) -> list[BranchResult]:
        """Branches run concurrently (``ctx.branches``): a Parallel's all at once, a Map's up
        to ``max_concurrency`` (0: 40 inline, as on AWS; 1,000 distributed).

        Each has its own history numbering (``<prefix><first id>.<index>/``), random
        generator and clock, so that a replay finds the same markers, tokens and request
        ids whatever order the branches' events interleaved in.
        """
        if not jobs:
            return []
        base = self.history.next_id
        wid = self.ctx.workflow_id

        def branch(i: int, job: Job) -> Callable[[], BranchResult]:
            def run() -> BranchResult:
                prefix = f"{self.prefix}{base}.{i}/"
                # numbered on its own; counted against the execution's quota unless it is a
                # distributed Map's iteration (a child execution on AWS, with a quota of its own)
                history = History(None if isolated else self.history.budget, keep=False)
                child = DurableExecutor(self.ctx, self.binding,
                                        random.Random(f"{wid}/{prefix}"), history, prefix)
                try:
                    return BranchResult(True, job(child), ended_at=child.now())
                except StatesFailure as failure:  # raised, so that fail-fast stops the rest
                    raise _BranchFailed(BranchResult(False, failure=failure,
                                                     ended_at=child.now())) from None
                except BranchAborted:
                    return BranchResult(False, aborted=True, ended_at=child.now())
            return run

        if interleaved:  # a Parallel state: every branch at once
            limit = len(jobs)
        elif isolated:  # a distributed Map
            limit = max_concurrency if max_concurrency > 0 else DISTRIBUTED_AT_ONCE
        else:  # an inline Map runs at most 40 iterations at once on AWS
            limit = min(max_concurrency, INLINE_AT_ONCE) if max_concurrency > 0 \
                else INLINE_AT_ONCE
        outcomes = self.ctx.branches([branch(i, job) for i, job in enumerate(jobs)],
                                     limit=limit, fail_fast=fail_fast, return_exceptions=True)
        results: list[BranchResult] = []
        for outcome in outcomes:
            if isinstance(outcome, BranchResult):
                results.append(outcome)
            elif isinstance(outcome, _BranchFailed):
                results.append(outcome.result)
            elif isinstance(outcome, SiblingFailed):
                results.append(BranchResult(False, aborted=True))
            else:
                raise outcome
        return results


class _BranchFailed(Exception):
    """A branch's ASL failure, on its way out of ``ctx.branches`` (its ``BranchFailed``)."""

    def __init__(self, result: BranchResult) -> None:
        failure = result.failure
        assert failure is not None
        super().__init__(f"{failure.error}: {failure.cause}")
        self.result = result


def _run(ctx: WorkflowContext, binding: Binding, value: Any) -> Any:
    value = {} if value is None else value
    rng = random.Random(ctx.workflow_id)
    start = ctx.now().timestamp()
    info = run_info(binding.name, ctx.workflow_id, value, start)
    executor = DurableExecutor(ctx, binding, rng)
    result = Interpreter(binding.machine, info, region=REGION).execute(executor, value)
    if result.status == "SUCCEEDED":
        return result.output
    raise ExecutionFailed(result.error, result.cause)


def registered(name: str) -> m.Machine | None:
    """The state machine registered (in this process) as workflow ``name``, if any."""
    binding = _BINDINGS.get(name)
    return None if binding is None else binding.machine


def register(name: str, machine: m.Machine | Mapping[str, Any] | str,
             handlers: Mapping[str, Handler] | None = None) -> Callable[..., Any]:
    """Register ``machine`` as a durable workflow named ``name`` and return it.

    >>> asl.register("order", asl.load("order.asl.json"), handlers={"charge": charge})
    >>> engine.start("order", {"id": 1}).result(timeout=10)

    The workflow takes the execution input as its one argument. Raises
    :class:`~legato.asl.HandlerError` at once if a Task resource has no handler, and
    :class:`~legato.asl.DefinitionError` for an invalid definition. Registering the same name
    again replaces the machine (for runs that start afterwards).
    """
    if not isinstance(name, str) or not name:
        raise HandlerError("asl.register needs a non-empty workflow name")
    parsed = parse(machine)
    table = Handlers(handlers)
    table.check(parsed)
    binding = Binding(name, parsed, table)
    for _, st in parsed.walk():
        reader = getattr(st, "item_reader", None)
        if reader is not None and reader.resource:
            binding.step_for(classify(reader.resource).key or reader.resource)
        if isinstance(st, m.TaskState):
            target = classify(st.resource)
            if target.kind == "execution" and table.find(target) is None:
                continue
            if target.key is not None:
                binding.step_for(target.key)

    def run_machine(ctx: WorkflowContext, value: Any = None) -> Any:
        return _run(ctx, _BINDINGS[name], value)

    run_machine.__qualname__ = f"asl[{name}]"
    registered = workflow(name=name, deadline=parsed.timeout_seconds)(run_machine)
    binding.workflow = registered
    _BINDINGS[name] = binding
    return registered
