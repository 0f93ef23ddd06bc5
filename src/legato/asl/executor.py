"""The effectful operations of a run, behind one small interface.

The interpreter is pure state-machine logic; everything that touches the world goes through
an :class:`Executor`: invoke a Task handler, wait for a task token, start a child execution,
wait, run Parallel/Map branches, record a history event, read the clock, draw randomness.
:class:`MemoryExecutor` runs in memory on a virtual clock (``asl.execute``);
:class:`legato.asl.durable.DurableExecutor` runs on legato's journal.
"""

from __future__ import annotations

import heapq
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import greenlet

from legato.asl.errors import StatesFailure
from legato.asl.handlers import Handlers, Outcome, Target, TaskContext, invoke
from legato.asl.history import History


@dataclass
class TaskRequest:
    """One attempt of a Task: what to call, with what, under which limits."""

    state: str
    target: Target
    function: str | None  # lambda:invoke's FunctionName
    event: Any
    timeout: float | None
    heartbeat: float | None
    token: str | None
    request_id: str


@dataclass
class ExecutionRequest:
    """A child execution to start (``arn:aws:states:::states:startExecution``)."""

    machine: str  # the state machine's name
    name: str  # the execution's name
    input: Any
    wait: bool  # .sync / .sync:2: until it ends
    timeout: float | None = None  # the waiting Task's TimeoutSeconds: the child is stopped


@dataclass
class ExecutionOutcome:
    """How a child execution started, and (when waited for) how it ended."""

    started: float
    status: str = "RUNNING"  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED once it ended
    output: Any = None
    error: str | None = None
    cause: str | None = None
    stopped: float | None = None
    refused: str | None = None  # "missing": no such machine; "exists": the name is taken
    timed_out: bool = False  # stopped at the waiting Task's TimeoutSeconds


def stopped_by_task(request: ExecutionRequest, own_timeout: float | None) -> bool:
    """Whether a child that timed out was stopped by the waiting Task's TimeoutSeconds, not by
    its own machine's (``own_timeout``: absent, or the later of the two)."""
    return request.timeout is not None and (own_timeout is None or request.timeout <= own_timeout)


Callback = Callable[[str, Any], Any]


class World(Protocol):
    """What ``asl.execute`` knows beyond handlers: callback answers and child machines."""

    def callback(self, request: TaskRequest) -> Callback | None: ...

    def start(self, request: ExecutionRequest, at: float) -> ExecutionOutcome: ...


class BranchAborted(Exception):
    """A branch stopped because a sibling failed first."""


@dataclass
class BranchResult:
    ok: bool
    value: Any = None
    failure: StatesFailure | None = None
    aborted: bool = False
    ended_at: float = 0.0


Job = Callable[["Executor"], Any]


class Executor(Protocol):
    """What the interpreter may do besides computing."""

    virtual: bool

    def now(self) -> float: ...

    def record(self, event_type: str, details: dict[str, Any] | None = None) -> int: ...

    @property
    def next_event_id(self) -> int: ...

    def invoke(self, request: TaskRequest) -> Outcome: ...

    def handles(self, target: Target) -> bool: ...

    def task_token(self, where: str) -> str: ...

    def await_token(self, request: TaskRequest, started: float) -> Outcome | None: ...

    def start_execution(self, request: ExecutionRequest) -> ExecutionOutcome: ...

    def sleep(self, seconds: float, what: str) -> None: ...

    def uuid(self) -> str: ...

    def random(self) -> float: ...

    def stopped(self) -> bool: ...

    def branches(self, jobs: list[Job], max_concurrency: int, *, fail_fast: bool,
                 isolated: bool, interleaved: bool = False) -> list[BranchResult]: ...


class MemoryExecutor:
    """In memory, on a virtual clock: waits jump the clock instead of blocking.

    Parallel branches interleave their events in time order (as AWS records them); Map
    iterations run one after another, each on its own fork of the clock that starts when a
    concurrency slot frees up, so elapsed times match a concurrent run; a branch that would
    start (or go on) after a sibling failed is aborted, as AWS aborts it.
    """

    virtual = True

    def __init__(self, handlers: Handlers, *, start: float | None = None,
                 history: History | None = None, rng: random.Random | None = None,
                 stop_at: float | None = None, world: World | None = None) -> None:
        self.handlers = handlers
        self.t = time.time() if start is None else float(start)
        self.history = history if history is not None else History()
        self.rng = rng if rng is not None else random.Random()
        self.stop_at = stop_at
        self.world = world
        #: an interleaved branch hands over to its scheduler before every event it records
        self.scheduler: greenlet.greenlet | None = None

    def now(self) -> float:
        return self.t

    def record(self, event_type: str, details: dict[str, Any] | None = None) -> int:
        if self.scheduler is not None:  # a sibling whose clock is earlier records first
            self.scheduler.switch()
            if self.stopped():  # ... and failed meanwhile: this branch ends here
                raise BranchAborted()
        return self.history.add(event_type, self.t, details)

    @property
    def next_event_id(self) -> int:
        return self.history.next_id

    def invoke(self, request: TaskRequest) -> Outcome:
        fn = self.handlers.find(request.target, request.function)
        if fn is None:
            return Outcome(False, error="Lambda.ResourceNotFoundException",
                           cause=_not_found(request))
        ctx = TaskContext(function_name=request.function or request.target.key or "",
                          aws_request_id=request.request_id, state_name=request.state,
                          task_token=request.token, timeout=request.timeout,
                          heartbeat_seconds=request.heartbeat, virtual=True,
                          invoked_function_arn=request.target.resource)
        outcome = invoke(fn, request.event, ctx, request.target)
        self.t += outcome.elapsed
        return outcome

    def handles(self, target: Target) -> bool:
        return self.handlers.find(target) is not None

    def task_token(self, where: str) -> str:
        return self.uuid()

    def await_token(self, request: TaskRequest, started: float) -> Outcome | None:
        """Ask the ``callbacks`` of ``asl.execute`` for the answer; None if none is given.

        The callback runs like a handler (``asl.sleep`` moves the virtual clock,
        ``asl.heartbeat`` resets HeartbeatSeconds), so it can also answer late or never.
        """
        answer = self.world.callback(request) if self.world is not None else None
        if answer is None:
            return None
        spent = self.t - started
        remaining = None if request.timeout is None else request.timeout - spent
        if remaining is not None and remaining <= 0:
            return Outcome(False, timed_out="timeout")
        token = request.token or ""
        ctx = TaskContext(function_name=request.function or request.target.key or "",
                          aws_request_id=request.request_id, state_name=request.state,
                          task_token=token, timeout=remaining,
                          heartbeat_seconds=request.heartbeat, virtual=True,
                          invoked_function_arn=request.target.resource)

        def respond(event: Any) -> Any:
            return answer(token, event)

        outcome = invoke(respond, request.event, ctx,
                         Target("service", None, request.target.resource))
        self.t += outcome.elapsed
        return outcome

    def start_execution(self, request: ExecutionRequest) -> ExecutionOutcome:
        if self.world is None:
            return ExecutionOutcome(self.t, refused="missing")
        outcome = self.world.start(request, self.t)
        if request.wait and outcome.stopped is not None:
            self.t = max(self.t, outcome.stopped)
        return outcome

    def sleep(self, seconds: float, what: str) -> None:
        self.t += max(0.0, seconds)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def random(self) -> float:
        return self.rng.random()

    def stopped(self) -> bool:
        return self.stop_at is not None and self.t >= self.stop_at

    def branches(self, jobs: list[Job], max_concurrency: int, *, fail_fast: bool,
                 isolated: bool, interleaved: bool = False) -> list[BranchResult]:
        if interleaved and len(jobs) > 1 and max_concurrency <= 0 and not isolated:
            return self._interleaved(jobs, fail_fast)
        if not jobs:
            return []
        width = len(jobs) if max_concurrency <= 0 else min(max_concurrency, len(jobs))
        # (time the slot frees up, slot): the earliest first, the lowest slot among equals
        slots = [(self.t, i) for i in range(width)]
        failed_at = math.inf
        results: list[BranchResult] = []
        for job in jobs:
            begin, slot = heapq.heappop(slots)
            limit = failed_at if fail_fast else math.inf
            if self.stop_at is not None:
                limit = min(limit, self.stop_at)
            if begin >= limit and limit != math.inf:
                results.append(BranchResult(False, aborted=True, ended_at=begin))
                heapq.heappush(slots, (begin, slot))
                continue
            child = MemoryExecutor(self.handlers, start=begin,
                                   history=History(keep=False) if isolated else self.history,
                                   rng=self.rng,
                                   stop_at=None if limit == math.inf else limit,
                                   world=self.world)
            try:
                value = job(child)
                results.append(BranchResult(True, value, ended_at=child.t))
            except StatesFailure as failure:
                results.append(BranchResult(False, failure=failure, ended_at=child.t))
                if fail_fast:
                    failed_at = min(failed_at, child.t)
            except BranchAborted:
                results.append(BranchResult(False, aborted=True, ended_at=child.t))
            heapq.heappush(slots, (child.t, slot))
        self.t = failed_at if failed_at != math.inf else max(t for t, _ in slots)
        return results

    def _interleaved(self, jobs: list[Job], fail_fast: bool) -> list[BranchResult]:
        """Every branch at once, their events interleaved as AWS records a Parallel state's:
        the branch whose clock is earliest goes on, ties taken in turn, one event at a time.
        A failure stops the others once their clocks pass it."""
        n = len(jobs)
        children = [MemoryExecutor(self.handlers, start=self.t, history=self.history,
                                   rng=self.rng, stop_at=self.stop_at, world=self.world)
                    for _ in jobs]
        results: list[BranchResult | None] = [None] * n
        failed_at = math.inf

        def body(i: int) -> None:
            nonlocal failed_at
            child = children[i]
            try:
                results[i] = BranchResult(True, jobs[i](child), ended_at=child.t)
            except StatesFailure as failure:
                results[i] = BranchResult(False, failure=failure, ended_at=child.t)
                if fail_fast and child.t < failed_at:
                    failed_at = child.t
                    for other in children:
                        if other is not child:
                            other.stop_at = min(other.stop_at or math.inf, failed_at)
            except BranchAborted:
                results[i] = BranchResult(False, aborted=True, ended_at=child.t)

        me = greenlet.getcurrent()
        for child in children:
            child.scheduler = me
        runs = [greenlet.greenlet(lambda i=i: body(i)) for i in range(n)]
        # (clock, turn it last went, index) of every live branch; a branch's clock moves only
        # while it runs, so the others' entries stay true
        live = [(self.t, 0, i) for i in range(n)]
        turn = 0
        while live:
            _, _, i = heapq.heappop(live)
            turn += 1
            runs[i].switch()
            if not runs[i].dead:
                heapq.heappush(live, (children[i].t, turn, i))
        self.t = failed_at if failed_at != math.inf else max(c.t for c in children)
        return [r if r is not None else BranchResult(False, aborted=True) for r in results]


def _not_found(request: TaskRequest) -> str:
    name = request.function or request.target.key or request.target.resource
    return (f"Function not found: {name} (Service: AWSLambda; Status Code: 404; Error Code: "
            f"ResourceNotFoundException; Request ID: {request.request_id}; Proxy: null)")
