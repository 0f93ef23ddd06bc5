"""The SQLite store (one file; many worker processes on one host).

``store.py`` (the store), ``queries.py`` (its statements, from ``sql/sqlite/queries.sql``),
``schema.py`` (migrations and schema inspection), ``notify.py`` (wake-ups between processes).
"""

from legato.store.sqlite.store import SQLiteStore, _migrations, _Start, _statements

__all__ = ["SQLiteStore", "_Start", "_migrations", "_statements"]
