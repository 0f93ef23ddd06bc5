"""JSON encoding of inputs, results and errors, and type adaptation by annotation."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import sys
import traceback
from typing import TYPE_CHECKING, Any

from legato.errors import InvalidInput, StepFailed

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# pydantic is imported where it is needed, not with legato: a program (or a CLI command)
# that passes only JSON values never pays for it


def _default(obj: Any) -> Any:
    from pydantic_core import to_jsonable_python

    try:
        return to_jsonable_python(obj)
    except Exception as exc:  # pydantic raises its own error types
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable") from exc


# The C encoder ``json.dumps`` builds on every call, built once: compact separators, UTF-8
# kept as is, NaN/Infinity allowed as in ``json``. No circular-reference bookkeeping: a cycle
# ends in RecursionError, reported like any other value that cannot be encoded.
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode: Any = None if _c_encoder is None else _c_encoder(
    None, _default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
_encoder = json.JSONEncoder(separators=(",", ":"), default=_default, ensure_ascii=False)


def dumps(value: Any, what: str = "value") -> str:
    """Encode ``value`` as compact JSON; dataclasses and pydantic models become objects."""
    try:
        if _encode is not None:
            return "".join(_encode(value, 0))
        return _encoder.encode(value)  # pragma: no cover - Pythons without the C encoder
    except (TypeError, ValueError, RecursionError) as exc:
        reason = "it refers to itself" if isinstance(exc, RecursionError) else exc
        raise InvalidInput(f"{what} is not JSON serialisable: {reason}") from None


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _needs_adapter(hint: Any) -> bool:
    if hint is None or hint is Any:
        return False
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return True
        pydantic = sys.modules.get("pydantic")  # no model class exists before it is imported
        return pydantic is not None and issubclass(hint, pydantic.BaseModel)
    args: tuple[Any, ...] = getattr(hint, "__args__", None) or ()
    return any(_needs_adapter(a) for a in args)


@functools.lru_cache(maxsize=512)
def _adapter(hint: Any) -> TypeAdapter[Any] | None:
    if not _needs_adapter(hint):
        return None
    from pydantic import TypeAdapter

    return TypeAdapter(hint)


def adapt(value: Any, hint: Any) -> Any:
    """Turn a decoded JSON ``value`` into ``hint`` where the hint is a dataclass/model type."""
    if hint is None:
        return value
    try:
        adapter = _adapter(hint)
    except TypeError:  # unhashable hint
        return value
    if adapter is None:
        return value
    return adapter.validate_python(value)


# --- errors -----------------------------------------------------------------------------


def type_name(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def encode_error(exc: BaseException, *, with_traceback: bool = True) -> dict[str, Any]:
    """A JSON-able description of ``exc`` from which it can usually be rebuilt."""
    if isinstance(exc, StepFailed):
        err: dict[str, Any] = {"type": exc.type_name, "message": exc.message}
    else:
        err = {"type": type_name(type(exc)), "message": str(exc)}
    err["mro"] = [type_name(t) for t in type(exc).__mro__ if issubclass(t, BaseException)]
    try:
        json.dumps(exc.args)
        err["args"] = list(exc.args)
    except (TypeError, ValueError):
        pass
    if with_traceback and exc.__traceback__ is not None:
        err["traceback"] = "".join(traceback.format_exception(exc))[-4000:]
    return err


def rebuild_error(err: dict[str, Any]) -> BaseException:
    """The original exception where its type can be imported and built, else StepFailed."""
    name = str(err.get("type", "Exception"))
    message = str(err.get("message", ""))
    module_name, _, qual = name.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qual.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, type) and issubclass(obj, Exception):
            args = err.get("args")
            args = args if isinstance(args, list) else [message]
            try:
                exc: BaseException = obj(*args)
            except Exception:  # a constructor with other parameters: skip __init__
                exc = obj.__new__(obj, *args)
                exc.args = tuple(args)
            return exc
    except Exception:
        pass
    return StepFailed(name, message)
