"""The ``@workflow`` and ``@step`` decorators and the registry of workflows by name."""

from __future__ import annotations

import functools
import inspect
import threading
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, overload

from legato.domain import inputs
from legato.domain.circuit import CircuitBreaker
from legato.domain.retry import DEFAULT_RETRY, RetryPolicy
from legato.domain.schedule import Schedule
from legato.errors import InvalidInput, RegistrationError, UnknownWorkflow

F = TypeVar("F", bound=Callable[..., Any])


def seconds(value: float | timedelta | None, what: str, *,
            allow_zero: bool = True) -> float | None:
    """Seconds from a number or timedelta: finite, not negative (above 0 unless
    ``allow_zero``), at most a century; ``None`` passes through. Anything else is
    :class:`legato.InvalidInput` naming ``what``."""
    return inputs.optional_seconds(value, what, allow_zero=allow_zero)


def _declared_seconds(value: float | timedelta | None, what: str) -> float | None:
    """:func:`seconds` for a decorator's option (more than 0): a RegistrationError."""
    try:
        return seconds(value, what, allow_zero=False)
    except InvalidInput as exc:
        raise RegistrationError(str(exc)) from None


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward refs: adapt nothing
        return {}


@dataclass(eq=False)
class StepDef:
    fn: Callable[..., Any]
    name: str
    retry: RetryPolicy
    timeout: float | None
    is_async: bool
    return_hint: Any = None
    heartbeat_timeout: float | None = None
    circuit: CircuitBreaker | None = None
    #: run on the hub's own thread: True always, False never, None when its runs are quick
    inline: bool | None = None
    #: something must watch it run (a timeout, a heartbeat timeout, a circuit breaker), or
    #: it is async: it never runs inline
    watched: bool = field(init=False)
    #: how its runs went, kept by the workers of this process (legato.worker.inline): quick
    #: runs in a row, how many promote it, whether it runs inline now, or never again
    quick_streak: int = field(default=0, init=False, repr=False)
    quick_needed: int = field(default=0, init=False, repr=False)
    promoted: bool = field(default=False, init=False, repr=False)
    never_inline: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.watched = (self.is_async or self.timeout is not None
                        or self.heartbeat_timeout is not None or self.circuit is not None)


@dataclass(eq=False)
class WorkflowDef:
    fn: Callable[..., Any]
    name: str
    is_async: bool
    deadline: float | None = None
    schedule: Schedule | None = None
    queue: str | None = None
    param_hints: list[Any] = field(default_factory=list)
    return_hint: Any = None

    def adapt_args(self, args: list[Any]) -> list[Any]:
        from legato.domain.codec import adapt

        hints = self.param_hints
        return [adapt(a, hints[i]) if i < len(hints) else a for i, a in enumerate(args)]


class Registry:
    """Workflows by name. One process-wide default; engines read it at start-up and later."""

    def __init__(self) -> None:
        self._workflows: dict[str, WorkflowDef] = {}
        self._lock = threading.Lock()

    def add(self, wdef: WorkflowDef) -> None:
        with self._lock:
            old = self._workflows.get(wdef.name)
            if old is not None and _origin(old.fn) != _origin(wdef.fn):
                raise RegistrationError(
                    f"two workflows are registered under the name {wdef.name!r}: "
                    f"{_origin(old.fn)} and {_origin(wdef.fn)}; give one a distinct name="
                )
            self._workflows[wdef.name] = wdef

    def remove(self, name: str) -> None:
        with self._lock:
            self._workflows.pop(name, None)

    def get(self, name: str) -> WorkflowDef:
        try:
            return self._workflows[name]
        except KeyError:
            raise UnknownWorkflow(name, list(self._workflows)) from None

    def find(self, name: str) -> WorkflowDef | None:
        return self._workflows.get(name)

    def names(self) -> list[str]:
        return list(self._workflows)

    def defs(self) -> list[WorkflowDef]:
        return list(self._workflows.values())


def _origin(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


REGISTRY = Registry()


def _schedule(value: Schedule | str | None) -> Schedule | None:
    if value is None or isinstance(value, Schedule):
        return value
    try:
        return Schedule(value)
    except ValueError as exc:
        raise RegistrationError(str(exc)) from None


#: every step defined in this process by name (None where two different steps share a
#: name): for readers that know a step only by its name (what a run waits on)
_STEPS: dict[str, StepDef | None] = {}


def step_named(name: str) -> StepDef | None:
    """The step defined under ``name`` in this process (None: none, or several)."""
    return _STEPS.get(name)


def workflow_def(obj: Any) -> WorkflowDef | None:
    wdef = getattr(obj, "__legato_workflow__", None)
    return wdef if isinstance(wdef, WorkflowDef) else None


def _make_step(fn: Callable[..., Any], name: str | None, retry: RetryPolicy | None,
               timeout: float | timedelta | None,
               heartbeat_timeout: float | timedelta | None = None,
               circuit: CircuitBreaker | None = None,
               inline: bool | None = None) -> Callable[..., Any]:
    if not callable(fn):
        raise RegistrationError(f"@legato.step needs a function, got {fn!r}")
    if inline is not None and not isinstance(inline, bool):
        raise RegistrationError(f"@legato.step(inline=...) takes True, False or None, not"
                                f" {inline!r}")
    sdef = StepDef(
        fn=fn,
        name=name or fn.__qualname__,
        retry=retry if retry is not None else DEFAULT_RETRY,
        timeout=_declared_seconds(timeout, "step timeout"),
        is_async=inspect.iscoroutinefunction(fn),
        return_hint=_hints(fn).get("return"),
        heartbeat_timeout=_declared_seconds(heartbeat_timeout, "heartbeat_timeout"),
        circuit=circuit,
        inline=inline,
    )
    if inline and sdef.watched:
        raise RegistrationError(
            f"step {sdef.name!r}: inline=True runs it on the worker's own thread, where it"
            " cannot be async, timed out, watched for heartbeats or guarded by a circuit"
            " breaker; drop inline=True or those options")
    _STEPS[sdef.name] = sdef if sdef.name not in _STEPS else None
    from greenlet import getcurrent

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        run = getattr(getcurrent(), "owner", None)  # the run whose fiber is calling
        if run is None:  # outside a workflow (or inside a step): a plain call
            return fn(*args, **kwargs)
        return run.call_step(sdef, args, kwargs)

    call.__legato_step__ = sdef  # type: ignore[attr-defined]
    return call


@overload
def step(fn: F, /) -> F: ...


@overload
def step(
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | timedelta | None = None,
    heartbeat_timeout: float | timedelta | None = None,
    circuit: CircuitBreaker | None = None,
    inline: bool | None = None,
) -> Callable[[F], F]: ...


def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | timedelta | None = None,
    heartbeat_timeout: float | timedelta | None = None,
    circuit: CircuitBreaker | None = None,
    inline: bool | None = None,
) -> Any:
    """Mark a function as a durable step: inside a workflow it runs once and is recorded.

    Works bare or called::

        @legato.step(retry=legato.RetryPolicy(max_attempts=5), timeout=30)
        def charge(order_id: str) -> dict: ...

    Called outside any workflow, a step is a plain function call.

    ``inline``: where a sync step without timeouts or circuit breaker runs. By default
    (``None``) in the worker's step pool until its runs prove quick (under 0.1 ms), then on
    the worker's own thread, which saves two thread switches per step; ``True`` always
    there (for code known to be quick and never to block), ``False`` always in the pool.
    """
    if fn is not None:
        return _make_step(fn, name, retry, timeout, heartbeat_timeout, circuit, inline)

    def deco(f: Callable[..., Any]) -> Any:
        return _make_step(f, name, retry, timeout, heartbeat_timeout, circuit, inline)

    return deco


@overload
def workflow(fn: F, /) -> F: ...


@overload
def workflow(
    *, name: str | None = None, deadline: float | timedelta | None = None,
    schedule: Schedule | str | None = None, queue: str | None = None,
) -> Callable[[F], F]: ...


def workflow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    deadline: float | timedelta | None = None,
    schedule: Schedule | str | None = None,
    queue: str | None = None,
) -> Any:
    """Register a function ``(ctx, *args)`` as a durable workflow.

    ``name`` defaults to the function's qualified name; ``deadline`` (seconds or timedelta)
    applies to every run unless ``engine.start(..., deadline=)`` overrides it::

        @legato.workflow(name="fulfil_order")
        def fulfil_order(ctx: legato.WorkflowContext, order_id: str) -> dict: ...
    """

    def deco(f: Callable[..., Any]) -> Any:
        if not callable(f):
            raise RegistrationError(f"@legato.workflow needs a function, got {f!r}")
        hints = _hints(f)
        params = list(inspect.signature(f).parameters.values())[1:]
        wdef = WorkflowDef(
            fn=f,
            name=name or f.__qualname__,
            is_async=inspect.iscoroutinefunction(f),
            deadline=_declared_seconds(deadline, "workflow deadline"),
            schedule=_schedule(schedule),
            queue=queue,
            param_hints=[hints.get(p.name) for p in params],
            return_hint=hints.get("return"),
        )
        REGISTRY.add(wdef)
        f.__legato_workflow__ = wdef  # type: ignore[attr-defined]
        return f

    if fn is not None:
        return deco(fn)
    return deco
