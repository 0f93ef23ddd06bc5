"""Named SQL statements, read once at import from a dialect's ``sql/<dialect>/queries.sql``.

A file is a run of blocks, each opened by a line ``-- name: <name>`` and running up to the
next such line; a statement's trailing ``;`` is dropped. Any other line starting with ``--``
is a comment and is not sent (comments stand on lines of their own). A block may hold
several statements (each ending with ``;`` at the end of a line), run one after the other
(:func:`statements`). Words in braces are filled in:

* ``{<block>}``: another block of the same file, pasted where it is named (a fragment that
  several statements share), when the file is loaded;
* ``{workflow_columns}``, ``{workflow_columns_w}`` (each qualified with ``w.``),
  ``{event_columns}``, ``{task_columns}``: the column lists of
  :mod:`legato.store.sql_common`, in the order its readers take them, when loaded;
* ``{schema}``: the quoted PostgreSQL schema, once per store (one database may hold many);
* the holes a dialect fills per call, which its class declares in ``HOLES`` (``{where}``:
  the conditions given to a listing; ``{marks}``: one ``?`` per element of a list).

A subclass of :class:`Statements` declares every statement the code runs as an annotated
``str`` attribute and names its dialect; the file is read when the class is defined, and a
name declared but missing, a name given twice, a block nothing uses or a placeholder no rule
fills is an error at import, naming the file and the block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, ClassVar

from legato.store.sql_common import EVENT_COLUMNS, TASK_COLUMNS, WF_COLUMNS, prefixed

_NAME_RE = re.compile(r"^--\s*name:\s*(.*?)\s*$")
_WORD_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_HOLE_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_END_RE = re.compile(r";[ \t]*$", re.MULTILINE)

#: placeholders filled in when a file is loaded, the same in every dialect
CONSTANTS: Mapping[str, str] = {
    "workflow_columns": WF_COLUMNS,
    "workflow_columns_w": prefixed("w"),
    "event_columns": EVENT_COLUMNS,
    "task_columns": TASK_COLUMNS,
}


class SQLFileError(RuntimeError):
    """A ``queries.sql`` that does not match the code (raised at import)."""


def parse(text: str, where: str) -> dict[str, str]:
    """The blocks of a file, by name, in file order (comment lines dropped)."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        named = _NAME_RE.match(line)
        if named:
            name = named.group(1)
            if not _WORD_RE.match(name):
                raise SQLFileError(f"{where}:{number}: {name!r} is not a statement name"
                                   " (lowercase letters, digits and _)")
            if name in blocks:
                raise SQLFileError(f"{where}:{number}: the name {name!r} is given twice")
            current = blocks[name] = []
        elif line.lstrip().startswith("--"):
            continue
        elif current is not None:
            current.append(line.rstrip())
        elif line.strip():
            raise SQLFileError(f"{where}:{number}: SQL before the first '-- name:' line")
    out: dict[str, str] = {}
    for name, lines in blocks.items():
        sql = "\n".join(lines).strip()
        if sql.endswith(";"):
            sql = sql[:-1].rstrip()
        if not sql:
            raise SQLFileError(f"{where}: the block {name!r} holds no SQL")
        out[name] = sql
    return out


def resolve(blocks: Mapping[str, str], names: Iterable[str], holes: Iterable[str],
            where: str) -> dict[str, str]:
    """The statements ``names`` with fragments and constants filled in; every other
    placeholder must be one of ``holes``."""
    wanted = list(names)
    missing = [n for n in wanted if n not in blocks]
    if missing:
        raise SQLFileError(f"{where}: no block named {', '.join(map(repr, missing))}")
    allowed = set(holes)
    used: set[str] = set()

    def fill(name: str, path: tuple[str, ...]) -> str:
        def one(m: re.Match[str]) -> str:
            word = m.group(1)
            if word in allowed:
                return m.group(0)
            if word in CONSTANTS:
                return CONSTANTS[word]
            if word in blocks:
                if word in path:
                    raise SQLFileError(f"{where}: the block {word!r} includes itself")
                used.add(word)
                return fill(word, (*path, word))
            raise SQLFileError(f"{where}: the block {path[-1]!r} names {{{word}}}, which is"
                               " no block, column list or hole of this dialect")

        return _HOLE_RE.sub(one, blocks[name])

    out = {n: fill(n, (n,)) for n in wanted}
    unused = [n for n in blocks if n not in out and n not in used]
    if unused:
        raise SQLFileError(f"{where}: nothing runs the block(s) {', '.join(map(repr, unused))}")
    return out


def load(dialect: str, names: Iterable[str], holes: Iterable[str] = ()) -> dict[str, str]:
    """The statements ``names`` of ``sql/<dialect>/queries.sql`` (see the module's doc)."""
    where = f"legato/store/sql/{dialect}/queries.sql"
    try:
        text = resources.files("legato.store").joinpath(f"sql/{dialect}/queries.sql"
                                                         ).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SQLFileError(f"{where} is missing (a packaging mistake?)") from None
    return resolve(parse(text, where), names, holes, where)


def statements(block: str) -> list[str]:
    """The statements of a block that holds several (each ends with ``;`` at a line end)."""
    return [s.strip() for s in _END_RE.split(block) if s.strip()]


def _declared(cls: type) -> list[str]:
    """The statement names a :class:`Statements` class declares (annotations, bases first)."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in vars(klass).get("__annotations__", {}):
            if not name.startswith("_") and name.islower() and name not in names:
                names.append(name)
    return names


class Statements:
    """The statements of one dialect, as attributes. A subclass declares each as ``name: str``
    and passes ``dialect="sqlite"`` (or ``"postgres"``) to load them at import; an instance
    holds them with ``{schema}`` filled in."""

    #: placeholders left for the code to fill (see the module's doc)
    HOLES: ClassVar[frozenset[str]] = frozenset()
    _sql: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, dialect: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if dialect is not None:
            cls._sql = load(dialect, _declared(cls), cls.HOLES)

    def __init__(self, schema: str | None = None) -> None:
        for name, sql in self._sql.items():
            setattr(self, name, sql if schema is None else sql.replace("{schema}", schema))
