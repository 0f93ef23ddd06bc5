"""JSONata for ``QueryLanguage: JSONata`` states, through the maintained ``jsonata-python``.

Expressions are compiled once (syntax errors are definition problems) and evaluated with
``$states`` (``input``, ``context``, ``result``, ``errorOutput``), the machine's variables,
and the functions Step Functions adds: ``$partition``, ``$range``, ``$hash``, ``$random``,
``$uuid`` and ``$parse``. ``$now()`` and ``$millis()`` read the execution's clock, so a
durable run replays them identically.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonata  # type: ignore[import-untyped]
from jsonata import functions as jfunctions
from jsonata import utils as jutils

from legato.asl import errors

_UNDEFINED = object()
_local = threading.local()


class JsonataSyntaxError(ValueError):
    """The expression does not parse."""


def strip(text: str) -> str | None:
    """The expression inside ``{% ... %}``, or ``None`` if ``text`` is not one."""
    t = text
    if isinstance(t, str) and t.startswith("{%") and t.endswith("%}") and len(t) >= 4:
        return t[2:-2].strip()
    return None


def check(expression: str) -> None:
    """Raise :class:`JsonataSyntaxError` if ``expression`` does not compile."""
    _compiled(expression)


def _compiled(expression: str) -> Any:
    cache: dict[str, Any] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = {}
        _local.cache = cache
    expr = cache.get(expression)
    if expr is None:
        if not expression.strip():
            raise JsonataSyntaxError("the expression is empty")
        try:
            expr = jsonata.Jsonata(expression)
        except Exception as exc:  # the library raises JException and friends
            raise JsonataSyntaxError(str(exc)) from None
        expr.set_output_convert_nulls(False)
        if len(cache) > 2048:
            cache.clear()
        cache[expression] = expr
    return expr


@dataclass
class Scope:
    """The bindings an expression sees."""

    states: dict[str, Any]
    variables: Mapping[str, Any]
    now_ms: int
    uuid: Callable[[], str]
    rng: Callable[[], float]


def _to_jsonata(value: Any) -> Any:
    return jutils.Utils.NULL_VALUE if value is None else value


def from_jsonata(value: Any) -> Any:
    """Plain JSON from a JSONata result (``NULL_VALUE`` -> ``None``, sequences -> lists)."""
    if value is jutils.Utils.NULL_VALUE:
        return None
    if isinstance(value, list):
        return [from_jsonata(v) for v in value]
    if isinstance(value, dict):
        return {k: from_jsonata(v) for k, v in value.items()}
    return value


def _is_function(value: Any) -> bool:
    return not isinstance(value, str | int | float | bool | list | dict | type(None)) \
        and value is not jutils.Utils.NULL_VALUE


def _contains_function(value: Any) -> bool:
    if isinstance(value, list):
        return any(_contains_function(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_function(v) for v in value.values())
    return _is_function(value)


def _aws_functions(scope: Scope) -> dict[str, Any]:
    lam = jsonata.Jsonata.JLambda

    def partition(array: Any, size: Any) -> Any:
        if not isinstance(array, list) or isinstance(size, bool) or not isinstance(
                size, int | float) or size <= 0:
            raise _FnError("$partition(array, size) needs an array and a positive size")
        n = int(size)
        return [list(array[i:i + n]) for i in range(0, len(array), n)]

    def range_(start: Any, end: Any, step: Any) -> Any:
        for v in (start, end, step):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _FnError("$range(start, end, step) needs numbers")
        if step == 0:
            raise _FnError("$range step cannot be 0")
        out: list[Any] = []
        x = start
        while (x <= end if step > 0 else x >= end) and len(out) <= 1000:
            out.append(x)
            x += step
        seq = jutils.Utils.create_sequence()
        seq.extend(out)
        return seq

    def hash_(data: Any, algorithm: Any) -> Any:
        algos = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384",
                 "SHA-512": "sha512"}
        if not isinstance(data, str) or algorithm not in algos:
            raise _FnError(f"$hash(string, algorithm) with algorithm one of {', '.join(algos)}")
        return hashlib.new(algos[algorithm], data.encode()).hexdigest()

    def random_(seed: Any = None) -> Any:
        if seed is None or seed is jutils.Utils.NULL_VALUE:
            return scope.rng()
        return random.Random(seed).random()

    def uuid_() -> Any:
        return scope.uuid()

    def parse(text: Any) -> Any:
        if not isinstance(text, str):
            raise _FnError("$parse needs a JSON string")
        try:
            return _to_jsonata(json.loads(text))
        except ValueError as exc:
            raise _FnError(f"$parse: the string is not JSON: {exc}") from None

    def now(picture: Any = None, timezone: Any = None) -> Any:
        return jfunctions.Functions.datetime_from_millis(scope.now_ms, picture, timezone)

    def millis() -> Any:
        return scope.now_ms

    return {"partition": lam(partition), "range": lam(range_), "hash": lam(hash_),
            "random": lam(random_), "uuid": lam(uuid_), "parse": lam(parse),
            "now": lam(now), "millis": lam(millis)}


class _FnError(Exception):
    pass


def evaluate(expression: str, scope: Scope, field: str, state: str | None = None) -> Any:
    """Evaluate; undefined, a function result or an error raise ``States.QueryEvaluationError``.

    ``field`` names where the expression sits (``Output/result``) for the error's cause.
    """
    expr = _compiled(expression)
    bindings: dict[str, Any] = {name: _to_jsonata(value)
                                for name, value in scope.variables.items()}
    bindings.update(_aws_functions(scope))
    bindings["states"] = {k: _to_jsonata(v) for k, v in scope.states.items()}
    try:
        raw = expr.evaluate(None, bindings)
    except (_FnError, Exception) as exc:
        why = str(exc) or type(exc).__name__
        raise errors.StatesFailure(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{expression}' specified for the field '{field}' threw an "
            f"error during evaluation. {why}", event="EvaluationFailed", locate=True) from None
    if raw is None:
        raise errors.StatesFailure(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{expression}' specified for the field '{field}' returned "
            "nothing (undefined).", event="EvaluationFailed", locate=True)
    if _contains_function(raw):
        raise errors.StatesFailure(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{expression}' specified for the field '{field}' returned "
            "an unsupported result type.", event="EvaluationFailed", locate=True)
    return from_jsonata(raw)
