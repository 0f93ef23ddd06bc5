"""JSONPath as Step Functions evaluates it (Jayway semantics).

A path starts at ``$`` (the state input), ``$$`` (the context object) or ``$name`` (a variable),
then follows ``.name``, ``['name']``, ``[0]``, ``[-1]``, ``[*]``, ``.*``, ``..name``, ``[a,b]``,
``[1:3]`` and filters ``[?(@.price < 10 && @.tag == 'x')]``.

A *definite* path (names and indices only) yields one value or raises :class:`PathNotFound`
with Jayway's wording; any other path yields the list of what it matched, possibly empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

_MISSING = object()


class PathSyntaxError(ValueError):
    """The text is not a JSONPath."""


class PathNotFound(LookupError):
    """A definite path did not match; ``str()`` is Jayway's message."""


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prop:
    names: tuple[str, ...]  # one name, or a union ['a','b']

    def fragment(self) -> str:
        return "[" + ",".join(f"'{n}'" for n in self.names) + "]"


@dataclass(frozen=True)
class Index:
    indices: tuple[int, ...]

    def fragment(self) -> str:
        return "[" + ",".join(str(i) for i in self.indices) + "]"


@dataclass(frozen=True)
class Wildcard:
    def fragment(self) -> str:
        return "[*]"


@dataclass(frozen=True)
class Slice:
    start: int | None
    end: int | None
    step: int | None

    def fragment(self) -> str:
        a = "" if self.start is None else str(self.start)
        b = "" if self.end is None else str(self.end)
        return f"[{a}:{b}]" if self.step is None else f"[{a}:{b}:{self.step}]"


@dataclass(frozen=True)
class Filter:
    expr: Expr
    text: str

    def fragment(self) -> str:
        return f"[?({self.text})]"


@dataclass(frozen=True)
class Scan:
    """``..``: the following token applies at every depth."""

    inner: Token

    def fragment(self) -> str:
        return ".." + self.inner.fragment()


@dataclass(frozen=True)
class Length:
    """``.length()`` (Jayway function), mostly seen inside filters."""

    def fragment(self) -> str:
        return ".length()"


Token = Prop | Index | Wildcard | Slice | Filter | Scan | Length


# --- filter expressions ------------------------------------------------------------------


@dataclass(frozen=True)
class Expr:
    op: str  # "lit", "path", "not", "and", "or", "cmp", "exists", "regex"
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class JsonPath:
    """A compiled path. ``root`` is ``"$"``, ``"$$"`` or a variable name."""

    text: str
    root: str
    tokens: tuple[Token, ...] = field(default=())

    @property
    def definite(self) -> bool:
        return all(
            (isinstance(t, Prop) and len(t.names) == 1)
            or (isinstance(t, Index) and len(t.indices) == 1)
            or isinstance(t, Length)
            for t in self.tokens
        )

    @property
    def is_variable(self) -> bool:
        return self.root not in ("$", "$$")

    def evaluate(self, value: Any) -> Any:
        """The matched value (definite path) or list of matches (any other path)."""
        if self.definite:
            return _definite(self, value)
        return list(_walk(self.tokens, value, value))

    def normalized(self, upto: int | None = None) -> str:
        tokens = self.tokens if upto is None else self.tokens[:upto]
        return "$" + "".join(t.fragment() for t in tokens)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, int):
        return "java.lang.Integer"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, list):
        return "net.minidev.json.JSONArray"
    return "java.util.LinkedHashMap"


def _definite(path: JsonPath, value: Any) -> Any:
    current = value
    last = len(path.tokens) - 1
    for i, token in enumerate(path.tokens):
        if isinstance(token, Prop):
            name = token.names[0]
            if not isinstance(current, dict):
                raise PathNotFound(
                    f"Expected to find an object with property {token.fragment()} in path "
                    f"{path.normalized(i)} but found '{_type_name(current)}'. This is not a json "
                    "object according to the JsonProvider: "
                    "'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.")
            if name not in current:
                if i == last:
                    raise PathNotFound(f"No results for path: {path.normalized()}")
                raise PathNotFound(f"Missing property in path {path.normalized(i + 1)}")
            current = current[name]
        elif isinstance(token, Index):
            idx = token.indices[0]
            if not isinstance(current, list):
                raise PathNotFound(
                    f"Filter: {token.fragment()} can only be applied to arrays. Current context "
                    f"is: {_java_str(current)}")
            if idx < 0:
                idx += len(current)
            if not 0 <= idx < len(current):
                raise PathNotFound(f"No results for path: {path.normalized()}")
            current = current[idx]
        elif isinstance(token, Length):
            if isinstance(current, list | dict | str):
                current = len(current)
            else:
                raise PathNotFound(f"No results for path: {path.normalized()}")
    return current


def _java_str(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _apply(token: Token, value: Any, root: Any) -> Iterator[Any]:
    if isinstance(token, Prop):
        if isinstance(value, dict):
            for name in token.names:
                if name in value:
                    yield value[name]
    elif isinstance(token, Index):
        if isinstance(value, list):
            for idx in token.indices:
                j = idx + len(value) if idx < 0 else idx
                if 0 <= j < len(value):
                    yield value[j]
    elif isinstance(token, Wildcard):
        yield from _children(value)
    elif isinstance(token, Slice):
        if isinstance(value, list):
            yield from value[token.start:token.end:token.step]
    elif isinstance(token, Filter):
        items: list[Any] = (list(value) if isinstance(value, list)
                            else [value] if isinstance(value, dict) else [])
        for item in items:
            if _truthy(_eval_expr(token.expr, item, root)):
                yield item
    elif isinstance(token, Length):
        if isinstance(value, list | dict | str):
            yield len(value)
    elif isinstance(token, Scan):
        yield from _scan(token.inner, value, root)


def _scan(inner: Token, value: Any, root: Any) -> Iterator[Any]:
    yield from _apply(inner, value, root)
    for child in _children(value):
        if isinstance(child, dict | list):
            yield from _scan(inner, child, root)


def _walk(tokens: tuple[Token, ...], value: Any, root: Any) -> Iterator[Any]:
    if not tokens:
        yield value
        return
    head, rest = tokens[0], tokens[1:]
    for item in _apply(head, value, root):
        yield from _walk(rest, item, root)


# --- filter evaluation -------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    if value is _MISSING:
        return False
    return bool(value) if isinstance(value, bool) else value is not None


def _eval_expr(expr: Expr, item: Any, root: Any) -> Any:
    op = expr.op
    if op == "lit":
        return expr.args[0]
    if op == "path":
        base_is_root, tokens = expr.args
        base = root if base_is_root else item
        found = list(_walk(tokens, base, root))
        sub = JsonPath("", "$", tokens)
        if sub.definite:
            return found[0] if found else _MISSING
        return found
    if op == "not":
        return not _truthy(_eval_expr(expr.args[0], item, root))
    if op == "and":
        return all(_truthy(_eval_expr(a, item, root)) for a in expr.args)
    if op == "or":
        return any(_truthy(_eval_expr(a, item, root)) for a in expr.args)
    if op == "exists":
        v = _eval_expr(expr.args[0], item, root)
        return v is not _MISSING and v != []
    if op == "regex":
        v = _eval_expr(expr.args[0], item, root)
        return isinstance(v, str) and re.search(expr.args[1], v) is not None
    if op == "cmp":
        cmp, left, right = expr.args
        a = _eval_expr(left, item, root)
        b = _eval_expr(right, item, root)
        return _compare(cmp, a, b)
    raise AssertionError(op)


def _same_kind(a: Any, b: Any) -> bool:
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, num) and isinstance(b, num):
        return True
    return type(a) is type(b)


def _compare(cmp: str, a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return cmp == "!=" and not (a is _MISSING and b is _MISSING)
    if cmp == "in":
        return isinstance(b, list) and a in b
    if cmp == "nin":
        return isinstance(b, list) and a not in b
    if cmp in ("==", "!="):
        eq = _same_kind(a, b) and a == b
        return eq if cmp == "==" else not eq
    if not _same_kind(a, b) or a is None or isinstance(a, bool | dict | list):
        return False
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda x, y: x < y, "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
    }
    return ops[cmp](a, b)


# --- parsing -----------------------------------------------------------------------------

_NAME_STOP = set(".[ ()")
_VAR_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class _Reader:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def eof(self) -> bool:
        return self.pos >= len(self.text)

    def skip_ws(self) -> None:
        while not self.eof() and self.text[self.pos] in " \t\n\r":
            self.pos += 1

    def fail(self, why: str) -> PathSyntaxError:
        return PathSyntaxError(f"invalid JSONPath {self.text!r}: {why} at position {self.pos}")


def _read_quoted(r: _Reader) -> str:
    quote = r.text[r.pos]
    r.pos += 1
    out: list[str] = []
    while True:
        if r.eof():
            raise r.fail("unterminated string")
        c = r.text[r.pos]
        if c == "\\" and r.pos + 1 < len(r.text) and r.text[r.pos + 1] in (quote, "\\"):
            out.append(r.text[r.pos + 1])
            r.pos += 2
            continue
        if c == quote:
            r.pos += 1
            return "".join(out)
        out.append(c)
        r.pos += 1


def _read_int(r: _Reader) -> int | None:
    r.skip_ws()
    m = re.compile(r"-?\d+").match(r.text, r.pos)
    if not m:
        return None
    r.pos = m.end()
    r.skip_ws()
    return int(m.group())


def _parse_bracket(r: _Reader) -> Token:
    # r.pos is just after '['
    r.skip_ws()
    c = r.peek()
    if c == "*":
        r.pos += 1
        r.skip_ws()
        _expect(r, "]")
        return Wildcard()
    if c == "?":
        r.pos += 1
        r.skip_ws()
        _expect(r, "(")
        start = r.pos
        expr = _parse_or(r)
        text = r.text[start:r.pos].strip()
        r.skip_ws()
        _expect(r, ")")
        r.skip_ws()
        _expect(r, "]")
        return Filter(expr, text)
    if c in ("'", '"'):
        names = []
        while True:
            r.skip_ws()
            if r.peek() not in ("'", '"'):
                raise r.fail("expected a quoted name")
            names.append(_read_quoted(r))
            r.skip_ws()
            if r.peek() == ",":
                r.pos += 1
                continue
            _expect(r, "]")
            return Prop(tuple(names))
    # numbers: index, union or slice
    first = _read_int(r)
    if r.peek() == ":":
        r.pos += 1
        end = _read_int(r)
        step = None
        if r.peek() == ":":
            r.pos += 1
            step = _read_int(r)
            if step == 0:
                raise r.fail("slice step cannot be 0")
        _expect(r, "]")
        return Slice(first, end, step)
    if first is None:
        raise r.fail("expected an index, a quoted name, '*' or a filter")
    indices = [first]
    while r.peek() == ",":
        r.pos += 1
        nxt = _read_int(r)
        if nxt is None:
            raise r.fail("expected an index")
        indices.append(nxt)
    _expect(r, "]")
    return Index(tuple(indices))


def _expect(r: _Reader, s: str) -> None:
    if r.text.startswith(s, r.pos):
        r.pos += len(s)
        return
    raise r.fail(f"expected {s!r}")


def _read_name(r: _Reader) -> str:
    start = r.pos
    while not r.eof() and r.text[r.pos] not in _NAME_STOP:
        r.pos += 1
    if r.pos == start:
        raise r.fail("expected a property name")
    return r.text[start:r.pos]


def _parse_tokens(r: _Reader, stop: Callable[[_Reader], bool]) -> list[Token]:
    tokens: list[Token] = []
    while not r.eof() and not stop(r):
        c = r.peek()
        if r.peek(2) == "..":
            r.pos += 2
            if r.peek() == "[":
                r.pos += 1
                tokens.append(Scan(_parse_bracket(r)))
            elif r.peek() == "*":
                r.pos += 1
                tokens.append(Scan(Wildcard()))
            else:
                tokens.append(Scan(Prop((_read_name(r),))))
        elif c == ".":
            r.pos += 1
            if r.peek() == "*":
                r.pos += 1
                tokens.append(Wildcard())
            elif r.peek() == "[":  # tolerated: $.['a']
                r.pos += 1
                tokens.append(_parse_bracket(r))
            else:
                name = _read_name(r)
                if name == "length" and r.peek(2) == "()":
                    r.pos += 2
                    tokens.append(Length())
                else:
                    tokens.append(Prop((name,)))
        elif c == "[":
            r.pos += 1
            tokens.append(_parse_bracket(r))
        else:
            raise r.fail(f"unexpected {c!r}")
    return tokens


def _read_root(r: _Reader) -> str:
    if not r.text.startswith("$", r.pos):
        raise r.fail("a path starts with '$'")
    if r.text.startswith("$$", r.pos):
        r.pos += 2
        return "$$"
    m = _VAR_RE.match(r.text, r.pos)
    if m:
        r.pos = m.end()
        return m.group(1)
    r.pos += 1
    return "$"


def compile_path(text: str, *, allow_variables: bool = True, allow_context: bool = True
                 ) -> JsonPath:
    """Compile ``text``; raises :class:`PathSyntaxError` with a readable reason."""
    if not isinstance(text, str):
        raise PathSyntaxError(f"a JSONPath must be a string, not {text!r}")
    r = _Reader(text)
    r.skip_ws()
    root = _read_root(r)
    if root == "$$" and not allow_context:
        raise PathSyntaxError(f"invalid JSONPath {text!r}: the context object is not allowed here")
    if root not in ("$", "$$") and not allow_variables:
        raise PathSyntaxError(f"invalid JSONPath {text!r}: variables are not allowed here")
    tokens = _parse_tokens(r, lambda rr: rr.peek() in (" ", "\t", "\n"))
    r.skip_ws()
    if not r.eof():
        raise r.fail(f"unexpected {r.peek()!r}")
    return JsonPath(text, root, tuple(tokens))


# filter grammar: or := and ('||' and)* ; and := unary ('&&' unary)* ;
# unary := '!' unary | '(' or ')' | operand (op operand)?


def _parse_or(r: _Reader) -> Expr:
    parts = [_parse_and(r)]
    while True:
        r.skip_ws()
        if r.peek(2) == "||":
            r.pos += 2
            parts.append(_parse_and(r))
        else:
            break
    return parts[0] if len(parts) == 1 else Expr("or", tuple(parts))


def _parse_and(r: _Reader) -> Expr:
    parts = [_parse_unary(r)]
    while True:
        r.skip_ws()
        if r.peek(2) == "&&":
            r.pos += 2
            parts.append(_parse_unary(r))
        else:
            break
    return parts[0] if len(parts) == 1 else Expr("and", tuple(parts))


_CMP_OPS = ("==", "!=", "<=", ">=", "=~", "<", ">", " in ", " nin ")


def _parse_unary(r: _Reader) -> Expr:
    r.skip_ws()
    if r.peek() == "!" and r.peek(2) != "!=":
        r.pos += 1
        return Expr("not", (_parse_unary(r),))
    if r.peek() == "(":
        r.pos += 1
        inner = _parse_or(r)
        r.skip_ws()
        _expect(r, ")")
        return inner
    left = _parse_operand(r)
    save = r.pos
    r.skip_ws()
    for op in _CMP_OPS:
        probe = op.strip()
        if op.startswith(" "):
            if r.text.startswith(probe, r.pos) and r.text[r.pos + len(probe):][:1] in (" ", "["):
                r.pos += len(probe)
                right = _parse_operand(r)
                return Expr("cmp", (probe, left, right))
            continue
        if r.text.startswith(op, r.pos):
            r.pos += len(op)
            r.skip_ws()
            if op == "=~":
                return Expr("regex", (left, _read_regex(r)))
            right = _parse_operand(r)
            return Expr("cmp", (op, left, right))
    r.pos = save
    if left.op == "path":
        return Expr("exists", (left,))
    return left


def _read_regex(r: _Reader) -> str:
    if r.peek() != "/":
        raise r.fail("expected a /regex/")
    end = r.text.find("/", r.pos + 1)
    while end != -1 and r.text[end - 1] == "\\":
        end = r.text.find("/", end + 1)
    if end == -1:
        raise r.fail("unterminated regex")
    pattern = r.text[r.pos + 1:end]
    r.pos = end + 1
    flags = ""
    while r.peek() in ("i", "m", "s"):
        flags += r.peek()
        r.pos += 1
    if "i" in flags:
        pattern = "(?i)" + pattern
    try:
        re.compile(pattern)
    except re.error as exc:
        raise r.fail(f"bad regex: {exc}") from None
    return pattern


_NUM_RE = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _parse_operand(r: _Reader) -> Expr:
    r.skip_ws()
    c = r.peek()
    if c in ("'", '"'):
        return Expr("lit", (_read_quoted(r),))
    if c == "@" or c == "$":
        base_is_root = c == "$"
        r.pos += 1
        tokens = _parse_tokens(r, lambda rr: rr.peek() in (" ", ")", "=", "!", "<", ">", "&",
                                                           "|", ",", "\t", "\n", "]"))
        return Expr("path", (base_is_root, tuple(tokens)))
    if c == "[":
        r.pos += 1
        values: list[Any] = []
        while True:
            r.skip_ws()
            if r.peek() == "]":
                r.pos += 1
                return Expr("lit", (values,))
            item = _parse_operand(r)
            if item.op != "lit":
                raise r.fail("a list holds literals only")
            values.append(item.args[0])
            r.skip_ws()
            if r.peek() == ",":
                r.pos += 1
    m = _NUM_RE.match(r.text, r.pos)
    if m:
        r.pos = m.end()
        text = m.group()
        return Expr("lit", (float(text) if any(ch in text for ch in ".eE") else int(text),))
    for word, value in (("true", True), ("false", False), ("null", None)):
        if r.text.startswith(word, r.pos):
            r.pos += len(word)
            return Expr("lit", (value,))
    raise r.fail("expected a value, '@' or '$' in the filter")


# --- ResultPath --------------------------------------------------------------------------


def set_path(document: Any, path: JsonPath, value: Any) -> Any:
    """Return ``document`` with ``value`` placed at the reference ``path`` (ResultPath).

    Missing objects on the way are created. Raises ``ValueError`` when the path cannot be
    applied (a non-object on the way, an index outside the array).
    """
    if not path.tokens:
        return value
    if not isinstance(document, dict | list):
        raise ValueError("the input is not an object")
    root: Any = document
    current = root
    for i, token in enumerate(path.tokens):
        last = i == len(path.tokens) - 1
        if isinstance(token, Prop) and len(token.names) == 1:
            name = token.names[0]
            if not isinstance(current, dict):
                raise ValueError(f"{path.normalized(i)} is not an object")
            if last:
                current[name] = value
            else:
                nxt = current.get(name, _MISSING)
                if nxt is _MISSING or nxt is None:
                    nxt = {}
                    current[name] = nxt
                current = nxt
        elif isinstance(token, Index) and len(token.indices) == 1:
            idx = token.indices[0]
            if not isinstance(current, list) or not -len(current) <= idx < len(current):
                raise ValueError(f"{path.normalized(i + 1)} is not in the input")
            if last:
                current[idx] = value
            else:
                current = current[idx]
        else:
            raise ValueError("a reference path holds names and indices only")
    return root


def is_reference_path(path: JsonPath) -> bool:
    return path.root == "$" and path.definite and not any(
        isinstance(t, Length) for t in path.tokens)
