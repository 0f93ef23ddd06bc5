"""Bounds on what a definition may be, so that reading one costs time and memory in proportion
to its size, and no input runs Python's recursion out of stack.

- :data:`MAX_DEPTH`: objects and arrays nest at most 512 levels deep (JSON, YAML or a dict);
- :data:`MAX_NESTING`: state machines nest at most 100 deep (a Parallel's branches, a Map's
  processor, in another Parallel or Map ...);
- :data:`MAX_EXPRESSION_NESTING`: brackets and parentheses in one JSONPath, intrinsic function
  or JSONata expression nest at most 100 deep;
- :data:`MAX_ALIAS_NODES`: YAML aliases may add at most 100,000 values to a definition (each
  alias counts as a copy of what its anchor holds), so an "alias bomb" is refused while it
  is read, long before it could be expanded;
- :data:`MAX_NODES`: a definition holds at most 10,000,000 values (a dict built in Python may
  share objects, which count once for each place they appear).

Each violation is one :class:`~legato.asl.errors.Problem` naming where (a JSON path, and for
text the line and column).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from legato.asl.errors import Problem

MAX_DEPTH = 512
MAX_NESTING = 100
MAX_EXPRESSION_NESTING = 100
MAX_ALIAS_NODES = 100_000
MAX_NODES = 10_000_000

TOO_DEEP = (f"objects and arrays nested more than {MAX_DEPTH} levels deep (the most a "
            "definition may nest)")
TOO_NESTED = (f"state machines nested more than {MAX_NESTING} levels deep (Parallel branches "
              "and Map processors inside each other)")

Key = str | int


def path_of(keys: list[Any]) -> str:
    """``["States", "A", "Branches", 0]`` -> ``States.A.Branches[0]``, shortened when long."""
    out = ""
    for key in keys:
        if isinstance(key, int) and not isinstance(key, bool):
            out += f"[{key}]"
        else:
            out = f"{out}.{key}" if out else str(key)
    return abbreviate(out)


def abbreviate(path: str, limit: int = 160) -> str:
    """A path of at most about ``limit`` characters: its start and its end, with ``…`` for the
    middle (a path hundreds of levels deep would fill a screen)."""
    if len(path) <= limit:
        return path
    head, tail = path[:limit // 2], path[-(limit // 3):]
    cut = max(head.rfind("."), head.rfind("["))
    head = head[:cut] if cut > 0 else head
    starts = [i for i in (tail.find("."), tail.find("[")) if i >= 0]
    tail = tail[min(starts):] if starts else tail
    return f"{head}…{tail}"


def _too_deep_at(keys: list[Any], where: str = "") -> Problem:
    """The problem of a value too deep at ``keys``: state machines nested too deeply, if that
    is what makes it deep (as the parser would say), else objects and arrays."""
    machines = 0
    for i, key in enumerate(keys):
        if key in ("ItemProcessor", "Iterator") or (
                key == "Branches" and i + 1 < len(keys) and isinstance(keys[i + 1], int)):
            machines += 1
            if machines > MAX_NESTING:
                end = i + 2 if key == "Branches" else i + 1
                return Problem(path_of(keys[:end]), TOO_NESTED)
    return Problem(path_of(keys), TOO_DEEP + where)


def _where(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


# --- the shape of a value ----------------------------------------------------------------------


def shape_problem(data: Any) -> Problem | None:
    """The first place where ``data`` nests deeper than :data:`MAX_DEPTH`, or where it passes
    :data:`MAX_NODES` values; ``None`` if it does neither. Iterative: any depth is safe."""
    children = _children(data)
    if children is None:
        return None
    keys: list[Any] = []
    stack: list[Iterator[tuple[Any, Any]]] = [children]
    nodes = 1
    scalars = _SCALARS
    while stack:
        for key, value in stack[-1]:
            nodes += 1
            if type(value) in scalars:
                continue
            if nodes > MAX_NODES:
                return Problem(path_of([*keys, key]),
                               f"the definition holds more than {MAX_NODES:,} values")
            inner = _children(value)
            if inner is None:
                continue
            if len(stack) >= MAX_DEPTH:
                return _too_deep_at([*keys, key])
            keys.append(key)
            stack.append(inner)
            break
        else:
            stack.pop()
            if keys:
                keys.pop()
    if nodes > MAX_NODES:
        return Problem("", f"the definition holds more than {MAX_NODES:,} values")
    return None


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _children(value: Any) -> Iterator[tuple[Any, Any]] | None:
    if type(value) is dict or isinstance(value, Mapping):
        return iter(value.items())
    if type(value) is list or isinstance(value, list | tuple):
        return enumerate(value)
    return None


# --- JSON text ---------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.S)


def deep_json_problem(text: str) -> Problem:
    """Where JSON text nests deeper than :data:`MAX_DEPTH` (after the decoder gave up on it):
    a scan of its brackets and keys that stops there."""
    keys: list[Key] = []
    kinds: list[str] = []  # "{" or "[" per open container
    expect_key = False
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "{[":
            if len(kinds) >= MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                return _too_deep_at(keys, f" (line {line}, column {column})")
            kinds.append(token)
            keys.append(0 if token == "[" else "")
            expect_key = token == "{"
        elif token in "]}":
            if kinds:
                kinds.pop()
                keys.pop()
            expect_key = False
        elif token == ",":
            if kinds and kinds[-1] == "[":
                last = keys[-1]
                keys[-1] = last + 1 if isinstance(last, int) else 0
            expect_key = bool(kinds) and kinds[-1] == "{"
        elif token == ":":
            expect_key = False
        elif expect_key:  # a key
            try:
                keys[-1] = str(json.loads(token))
            except ValueError:
                keys[-1] = token
            expect_key = False
    return Problem("", TOO_DEEP)


# --- YAML text ---------------------------------------------------------------------------------


class YamlRefused(Exception):
    """YAML that :class:`BoundedLoader` will not read: too deep, or aliases that expand too
    far."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class BoundedLoader(yaml.SafeLoader):
    """YAML for definitions: safe types only, no implicit timestamps (ASL timestamps stay
    strings), nesting at most :data:`MAX_DEPTH` deep, and aliases that add at most
    :data:`MAX_ALIAS_NODES` values in all.

    Anchors and aliases work as in any YAML (a shared ``Retry`` list, ``<<`` merge keys).
    While the document is composed, each node's size once expanded is known from its
    children's, so an alias is charged what it stands for before anything is built: an
    "alias bomb" (anchors of aliases of anchors ...) is refused after reading a few hundred
    bytes, in microseconds.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> values it stands for, expanded
        self._added = 0  # values that aliases added
        self._keys: list[Key] = []  # where the node being composed is

    def _peek(self) -> Any:
        return self.peek_event()  # type: ignore[no-untyped-call]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self._peek()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise YamlRefused(Problem(path_of(self._at(index)), (
                        f"the alias *{event.anchor} is inside its own anchor, which makes a "
                        f"structure without end{_where(event.start_mark)}")))
                self._added += size
                if self._added > MAX_ALIAS_NODES:
                    raise YamlRefused(Problem(path_of(self._at(index)), (
                        f"YAML aliases expand the definition by more than {MAX_ALIAS_NODES:,} "
                        f"values (an alias bomb?){_where(event.start_mark)}; write the "
                        "repeated parts out, or share less")))
            return super().compose_node(parent, index)
        event = self._peek()
        pushed = parent is not None and index is not None
        if isinstance(event, yaml.CollectionStartEvent) and \
                len(self._keys) + pushed >= MAX_DEPTH:  # the containers around it, and it
            raise YamlRefused(_too_deep_at(self._at(index), _where(event.start_mark)))
        if pushed:
            self._keys.append(self._key(index))
        try:
            node = super().compose_node(parent, index)
        finally:
            if pushed:
                self._keys.pop()
        sizes = self._sizes
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        sizes[id(node)] = min(size, MAX_ALIAS_NODES + 1)  # a number that stays small
        return node

    def _at(self, index: Any) -> list[Key]:
        return [*self._keys, self._key(index)] if index is not None else list(self._keys)

    @staticmethod
    def _key(index: Any) -> Key:
        if isinstance(index, int):
            return index
        if isinstance(index, yaml.ScalarNode):
            return str(index.value)
        return "?"


BoundedLoader.yaml_implicit_resolvers = {
    k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    """YAML text as Python values, through :class:`BoundedLoader`; raises
    :class:`YamlRefused` or ``yaml.YAMLError``."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


# --- expressions -------------------------------------------------------------------------------

_OPEN, _CLOSE = "([{", ")]}"


def expression_problem(text: str) -> str | None:
    """Why ``text`` (a JSONPath, intrinsic call or JSONata expression) nests too deeply to
    compile, or ``None``. Counts brackets outside quoted strings; linear."""
    depth = 0
    quote = ""
    escaped = False
    for c in text:
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c in _OPEN:
            depth += 1
            if depth > MAX_EXPRESSION_NESTING:
                return (f"nests brackets and parentheses more than {MAX_EXPRESSION_NESTING} "
                        "levels deep")
        elif c in _CLOSE:
            depth = max(0, depth - 1)
    return None
