"""Task handlers: which Python callable a ``Resource`` names, and how it is called.

``handlers`` maps a Task's full ``Resource`` string, or a Lambda function name, to a callable
(sync or async) that receives the task's input, and optionally a context (``def f(event,
context)``) like a Lambda function. ``arn:aws:lambda:...:function:NAME`` and
``arn:aws:states:::lambda:invoke`` (with ``FunctionName``) resolve to ``NAME``;
``python:package.module.function`` is imported. Failures become AWS-shaped error names and
causes (for Lambda resources, the JSON ``errorMessage``/``errorType``/``stackTrace`` cause).
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from legato.asl import model as m
from legato.asl.errors import HandlerError

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
START_EXECUTION = "arn:aws:states:::states:startExecution"
Handler = Callable[..., Any]
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class TaskFailed(Exception):
    """Raise from a handler to fail the task with exactly this error name and cause."""

    def __init__(self, error: str, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class _Killed(BaseException):
    """Unwinds a handler whose (virtual) time ran out; it must not be swallowed."""


@dataclass(frozen=True)
class Target:
    """How a resource is called: ``kind`` is lambda, invoke, python, activity, service or
    execution (``states:startExecution``, a child state machine)."""

    kind: str
    key: str | None  # the handler key, None when only known at run time (lambda:invoke)
    resource: str

    @property
    def lambda_like(self) -> bool:
        return self.kind in ("lambda", "invoke")

    @property
    def resource_type(self) -> str:
        if self.kind in ("invoke", "service", "execution"):
            return self.resource.split(":::", 1)[1].split(":", 1)[0]
        return self.kind

    @property
    def resource_name(self) -> str:
        """As AWS's history names it: ``invoke``, ``sendMessage.waitForTaskToken`` ..."""
        if self.kind in ("invoke", "service", "execution"):
            return self.resource.split(":::", 1)[1].split(":", 1)[-1]
        return self.key or self.resource


def function_name(value: str) -> str:
    """``NAME`` from a Lambda function name, ARN or partial ARN (qualifier dropped)."""
    parts = value.split(":")
    if "function" in parts:
        i = parts.index("function")
        if i + 1 < len(parts):
            return parts[i + 1]
    return value


def without_pattern(resource: str) -> str:
    """The resource without its integration pattern (``.waitForTaskToken``, ``.sync``...)."""
    for suffix in (".waitForTaskToken", ".sync:2", ".sync"):
        if resource.endswith(suffix):
            return resource[: -len(suffix)]
    return resource


def classify(resource: str) -> Target:
    base = without_pattern(resource)
    if resource.startswith("python:"):
        return Target("python", resource[len("python:"):], resource)
    if base == LAMBDA_INVOKE:
        return Target("invoke", None, resource)
    if base.startswith("arn:") and ":lambda:" in base and ":function:" in base:
        return Target("lambda", function_name(base), resource)
    if base == START_EXECUTION:
        return Target("execution", resource, resource)
    if base.startswith("arn:") and ":activity:" in base:
        return Target("activity", base.rsplit(":", 1)[-1], resource)
    if base.startswith("arn:") and ":::" in base:
        return Target("service", resource, resource)
    return Target("lambda", resource, resource)


def _import(path: str) -> Handler:
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise HandlerError(f"python:{path} must name module.function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerError(f"cannot import {module_name!r} for resource python:{path}: {exc}"
                           ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise HandlerError(f"python:{path}: {module_name} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


class Handlers:
    """The callables of one machine, looked up by resource."""

    def __init__(self, handlers: Mapping[str, Handler] | None) -> None:
        self.table: dict[str, Any] = dict(handlers or {})
        self._imported: dict[str, Handler] = {}

    def find(self, target: Target, function: str | None = None) -> Handler | None:
        for key in (target.resource, target.key, without_pattern(target.resource), function,
                    function_name(function) if function else None):
            if key is not None and key in self.table:
                value = self.table[key]
                return value if callable(value) else None
        if target.kind == "python" and target.key:
            if target.key not in self._imported:
                self._imported[target.key] = _import(target.key)
            return self._imported[target.key]
        return None

    def check(self, machine: m.Machine) -> None:
        """Raise :class:`HandlerError` naming every Task resource without a handler."""
        missing: list[str] = []
        for _, st in machine.walk():
            reader = getattr(st, "item_reader", None)
            if reader is not None and reader.resource and self.find(
                    classify(reader.resource)) is None:
                missing.append(f"state {st.name!r}: ItemReader {reader.resource}"
                               f" -> handlers[{reader.resource!r}]")
            if not isinstance(st, m.TaskState):
                continue
            target = classify(st.resource)
            fn_name = static_function_name(st)
            if target.kind == "invoke" and fn_name is None:
                continue  # FunctionName is only known at run time
            if target.kind == "execution":
                continue  # starts a child state machine (a handler may stand in for it)
            if self.find(target, fn_name) is None:
                wanted = fn_name if target.kind == "invoke" else (target.key or st.resource)
                missing.append(f"state {st.name!r}: {st.resource}"
                               + (f" (FunctionName {fn_name})" if fn_name else "")
                               + f" -> handlers[{wanted!r}]")
        if missing:
            raise HandlerError("no handler for " + "; ".join(missing) +
                               ". Pass handlers={name: callable}, or use a "
                               "'python:module.function' resource")


def static_function_name(st: m.TaskState) -> str | None:
    if classify(st.resource).kind != "invoke" or not isinstance(st.parameters, m.Const):
        return None
    params = st.parameters.value
    name = params.get("FunctionName") if isinstance(params, dict) else None
    return name if isinstance(name, str) else None


# --- calling -----------------------------------------------------------------------------


@dataclass
class TaskContext:
    """What a handler may receive as its second argument (like a Lambda context)."""

    function_name: str
    aws_request_id: str
    state_name: str
    task_token: str | None = None
    timeout: float | None = None
    heartbeat_seconds: float | None = None
    virtual: bool = True
    invoked_function_arn: str = ""
    _virtual_elapsed: float = 0.0
    _started: float = field(default_factory=time.monotonic)
    _last_beat: float = 0.0
    killed: str | None = None  # "timeout" | "heartbeat"

    def elapsed(self) -> float:
        return time.monotonic() - self._started + self._virtual_elapsed

    def get_remaining_time_in_millis(self) -> int:
        if self.timeout is None:
            return 900_000
        return max(0, int((self.timeout - self.elapsed()) * 1000))

    def heartbeat(self, details: Any = None) -> None:
        self._check()
        self._last_beat = self.elapsed()

    def sleep(self, seconds: float) -> None:
        """Sleep; in ``asl.execute`` the clock is virtual and this returns at once."""
        if self.virtual:
            self._virtual_elapsed += max(0.0, float(seconds))
        else:
            time.sleep(seconds)
        self._check()

    def _check(self) -> None:
        now = self.elapsed()
        if self.timeout is not None and now > self.timeout:
            self.killed = "timeout"
            raise _Killed()
        if self.heartbeat_seconds is not None and now - self._last_beat > self.heartbeat_seconds:
            self.killed = "heartbeat"
            raise _Killed()


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "legato_asl_task", default=None)


def sleep(seconds: float) -> None:
    """Sleep inside a Task handler: virtual under ``asl.execute`` (returns at once, the
    execution's clock moves), real elsewhere. Counts against TimeoutSeconds."""
    ctx = _current.get()
    if ctx is None:
        time.sleep(seconds)
    else:
        ctx.sleep(seconds)


def heartbeat(details: Any = None) -> None:
    """Tell the running Task (HeartbeatSeconds) that its handler is alive."""
    ctx = _current.get()
    if ctx is not None:
        ctx.heartbeat(details)


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    error: str | None = None
    cause: str | None = None
    timed_out: str | None = None  # "timeout" | "heartbeat"
    elapsed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "value": self.value, "error": self.error, "cause": self.cause,
                "timed_out": self.timed_out, "elapsed": self.elapsed}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Outcome:
        return Outcome(bool(d.get("ok")), d.get("value"), d.get("error"), d.get("cause"),
                       d.get("timed_out"), float(d.get("elapsed") or 0.0))


def _arity(fn: Handler) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    count = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return 2 if count >= 2 else 1


def _await(value: Any) -> Any:
    async def run() -> Any:
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = asyncio.run(run())
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=contextvars.copy_context().run, args=(worker,), daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _call(fn: Handler, event: Any, ctx: TaskContext) -> Any:
    token = _current.set(ctx)
    try:
        value = fn(event, ctx) if _arity(fn) == 2 else fn(event)
        if inspect.isawaitable(value):
            value = _await(value)
        return value
    finally:
        _current.reset(token)


def invoke(fn: Handler, event: Any, ctx: TaskContext, target: Target) -> Outcome:
    """Run one attempt of a handler; never raises (failures are data)."""
    result: dict[str, Any] = {}

    def attempt() -> None:
        try:
            result["value"] = _call(fn, event, ctx)
        except _Killed:
            result["killed"] = True
        except BaseException as exc:  # the handler's failure is the task's failure
            result["error"] = exc

    if ctx.timeout is not None:
        t = threading.Thread(target=contextvars.copy_context().run, args=(attempt,),
                             daemon=True)
        t.start()
        t.join(ctx.timeout)
        if t.is_alive():
            ctx.killed = "timeout"
    else:
        attempt()
    elapsed = ctx.elapsed()
    if ctx.killed is None and ctx.timeout is not None and elapsed > ctx.timeout:
        ctx.killed = "timeout"
    if ctx.killed is not None:
        if ctx.killed == "timeout":
            limit = ctx.timeout
        else:  # the last heartbeat (or the start) plus the interval
            limit = ctx._last_beat + (ctx.heartbeat_seconds or 0.0)
        return Outcome(False, error=None, timed_out=ctx.killed,
                       elapsed=min(elapsed, limit or elapsed))
    if "error" in result:
        exc = result["error"]
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise exc
        error, cause = describe_error(exc, ctx, target, fn)
        return Outcome(False, error=error, cause=cause, elapsed=elapsed)
    try:
        value = to_json_value(result.get("value"))
    except (TypeError, ValueError) as exc:
        error, cause = "Runtime.MarshalError", _lambda_cause(
            f"Unable to marshal response: {exc}", "Runtime.MarshalError", ctx, [], target)
        return Outcome(False, error=error, cause=cause, elapsed=elapsed)
    return Outcome(True, value=value, elapsed=elapsed)


def to_json_value(value: Any) -> Any:
    """The JSON a handler's return value stands for (bytes are a raw JSON payload)."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8")
        try:
            return json.loads(text)
        except ValueError:
            return text
    return json.loads(json.dumps(value, allow_nan=False))


def _stack(exc: BaseException, fn: Handler | None) -> list[str]:
    """The traceback from the handler's own frame on, as Lambda reports it."""
    tb = exc.__traceback__
    code = getattr(fn, "__code__", None)
    if code is not None:
        probe = tb
        while probe is not None and probe.tb_frame.f_code is not code:
            probe = probe.tb_next
        if probe is not None:
            tb = probe
    frames = traceback.extract_tb(tb)
    kept = [f for f in frames if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    return traceback.format_list(kept)


def _lambda_cause(message: str, error_type: str, ctx: TaskContext, stack: list[str],
                  target: Target) -> str:
    payload = {"errorMessage": message, "errorType": error_type,
               "requestId": ctx.aws_request_id, "stackTrace": stack}
    if target.kind == "invoke":
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(payload, ensure_ascii=False)


def describe_error(exc: BaseException, ctx: TaskContext, target: Target,
                   fn: Handler | None = None) -> tuple[str, str]:
    if isinstance(exc, TaskFailed):
        return exc.error, exc.cause if exc.cause is not None else ""
    name = type(exc).__name__
    if target.lambda_like:
        return name, _lambda_cause(str(exc), name, ctx, _stack(exc, fn), target)
    return name, str(exc)


def lambda_invoke_output(payload: Any, request_id: str, date: str) -> dict[str, Any]:
    """What ``arn:aws:states:::lambda:invoke`` returns around a function's result."""
    length = str(len(json.dumps(payload).encode()))
    trace = f"Root=1-{request_id[:8]}-{request_id.replace('-', '')[:24]};Sampled=0"
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [length],
                "Date": [date],
                "X-Amzn-Trace-Id": [trace],
                "Content-Type": ["application/json"],
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": length,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Trace-Id": trace,
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }


def invoke_event(params: Any) -> Any:
    """The event a function receives from lambda:invoke's ``Payload``."""
    payload = params.get("Payload") if isinstance(params, dict) else None
    if payload is None:
        return {}
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except ValueError:
            return payload
    return payload
