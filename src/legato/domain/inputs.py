"""The input contract: which ids, names, keys, numbers and JSON values legato accepts.

Pure rules, the same for every store, checked before anything is written (docs/inputs.md):

- ids, names and keys are non-empty strings of at most :data:`MAX_TEXT` characters without
  NUL or other control characters (nor lone surrogates, which are not Unicode text);
- numbers are finite and in range (``bool`` is not a number here);
- values (inputs, results, event and signal data, schedule args, task data) are strict JSON:
  no NaN/Infinity, sets or bytes, no lone surrogates, nested at most :data:`MAX_DEPTH`
  levels, at most ``max_payload`` bytes once encoded.

Every refusal is one :class:`legato.InvalidInput` naming the field. The checks are cheap
(a precompiled regex, ``str`` methods, the C JSON encoder's own checks): ``engine.start``
and step results go through them on the hot path.
"""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from itertools import accumulate
from typing import Any, Final

from legato.errors import InvalidInput, InvalidValue

#: the longest id, name or key (characters)
MAX_TEXT: Final = 255
#: ``priority`` is a 32-bit signed integer on every store
PRIORITY_MIN: Final = -(2**31)
PRIORITY_MAX: Final = 2**31 - 1
#: the largest count (queue limits and rates)
COUNT_MAX: Final = 2**31 - 1
#: the longest duration (ttl, deadline, timeouts, rate periods): 100 years
MAX_SECONDS: Final = 100 * 365.25 * 86400
#: how deeply a value given to legato (input, event/signal data, schedule args, task data)
#: may nest lists and objects
MAX_DEPTH: Final = 500
#: ``Engine(max_payload=)`` by default: bytes of encoded JSON (UTF-8)
DEFAULT_MAX_PAYLOAD: Final = 4 * 1024 * 1024
#: encoded text this short holds no lone surrogate if ASCII, and cannot nest MAX_DEPTH deep
_SMALL: Final = 2 * MAX_DEPTH

# C0 controls (NUL, tab, newline, ESC, ...), DEL, C1 controls, and lone surrogates
_BAD_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _char(text: str, at: int) -> str:
    c = text[at]
    if "\ud800" <= c <= "\udfff":
        return f"a lone surrogate (U+{ord(c):04X}) at position {at}"
    if c == "\x00":
        return f"NUL at position {at}"
    return f"a control character (U+{ord(c):04X}) at position {at}"


def text(value: Any, what: str) -> str:
    """``value`` if it is a valid id, name or key; else :class:`InvalidInput` naming ``what``."""
    if type(value) is str:
        s: str = value
    elif isinstance(value, str):
        s = str.__str__(value)  # a str subclass (an enum.StrEnum member): its text
    else:
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if not s:
        raise InvalidInput(f"{what} must not be empty")
    if len(s) > MAX_TEXT:
        raise InvalidInput(f"{what} is {len(s)} characters long; at most {MAX_TEXT} are"
                           " allowed")
    if not s.isprintable():  # fast: most ids are
        bad = _BAD_CHAR.search(s)
        if bad is not None:
            raise InvalidInput(f"{what} must not contain NUL or control characters: "
                               f"{_char(s, bad.start())}")
    return s


def ref(value: Any, what: str) -> str:
    """An id that names something that may exist already (the run a signal goes to, a task
    acted on): a non-empty string without NUL or control characters, of any length (legato
    derives ids longer than :data:`MAX_TEXT` itself, ``"<parent id>:<seq>"`` of a child)."""
    if type(value) is str and value and value.isprintable():  # the usual case
        return value
    if isinstance(value, str) and len(value) > MAX_TEXT:
        bad = _BAD_CHAR.search(value)
        if bad is None:
            return str.__str__(value)
        raise InvalidInput(f"{what} must not contain NUL or control characters: "
                           f"{_char(value, bad.start())}")
    return text(value, what)


def lookup(value: Any, what: str) -> str:
    """An id or name to look up, act on or filter by: a non-empty string without NUL (no
    store can hold one). Control characters pass: rows an older release stored may hold
    them, and must stay reachable to inspect, cancel or purge."""
    if type(value) is str and value and "\x00" not in value:  # the usual case
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    raise InvalidInput(f"{what} must not contain NUL: {_char(value, value.index(chr(0)))}")


def optional_text(value: Any, what: str) -> str | None:
    return None if value is None else text(value, what)


def key(value: Any, what: str = "key") -> str:
    """A business or correlation key: a string as :func:`text`, or an ``int`` (compared as
    its decimal text, as ``ctx.wait_event(key=...)`` does)."""
    if type(value) is int:
        return str(value)
    return text(value, what)


def integer(value: Any, what: str, low: int, high: int) -> int:
    """A whole number within ``low..high`` (``bool`` and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number (int), not {_show(value)}")
    if not low <= value <= high:
        raise InvalidInput(f"{what} must be within {low}..{high}, not {_show(value)}")
    return int(value)


def priority(value: Any, what: str = "priority") -> int:
    """A queue priority: an ``int`` within :data:`PRIORITY_MIN`..:data:`PRIORITY_MAX`."""
    if type(value) is int and PRIORITY_MIN <= value <= PRIORITY_MAX:  # the usual case
        return value
    return integer(value, what, PRIORITY_MIN, PRIORITY_MAX)


def count(value: Any, what: str) -> int:
    """A limit such as a concurrency: an ``int`` of at least 1."""
    return integer(value, what, 1, COUNT_MAX)


def seconds(value: Any, what: str, *, allow_zero: bool = False,
            maximum: float = MAX_SECONDS) -> float:
    """A duration in seconds (a number or a ``timedelta``): finite, more than 0 (or 0 with
    ``allow_zero``), at most ``maximum``."""
    if isinstance(value, timedelta):
        secs = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{what} must be seconds (a number) or a timedelta, not "
                           f"{_show(value)}")
    else:
        try:
            secs = float(value)
        except OverflowError:  # an int too large for a float
            secs = math.inf
    if not math.isfinite(secs):
        raise InvalidInput(f"{what} must be a finite number of seconds, not {_show(value)}")
    if secs < 0 or (secs == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise InvalidInput(f"{what} must be {least} seconds, not {_show(value)}")
    if secs > maximum:
        raise InvalidInput(f"{what} must be at most {maximum:.0f} seconds, not {_show(value)}")
    return secs


def optional_seconds(value: Any, what: str, *, allow_zero: bool = False) -> float | None:
    return None if value is None else seconds(value, what, allow_zero=allow_zero)


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:59] + "…"


def declared(exc: InvalidInput) -> InvalidValue:
    """``exc`` as the error a declaration (``legato.Queue``, ``legato.Schedule``) raises:
    also a ``ValueError``, as those raised before."""
    return InvalidValue(str(exc))


# --- strict JSON ------------------------------------------------------------------------


def _default(obj: Any) -> Any:
    """What the encoder calls for a value that is not JSON itself: sets and bytes are
    refused (JSON has neither: a list or a string is the caller's choice, not ours);
    dataclasses, pydantic models and the like become JSON as pydantic does."""
    if isinstance(obj, set | frozenset):
        raise TypeError(f"a {type(obj).__name__} is not JSON: pass a list")
    if isinstance(obj, bytes | bytearray | memoryview):
        raise TypeError(f"binary data ({type(obj).__name__}) is not JSON: pass text"
                        " (decoded, or base64-encoded)")
    from pydantic_core import to_jsonable_python  # here: most programs never need it

    try:
        return to_jsonable_python(obj)
    except Exception as exc:  # pydantic raises its own error types
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable") from exc


# The C encoder ``json.dumps`` builds on every call, built once: compact separators, UTF-8
# kept as is, NaN/Infinity refused. No circular-reference bookkeeping: a cycle ends in
# RecursionError, told apart from deep nesting only then (_why_recursion).
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode: Any = None if _c_encoder is None else _c_encoder(
    None, _default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
_encoder = json.JSONEncoder(separators=(",", ":"), default=_default, ensure_ascii=False,
                            allow_nan=False, check_circular=False)
_checking = json.JSONEncoder(separators=(",", ":"), default=_default, ensure_ascii=False,
                             allow_nan=False, check_circular=True)

# depth(): the encoded text reduced to its brackets ("{}" as "[]"), strings dropped
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b'[]{}"')))
_QUOTED = re.compile(rb'"[^"]*"')
_STEP = [0] * 256
_STEP[ord("[")], _STEP[ord("]")] = 1, -1


def depth(encoded: str) -> int:
    """How deeply the JSON text ``encoded`` (as :func:`encode` writes it) nests lists and
    objects. C-speed passes over the text: escapes, strings and scalars dropped, then each
    ``replace`` of ``[]`` removes every innermost container (one level) — wide, shallow
    values are done in a pass or two — and a running sum measures what is left."""
    text = encoded
    if "\\" in text:  # escaped backslashes and quotes first: what is left never ends a string
        text = text.replace("\\\\", "").replace('\\"', "")
    skeleton = text.encode("utf-8", "surrogatepass").translate(_BRACKETS, _NOT_BRACKET)
    if b'"' in skeleton:  # strings: quotes around whatever brackets they hold
        skeleton = skeleton.replace(b'""', b"")  # those that hold none (most)
        if b'"' in skeleton:
            skeleton = _QUOTED.sub(b"", skeleton)
    levels = 0
    while skeleton and levels < 8:
        skeleton = skeleton.replace(b"[]", b"")
        levels += 1
    if not skeleton:
        return levels
    return levels + max(accumulate(map(_STEP.__getitem__, skeleton)))


def _why_recursion(value: Any) -> str:
    try:
        _checking.encode(value)
    except ValueError as exc:
        if "ircular" in str(exc):
            return "it refers to itself"
    except RecursionError:
        pass
    return f"it is nested deeper than {MAX_DEPTH} levels"


def _reason(exc: Exception) -> str:
    text_ = str(exc)
    if isinstance(exc, ValueError) and text_.startswith("Out of range float"):
        return "NaN and Infinity are not JSON (use null, or a string)"
    return text_


def encode(value: Any, what: str = "value", *, limit: int | None = None,
           max_depth: int | None = None) -> str:
    """``value`` as compact, strict JSON, or :class:`InvalidInput` naming ``what``.

    Refused: NaN/Infinity, sets, bytes, anything else that is not JSON (dataclasses and
    pydantic models become objects), lone surrogates, a cycle, nesting deeper than the
    encoder can go (or than ``max_depth``), and more than ``limit`` bytes (UTF-8).
    """
    try:
        if _encode is not None:
            out: str = "".join(_encode(value, 0))
        else:  # pragma: no cover - Pythons without the C encoder
            out = _encoder.encode(value)
    except RecursionError:
        raise InvalidInput(f"{what} is not JSON serialisable: {_why_recursion(value)}"
                           ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not JSON serialisable: {_reason(exc)}") from None
    size = len(out)  # the usual case, a small ASCII result, without a call to check()
    if size <= _SMALL and (limit is None or size <= limit) and out.isascii():
        return out
    check(out, what, limit=limit, max_depth=max_depth)
    return out


def check(encoded: str, what: str, *, limit: int | None = None,
          max_depth: int | None = None) -> None:
    """The checks of :func:`encode` that look at the encoded text: Unicode, size, depth."""
    size = len(encoded)
    if not encoded.isascii():
        bad = _SURROGATE.search(encoded)
        if bad is not None:
            raise InvalidInput(f"{what} is not valid Unicode: it holds a lone surrogate "
                               f"(U+{ord(bad.group()):04X})")
        if limit is not None and size * 4 > limit:
            size = len(encoded.encode())
    if limit is not None and size > limit:
        raise InvalidInput(f"{what} is {size} bytes of JSON; at most {limit} are allowed"
                           " (max_payload)")
    if max_depth is not None and size > 2 * max_depth \
            and encoded.count("[") + encoded.count("{") > max_depth:
        levels = depth(encoded)
        if levels > max_depth:
            raise InvalidInput(f"{what} is nested deeper than {max_depth} levels ({levels})")


def clean(text_: str) -> str:
    """``text_`` with any lone surrogate replaced by U+FFFD: for messages legato records
    itself (an exception's text), which must be stored whatever they hold."""
    if text_.isascii() or _SURROGATE.search(text_) is None:
        return text_
    return _SURROGATE.sub("\ufffd", text_)
