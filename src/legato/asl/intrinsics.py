"""Intrinsic functions: ``States.Format('{} items', $.count)`` and friends.

:func:`compile_call` turns the text into a small tree (checked at definition time: unknown
function, wrong number of arguments, bad path); :func:`evaluate` runs it against the state's
data. Runtime failures raise :class:`~legato.asl.errors.StatesFailure` (``States.Runtime``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from legato.asl import errors
from legato.asl.jsonpath import JsonPath, PathNotFound, PathSyntaxError, compile_path


class IntrinsicSyntaxError(ValueError):
    """The text is not a well-formed intrinsic function call."""


@dataclass(frozen=True)
class Literal:
    value: Any
    raw: str | None = None  # a string literal's text between the quotes, escapes intact


@dataclass(frozen=True)
class PathArg:
    path: JsonPath


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Literal | PathArg | Call, ...]
    text: str


Arg = Literal | PathArg | Call

# name -> (min args, max args or None)
ARITY: dict[str, tuple[int, int | None]] = {
    "States.Format": (1, None),
    "States.StringToJson": (1, 1),
    "States.JsonToString": (1, 1),
    "States.Array": (0, None),
    "States.ArrayPartition": (2, 2),
    "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3),
    "States.ArrayGetItem": (2, 2),
    "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1),
    "States.Base64Encode": (1, 1),
    "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2),
    "States.JsonMerge": (3, 3),
    "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2),
    "States.UUID": (0, 0),
}

_NAME_RE = re.compile(r"States\.[A-Za-z0-9]+")
_NUM_RE = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def looks_like_call(text: str) -> bool:
    return bool(re.match(r"\s*States\.[A-Za-z0-9]+\s*\(", text))


class _P:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def fail(self, why: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"invalid intrinsic function {self.text!r}: {why}")


def compile_call(text: str) -> Call:
    """Parse ``text`` as one intrinsic function call."""
    p = _P(text)
    p.ws()
    call = _call(p)
    p.ws()
    if p.pos != len(text):
        raise p.fail(f"unexpected {text[p.pos:p.pos + 10]!r} after the call")
    return call


def _call(p: _P) -> Call:
    start = p.pos
    m = _NAME_RE.match(p.text, p.pos)
    if not m:
        raise p.fail("expected a function name like States.Format")
    name = m.group()
    if name not in ARITY:
        raise p.fail(f"unknown function {name} (known: {', '.join(sorted(ARITY))})")
    p.pos = m.end()
    p.ws()
    if p.text[p.pos:p.pos + 1] != "(":
        raise p.fail(f"expected '(' after {name}")
    p.pos += 1
    args: list[Arg] = []
    p.ws()
    if p.text[p.pos:p.pos + 1] == ")":
        p.pos += 1
    else:
        while True:
            p.ws()
            args.append(_arg(p))
            p.ws()
            c = p.text[p.pos:p.pos + 1]
            if c == ",":
                p.pos += 1
                continue
            if c == ")":
                p.pos += 1
                break
            raise p.fail(f"expected ',' or ')' in the arguments of {name}")
    low, high = ARITY[name]
    if len(args) < low or (high is not None and len(args) > high):
        want = str(low) if low == high else (f"at least {low}" if high is None
                                              else f"{low} to {high}")
        raise p.fail(f"{name} takes {want} argument{'s' * (want != '1')}, got {len(args)}")
    return Call(name, tuple(args), p.text[start:p.pos])


def _arg(p: _P) -> Arg:
    c = p.text[p.pos:p.pos + 1]
    if c == "'":
        return _string(p)
    if c == "$":
        return _path(p)
    if p.text.startswith("States.", p.pos):
        return _call(p)
    m = _NUM_RE.match(p.text, p.pos)
    if m:
        p.pos = m.end()
        t = m.group()
        return Literal(float(t) if any(ch in t for ch in ".eE") else int(t))
    for word, value in (("true", True), ("false", False), ("null", None)):
        if p.text.startswith(word, p.pos):
            p.pos += len(word)
            return Literal(value)
    raise p.fail(f"unexpected {p.text[p.pos:p.pos + 10]!r}")


def _string(p: _P) -> Literal:
    p.pos += 1
    start = p.pos
    while True:
        if p.pos >= len(p.text):
            raise p.fail("unterminated string literal")
        c = p.text[p.pos]
        if c == "\\":
            p.pos += 2
            continue
        if c == "'":
            raw = p.text[start:p.pos]
            p.pos += 1
            return Literal(unescape(raw), raw)
        p.pos += 1


def unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw, flags=re.S)


def _path(p: _P) -> PathArg:
    start = p.pos
    depth = 0
    quote: str | None = None
    while p.pos < len(p.text):
        c = p.text[p.pos]
        if quote:
            if c == "\\":
                p.pos += 2
                continue
            if c == quote:
                quote = None
        elif c in ("'", '"'):
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            if depth == 0:
                break
            depth -= 1
        elif c == "," and depth == 0:
            break
        p.pos += 1
    text = p.text[start:p.pos].strip()
    try:
        return PathArg(compile_path(text))
    except PathSyntaxError as exc:
        raise p.fail(str(exc)) from None


# --- evaluation --------------------------------------------------------------------------


class Env:
    """What evaluation needs: path lookup and the execution's randomness."""

    def __init__(self, resolve: Callable[[JsonPath], Any], uuid: Callable[[], str],
                 rng: Callable[[], float]) -> None:
        self.resolve = resolve
        self.uuid = uuid
        self.rng = rng


def _fail(call: Call, why: str) -> errors.StatesFailure:
    return errors.StatesFailure(errors.RUNTIME, f"{why} (in {call.text})", locate=True)


def evaluate(call: Call, env: Env) -> Any:
    values = [_value(a, env) for a in call.args]
    fn = _FUNCTIONS[call.name]
    return fn(call, values, env)


def _value(arg: Arg, env: Env) -> Any:
    if isinstance(arg, Literal):
        return arg.value
    if isinstance(arg, PathArg):
        return env.resolve(arg.path)
    return evaluate(arg, env)


def resolve_json(path: JsonPath, data: Any) -> Any:
    try:
        return path.evaluate(data)
    except PathNotFound as exc:
        raise errors.StatesFailure(
            errors.RUNTIME, f"Invalid path '{path.text}' : {exc}", locate=True) from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _need(call: Call, ok: bool, what: str) -> None:
    if not ok:
        raise _fail(call, what)


def _int_arg(call: Call, v: Any, what: str) -> int:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    _need(call, _is_int(v), f"{what} must be an integer, got {to_json(v)}")
    return int(v)


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def java_number(v: int | float) -> str:
    """A number as Java's ``toString`` prints it (``1.0``, ``1.0E-4``, ``1.0E7``)."""
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if v == 0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    if 1e-3 <= abs(v) < 1e7:
        text = repr(v)
        if "e" in text:  # repr chose exponent form for a value Java prints in full
            text = f"{v:f}".rstrip("0")
        return text if "." in text else text + ".0"
    sign, digit_tuple, exp = Decimal(repr(v)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exp, int)
    exponent = len("".join(map(str, digit_tuple))) - 1 + exp
    return f"{'-' if sign else ''}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def java_str(value: Any) -> str:
    """How a value prints inside ``States.Format`` (Java's ``toString``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return java_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_str(v)}" for k, v in value.items()) + "}"
    return str(value)


def _format(call: Call, values: list[Any], env: Env) -> Any:
    template_arg = call.args[0]
    template = values[0]
    _need(call, isinstance(template, str), "the format template must be a string")
    raw = template_arg.raw if isinstance(template_arg, Literal) and template_arg.raw else None
    pieces: list[str] = []
    holes = 0
    args = values[1:]
    text = raw if raw is not None else template
    i = 0
    while i < len(text):
        c = text[i]
        if raw is not None and c == "\\" and i + 1 < len(text):
            pieces.append(text[i + 1])
            i += 2
            continue
        if text.startswith("{}", i):
            if holes >= len(args):
                raise _fail(call, "the template has more placeholders than arguments")
            pieces.append(java_str(args[holes]))
            holes += 1
            i += 2
            continue
        pieces.append(c)
        i += 1
    if holes != len(args):
        raise _fail(call, f"the template has {holes} placeholders but {len(args)} arguments")
    return "".join(pieces)


def _string_to_json(call: Call, values: list[Any], env: Env) -> Any:
    s = values[0]
    _need(call, isinstance(s, str), "States.StringToJson needs a string")
    if not s.strip():
        return None
    try:
        return json.loads(s)
    except ValueError as exc:
        raise _fail(call, f"the string is not JSON: {exc}") from None


def _json_to_string(call: Call, values: list[Any], env: Env) -> Any:
    return to_json(values[0])


def _array(call: Call, values: list[Any], env: Env) -> Any:
    return list(values)


def _array_partition(call: Call, values: list[Any], env: Env) -> Any:
    arr, size = values
    _need(call, isinstance(arr, list), "the first argument must be an array")
    n = _int_arg(call, size, "the chunk size")
    _need(call, n > 0, "the chunk size must be greater than 0")
    return [arr[i:i + n] for i in range(0, len(arr), n)]


def _array_contains(call: Call, values: list[Any], env: Env) -> Any:
    arr, item = values
    _need(call, isinstance(arr, list), "the first argument must be an array")
    return any(json_equal(x, item) for x in arr)


def _array_range(call: Call, values: list[Any], env: Env) -> Any:
    start = _int_arg(call, values[0], "the start")
    end = _int_arg(call, values[1], "the end")
    step = _int_arg(call, values[2], "the step")
    _need(call, step != 0, "the step cannot be 0")
    out = list(range(start, end + (1 if step > 0 else -1), step))
    _need(call, len(out) <= 1000, "States.ArrayRange can produce at most 1000 items")
    return out


def _array_get_item(call: Call, values: list[Any], env: Env) -> Any:
    arr, idx = values
    _need(call, isinstance(arr, list), "the first argument must be an array")
    i = _int_arg(call, idx, "the index")
    _need(call, 0 <= i < len(arr), f"the index {i} is out of bounds")
    return arr[i]


def _array_length(call: Call, values: list[Any], env: Env) -> Any:
    _need(call, isinstance(values[0], list), "States.ArrayLength needs an array")
    return len(values[0])


def _array_unique(call: Call, values: list[Any], env: Env) -> Any:
    arr = values[0]
    _need(call, isinstance(arr, list), "States.ArrayUnique needs an array")
    out: list[Any] = []
    for x in arr:
        if not any(json_equal(x, y) for y in out):
            out.append(x)
    return out


def _b64encode(call: Call, values: list[Any], env: Env) -> Any:
    s = values[0]
    _need(call, isinstance(s, str), "States.Base64Encode needs a string")
    _need(call, len(s) <= 10000, "the input is longer than 10000 characters")
    return base64.b64encode(s.encode()).decode()


def _b64decode(call: Call, values: list[Any], env: Env) -> Any:
    s = values[0]
    _need(call, isinstance(s, str), "States.Base64Decode needs a string")
    _need(call, len(s) <= 10000, "the input is longer than 10000 characters")
    try:
        return base64.b64decode(s.encode(), validate=True).decode()
    except ValueError:
        raise _fail(call, "the input is not valid base64") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384",
           "SHA-512": "sha512"}


def _hash(call: Call, values: list[Any], env: Env) -> Any:
    data, algo = values
    _need(call, algo in _HASHES, f"the algorithm must be one of {', '.join(_HASHES)}")
    text = data if isinstance(data, str) else to_json(data)
    _need(call, len(text) <= 10000, "the input is longer than 10000 characters")
    return hashlib.new(_HASHES[algo], text.encode()).hexdigest()


def _json_merge(call: Call, values: list[Any], env: Env) -> Any:
    a, b, deep = values
    _need(call, isinstance(a, dict) and isinstance(b, dict), "both arguments must be objects")
    _need(call, deep is False, "only shallow merging is supported: the third argument is false")
    return {**a, **b}


def _math_random(call: Call, values: list[Any], env: Env) -> Any:
    _need(call, _is_num(values[0]) and _is_num(values[1]), "start and end must be numbers")
    start, end = java_round(values[0]), java_round(values[1])
    _need(call, start < end, "the start must be less than the end")
    if len(values) == 3:
        seed = _int_arg(call, values[2], "the seed")
        return random.Random(seed).randrange(start, end)
    return start + int(env.rng() * (end - start))


def java_round(v: float) -> int:
    return math.floor(v + 0.5)


def _math_add(call: Call, values: list[Any], env: Env) -> Any:
    a, b = values
    _need(call, _is_num(a) and _is_num(b), "both arguments must be numbers")
    return java_round(a) + java_round(b)


def _string_split(call: Call, values: list[Any], env: Env) -> Any:
    s, sep = values
    _need(call, isinstance(s, str) and isinstance(sep, str), "both arguments must be strings")
    if not sep:
        return [s] if s else []
    pattern = "[" + re.escape(sep) + "]"
    return [part for part in re.split(pattern, s) if part]


def _uuid(call: Call, values: list[Any], env: Env) -> Any:
    return env.uuid()


_FUNCTIONS: dict[str, Callable[[Call, list[Any], Env], Any]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _b64encode,
    "States.Base64Decode": _b64decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, ``true`` never equal to ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)
