"""Creating and upgrading legato's tables in one PostgreSQL schema.

``sql/postgres/schema.sql`` is the whole current schema (fresh installs run it in one go);
``sql/postgres/NNN_*.sql`` are the numbered migrations that bring an older schema up to date.
A test proves that both paths give the same tables and indexes. Several processes may start
at once: a transaction-level advisory lock per schema lets one of them migrate while the
others wait, then find the work done.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import psycopg

_VERSION_RE = re.compile(r"^--\s*version:\s*(\d+)\s*$", re.MULTILINE)


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts, in order."""
    folder = resources.files("legato.store").joinpath("sql/postgres")
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), entry.read_text()))
    return sorted(found)


def fresh_schema() -> tuple[int, str]:
    """The full current schema and the version it equals."""
    text = resources.files("legato.store").joinpath("sql/postgres/schema.sql").read_text()
    found = _VERSION_RE.search(text)
    if found is None:  # pragma: no cover - a packaging mistake
        raise RuntimeError("sql/postgres/schema.sql names no '-- version: N'")
    return int(found.group(1)), text


def latest_version() -> int:
    return max((n for n, _ in migrations()), default=0)


def migrate(conn: psycopg.Connection[Any], schema: str, lock_name: str,
            target: int | None = None, use_fresh: bool = True) -> int:
    """Bring ``schema`` up to ``target`` (default: the latest version); return its version.

    An empty schema is created from ``schema.sql`` when ``use_fresh`` (and the target is the
    latest), else by running every migration.
    """
    quoted = f'"{schema}"'
    latest = latest_version()
    goal = latest if target is None else target
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_name,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        conn.execute(f"SET LOCAL search_path TO {quoted}")
        conn.execute("CREATE TABLE IF NOT EXISTS legato_meta"
                     " (key text PRIMARY KEY, value text NOT NULL)")
        row = conn.execute("SELECT value FROM legato_meta WHERE key = 'schema_version'"
                           ).fetchone()
        version = int(row[0]) if row else 0
        fresh_version, fresh_sql = fresh_schema()
        if version == 0 and use_fresh and goal == fresh_version == latest:
            conn.execute(fresh_sql.encode())
            version = fresh_version
        else:
            for number, sql in migrations():
                if version < number <= goal:
                    conn.execute(sql.encode())
                    version = number
        conn.execute("INSERT INTO legato_meta VALUES ('schema_version', %s)"
                     " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(version),))
    return version
