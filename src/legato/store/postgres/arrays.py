"""Arrays as statement parameters, at the cost of a string join.

psycopg's generic list dumper inspects every element to choose the array's type, which costs
tens of microseconds per parameter on a slow machine; the store sends lists of ids and names
in almost every statement of a claim and a commit. A :class:`TextArray` or
:class:`BigintArray` says its type up front and is formatted as an array literal directly.
Connections that do not know these dumpers (:func:`register` was not called) still send
them correctly, as the plain lists they also are.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types

_TEXT_ARRAY_OID = pg_types["text"].array_oid
_INT8_ARRAY_OID = pg_types["int8"].array_oid


class TextArray(list[str | None]):
    """A list sent as ``text[]``."""


class BigintArray(list[int | None]):
    """A list sent as ``bigint[]``."""


def _quote(s: str | None) -> str:
    if s is None:
        return "NULL"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _TextArrayDumper(Dumper):
    oid = _TEXT_ARRAY_OID

    def __init__(self, cls: type, context: Any = None) -> None:
        super().__init__(cls, context)
        conn = self.connection
        self._encoding = conn.info.encoding if conn is not None else "utf-8"

    def dump(self, obj: Any) -> bytes:
        return ("{" + ",".join(map(_quote, obj)) + "}").encode(self._encoding)


class _BigintArrayDumper(Dumper):
    oid = _INT8_ARRAY_OID

    def dump(self, obj: Any) -> bytes:
        return ("{" + ",".join("NULL" if x is None else str(int(x)) for x in obj)
                + "}").encode()


def register(conn: psycopg.Connection[Any]) -> None:
    """Teach ``conn`` the fast dumpers (the pool calls this for every new connection)."""
    conn.adapters.register_dumper(TextArray, _TextArrayDumper)
    conn.adapters.register_dumper(BigintArray, _BigintArrayDumper)
