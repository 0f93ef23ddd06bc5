"""One attempt of a step: what a run asks the hub to execute, and what the step's own code
sees while it runs (its idempotency key, heartbeats).

A :class:`RunStep` is made by the run for each attempt, dispatched by the hub to a thread
pool or the event loop, and put in a context variable while the step function runs, so
``legato.step_key()`` and ``legato.heartbeat()`` reach it without being passed around.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from legato.errors import LegatoError
from legato.runtime import faults
from legato.runtime.control import NotInline

if TYPE_CHECKING:
    from legato.runtime.registry import StepDef


class RunStep:
    """One attempt of a step."""

    __slots__ = (
        "abandoned",
        "args",
        "attempt",
        "beat",
        "details",
        "done",
        "fn",
        "inline",
        "key",
        "kwargs",
        "pos",
        "previous",
        "sdef",
        "since",
        "tag",
    )

    def __init__(self, sdef: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any], key: str,
                 pos: int = 0, attempt: int = 1, previous: Any = None) -> None:
        self.sdef, self.args, self.kwargs, self.key = sdef, args, kwargs, key
        self.pos, self.attempt = pos, attempt
        self.previous = previous  # heartbeat details of the attempt before, if it sent any
        self.beat = 0.0  # monotonic time of the last heartbeat (set when dispatched)
        self.details: Any = None  # what the last heartbeat said
        # set when handed to a pool: what to call, and how to report back
        self.fn: Callable[..., Any] | None = None
        self.done: Callable[[Any, StepOutcome], None] | None = None
        self.tag: Any = None
        self.abandoned = False  # timed out: the outcome, when it comes, is ignored
        self.inline = False  # running on the hub's own thread, not in the step pool
        self.since = 0.0  # when the hub dispatched it (engine clock): what a run waits on

    def __repr__(self) -> str:
        return f"RunStep({self.sdef.name!r}, key={self.key!r}, attempt={self.attempt})"


@dataclass(slots=True)
class StepOutcome:
    ok: bool
    value: Any = None
    error: BaseException | None = None
    heartbeat: Any = None  # the attempt's last heartbeat details
    recorded: bool = False  # the hub journaled the success already


_current: contextvars.ContextVar[RunStep | None] = contextvars.ContextVar(
    "legato_step_attempt", default=None
)


def _current_run(what: str) -> RunStep:
    run = _current.get()
    if run is None:
        raise LegatoError(f"legato.{what}() is only available inside a running step")
    return run


def step_key() -> str:
    """The running step's stable idempotency key, ``"<workflow id>:<seq>"``.

    The same on every retry and replay of the step: pass it to external systems so that a
    re-executed step does not repeat its effect there::

        @legato.step
        def charge(order: Order) -> dict:
            return payments.charge(order.total, idempotency_key=legato.step_key())
    """
    return _current_run("step_key").key


def heartbeat(details: Any = None) -> None:
    """Tell legato a long step is alive (and how far it got).

    A step declared with ``heartbeat_timeout`` that stops calling this fails its attempt
    (``legato.HeartbeatTimeout``) and is retried, without waiting for its full ``timeout``.
    ``details`` (JSON) are handed to the next attempt: :func:`heartbeat_details`.
    """
    run = _current_run("heartbeat")
    run.beat = time.monotonic()
    run.details = details


def heartbeat_details() -> Any:
    """The ``details`` the previous attempt of this step last sent with ``heartbeat()``."""
    return _current_run("heartbeat_details").previous


def refuse_inline_wait() -> None:
    """Called by legato's blocking waits (a run's result, its status): inside a step that
    runs on the hub's thread, waiting would stop the hub that the awaited run may need, so
    the attempt is abandoned here and runs again in the step pool, where it may wait."""
    run = _current.get()
    if run is not None and run.inline:
        raise NotInline()


def run_step_fn(fn: Callable[..., Any], run: RunStep) -> Any:
    """Call a sync step function with its attempt (key, heartbeats) in context."""
    token = _current.set(run)
    try:
        if faults.ARMED:
            faults.hit("in_step")
        return fn(*run.args, **run.kwargs)
    finally:
        _current.reset(token)


async def run_async_step_fn(fn: Callable[..., Coroutine[Any, Any, Any]], run: RunStep) -> Any:
    _current.set(run)  # this coroutine runs in its own asyncio task context
    return await fn(*run.args, **run.kwargs)
