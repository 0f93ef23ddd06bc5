"""JSON encoding of inputs, results and errors, and type adaptation by annotation."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import sys
import traceback
from typing import TYPE_CHECKING, Any

from legato.domain import inputs
from legato.errors import InvalidInput, StepFailed

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# pydantic is imported where it is needed, not with legato: a program (or a CLI command)
# that passes only JSON values never pays for it


#: ``dumps(value, what="value", *, limit=None, max_depth=None) -> str``: ``value`` as compact,
#: strict JSON (dataclasses and pydantic models become objects), or
#: :class:`legato.InvalidInput` naming ``what`` for anything outside the input contract
#: (``legato.domain.inputs.encode``): NaN/Infinity, sets, bytes, lone surrogates, a cycle,
#: nesting too deep (or deeper than ``max_depth``), more than ``limit`` bytes
dumps = inputs.encode


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


#: the longest exception message recorded (characters), and the most JSON kept of its args
MAX_MESSAGE = 65536


def type_name(t: type) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def encode_error(exc: BaseException, *, with_traceback: bool = True) -> dict[str, Any]:
    """A JSON-able description of ``exc`` from which it can usually be rebuilt."""
    # recorded whatever the exception holds: its texts are made storable (lone surrogates
    # replaced), its args kept only if they are strict JSON of a sensible size
    if isinstance(exc, StepFailed):
        err: dict[str, Any] = {"type": inputs.clean(exc.type_name),
                               "message": inputs.clean(exc.message[:MAX_MESSAGE])}
    else:
        err = {"type": type_name(type(exc)), "message": inputs.clean(str(exc)[:MAX_MESSAGE])}
    err["mro"] = [type_name(t) for t in type(exc).__mro__ if issubclass(t, BaseException)]
    try:  # plain JSON only (no dataclass turned into a dict): they rebuild the exception
        inputs.check(json.dumps(exc.args, allow_nan=False, ensure_ascii=False), "args",
                     limit=MAX_MESSAGE, max_depth=32)
        err["args"] = list(exc.args)
    except (TypeError, ValueError, RecursionError, InvalidInput):
        pass
    if with_traceback and exc.__traceback__ is not None:
        err["traceback"] = inputs.clean("".join(traceback.format_exception(exc))[-4000:])
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
