"""Creating and upgrading legato's tables in one PostgreSQL schema.

``sql/postgres/schema.sql`` is the whole current schema (fresh installs run it in one go);
``sql/postgres/NNN_*.sql`` are the numbered migrations that bring an older schema up to date
(what each needs of the code, and when this code may run on a newer schema:
:mod:`legato.store.migrations`).
A test proves that both paths give the same tables and indexes. Several processes may start
at once: a transaction-level advisory lock per schema lets one of them migrate while the
others wait, then find the work done.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import psycopg

from legato.store import migrations as mig

_VERSION_RE = re.compile(r"^--\s*version:\s*(\d+)\s*$", re.MULTILINE)


def migrations() -> list[tuple[int, str]]:
    """The numbered migration scripts, in order."""
    return [(m.number, m.sql) for m in mig.load("postgres")]


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
            target: int | None = None, use_fresh: bool = True, safe_url: str = "") -> int:
    """Bring ``schema`` up to ``target`` (default: the latest version); return its version.

    An empty schema is created from ``schema.sql`` when ``use_fresh`` (and the target is the
    latest), else by running every migration. A schema newer than this code knows is left as
    it is if it declares this code compatible, else :class:`legato.SchemaError`.
    """
    if target is None:  # nothing to do: no DDL, so a role that may not create schemas works
        found = inspect(conn, schema, safe_url)
        found.refuse_newer()
        if found.state in ("current", "newer"):
            return found.version
    quoted = f'"{schema}"'
    all_ = mig.load("postgres")
    latest = latest_version()
    goal = latest if target is None else target
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_name,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        conn.execute(f"SET LOCAL search_path TO {quoted}")
        conn.execute("CREATE TABLE IF NOT EXISTS legato_meta"
                     " (key text PRIMARY KEY, value text NOT NULL)")
        version, oldest = _recorded(conn)
        mig.info(safe_url, True, version, oldest, all_).refuse_newer()
        before = version
        fresh_version, fresh_sql = fresh_schema()
        if version == 0 and use_fresh and goal == fresh_version == latest:
            conn.execute(fresh_sql.encode())
            version = fresh_version
        else:
            for number, sql in migrations():
                if version < number <= goal:
                    conn.execute(sql.encode())
                    version = number
        if version != before or oldest is None:
            for key, value in (("schema_version", str(version)),
                               ("oldest_code", mig.oldest_code(all_, version))):
                conn.execute("INSERT INTO legato_meta VALUES (%s, %s) ON CONFLICT (key)"
                             " DO UPDATE SET value = EXCLUDED.value", (key, value))
    return version


def _recorded(conn: psycopg.Connection[Any]) -> tuple[int, str | None]:
    """``(schema_version, oldest_code)`` from ``legato_meta`` on the search path."""
    meta = dict(conn.execute("SELECT key, value FROM legato_meta"
                             " WHERE key IN ('schema_version', 'oldest_code')").fetchall())
    return int(meta.get("schema_version") or 0), meta.get("oldest_code")


def inspect(conn: psycopg.Connection[Any], schema: str, safe_url: str) -> mig.SchemaInfo:
    """What ``schema`` holds of legato's tables; creates and changes nothing."""
    all_ = mig.load("postgres")
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                              (schema,)).fetchone() is not None
        if not exists:
            return mig.info(safe_url, False, 0, None, all_, schema)
        has_meta = conn.execute("SELECT to_regclass(format('%%I.legato_meta', %s::text))",
                                (schema,)).fetchone()
        if not has_meta or has_meta[0] is None:
            return mig.info(safe_url, True, 0, None, all_, schema)
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        version, oldest = _recorded(conn)
    return mig.info(safe_url, True, version, oldest, all_, schema)


def inspect_url(url: str) -> mig.SchemaInfo:
    """:func:`inspect` of the schema a ``postgresql://`` URL names."""
    from legato.errors import ConfigError
    from legato.store.postgres.conninfo import parse

    settings = parse(url)
    try:
        conn = psycopg.connect(settings.conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise ConfigError(f"cannot connect to PostgreSQL at {settings.safe_url}: "
                          f"{' '.join(str(exc).split())}") from None
    try:
        return inspect(conn, settings.schema, settings.safe_url)
    finally:
        conn.close()
