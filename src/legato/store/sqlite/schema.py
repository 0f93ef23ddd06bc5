"""legato's tables in a SQLite file: applying the numbered migrations, and reading what a file
holds without creating or changing anything (see :mod:`legato.store.migrations`)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from urllib.parse import quote

from legato.store import migrations as mig

BACKEND = "sqlite"


def scripts() -> list[tuple[int, str]]:
    """The numbered migration scripts, in order, as ``(number, sql)``."""
    return [(m.number, m.sql) for m in mig.load(BACKEND)]


def statements(script: str) -> list[str]:
    """The statements of a migration script (a trigger's body holds semicolons too)."""
    out: list[str] = []
    stmt = ""
    for line in script.splitlines():
        if line.lstrip().startswith("--"):
            continue
        stmt += line + "\n"
        if sqlite3.complete_statement(stmt):
            out.append(stmt.strip())
            stmt = ""
    if stmt.strip():
        out.append(stmt.strip())  # an incomplete last statement: SQLite says what is wrong
    return out


def _recorded(c: sqlite3.Connection) -> tuple[int, str | None]:
    """``(schema_version, oldest_code)`` as recorded in ``legato_meta`` (0 if none)."""
    has_meta = c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                         " AND name = 'legato_meta'").fetchone()
    if not has_meta:
        return 0, None
    meta = dict(c.execute("SELECT key, value FROM legato_meta"
                          " WHERE key IN ('schema_version', 'oldest_code')").fetchall())
    return int(meta.get("schema_version") or 0), meta.get("oldest_code")


def migrate(c: sqlite3.Connection, url: str) -> int:
    """Apply the pending migrations inside the caller's write transaction; return the version.

    A schema newer than this code knows is left as it is (never migrated backwards) if it
    declares this code compatible; else :class:`legato.SchemaError`.
    """
    all_ = mig.load(BACKEND)
    c.execute("CREATE TABLE IF NOT EXISTS legato_meta (key TEXT PRIMARY KEY, value TEXT)")
    version, oldest = _recorded(c)
    mig.info(url, True, version, oldest, all_).refuse_newer()
    applied = False
    for m in all_:
        if m.number > version:
            for stmt in statements(m.sql):
                c.execute(stmt)
            version = m.number
            applied = True
    if applied or oldest is None:
        c.execute("INSERT OR REPLACE INTO legato_meta VALUES ('schema_version', ?)",
                  (str(version),))
        c.execute("INSERT OR REPLACE INTO legato_meta VALUES ('oldest_code', ?)",
                  (mig.oldest_code(all_, version),))
    return version


def inspect(path: str, url: str) -> mig.SchemaInfo:
    """What the file at ``path`` holds; creates nothing (a missing file stays missing)."""
    all_ = mig.load(BACKEND)
    if not os.path.exists(path):
        return mig.info(url, False, 0, None, all_)
    try:
        c = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
    except sqlite3.Error:
        return mig.info(url, True, 0, None, all_)
    try:
        version, oldest = _recorded(c)
    except sqlite3.DatabaseError:  # not a database, or not readable: no legato tables
        version, oldest = 0, None
    finally:
        with contextlib.suppress(sqlite3.Error):
            c.close()
    return mig.info(url, True, version, oldest, all_)
