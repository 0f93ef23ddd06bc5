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

from legato.domain.circuit import CircuitBreaker
from legato.domain.retry import DEFAULT_RETRY, RetryPolicy
from legato.domain.schedule import Schedule
from legato.errors import RegistrationError, UnknownWorkflow

F = TypeVar("F", bound=Callable[..., Any])


def seconds(value: float | timedelta | None, what: str) -> float | None:
    """Seconds from a number or timedelta; ``None`` passes through."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be seconds (a number) or a timedelta, not {value!r}")
    return float(value)


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
        from legato.runtime.codec import adapt

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


def workflow_def(obj: Any) -> WorkflowDef | None:
    wdef = getattr(obj, "__legato_workflow__", None)
    return wdef if isinstance(wdef, WorkflowDef) else None


def _make_step(fn: Callable[..., Any], name: str | None, retry: RetryPolicy | None,
               timeout: float | timedelta | None,
               heartbeat_timeout: float | timedelta | None = None,
               circuit: CircuitBreaker | None = None) -> Callable[..., Any]:
    if not callable(fn):
        raise RegistrationError(f"@legato.step needs a function, got {fn!r}")
    sdef = StepDef(
        fn=fn,
        name=name or fn.__qualname__,
        retry=retry if retry is not None else DEFAULT_RETRY,
        timeout=seconds(timeout, "step timeout"),
        is_async=inspect.iscoroutinefunction(fn),
        return_hint=_hints(fn).get("return"),
        heartbeat_timeout=seconds(heartbeat_timeout, "heartbeat_timeout"),
        circuit=circuit,
    )
    from greenlet import getcurrent

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        task = getattr(getcurrent(), "task", None)  # the run whose fiber is calling
        if task is None:  # outside a workflow (or inside a step): a plain call
            return fn(*args, **kwargs)
        return task.call_step(sdef, args, kwargs)

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
) -> Any:
    """Mark a function as a durable step: inside a workflow it runs once and is recorded.

    Works bare or called::

        @legato.step(retry=legato.RetryPolicy(max_attempts=5), timeout=30)
        def charge(order_id: str) -> dict: ...

    Called outside any workflow, a step is a plain function call.
    """
    if fn is not None:
        return _make_step(fn, name, retry, timeout, heartbeat_timeout, circuit)

    def deco(f: Callable[..., Any]) -> Any:
        return _make_step(f, name, retry, timeout, heartbeat_timeout, circuit)

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
            deadline=seconds(deadline, "workflow deadline"),
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
