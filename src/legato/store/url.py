"""Database URLs: ``sqlite:///path.db`` (embedded) and ``postgresql://...``."""

from __future__ import annotations

import os
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

from legato.domain.redact import redact
from legato.errors import ConfigError
from legato.store.base import Store
from legato.store.migrations import SchemaInfo

DEFAULT_URL = "sqlite:///legato.db"
ENV_VAR = "LEGATO_DATABASE_URL"
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")


def resolve_url(url: str | None) -> str:
    return url or os.environ.get(ENV_VAR) or DEFAULT_URL


def _sqlite_path(url: str) -> str:
    path = url.split("://", 1)[1].split("?", 1)[0]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///rel.db -> rel.db ; sqlite:////abs.db -> /abs.db
    if not path:
        raise ConfigError(f"database URL {url!r} names no file (try sqlite:///legato.db)")
    return path


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite" or scheme in _POSTGRES_SCHEMES:
        return scheme
    raise ConfigError(f"unsupported database URL {redact(url)!r}: use sqlite:///FILE.db or "
                      "postgresql://USER@HOST/DB")


def _postgres(url: str, part: str) -> ModuleType:
    """``legato.store.postgres.<part>``, or one clear error naming the extra to install."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"{url.split('://', 1)[0]}:// URLs need the PostgreSQL driver, which is not "
            f"installed ({exc.name} is missing): pip install 'legato[postgres]'") from None
    import importlib

    return importlib.import_module(f"legato.store.postgres.{part}")


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the store a URL names, creating or upgrading legato's tables.

    With ``migrate=False`` nothing is created or changed: a database that is missing, not
    migrated or behind this code raises :class:`legato.SchemaError` naming
    ``legato db migrate``.
    """
    url = resolve_url(url)
    if _scheme(url) == "sqlite":
        options = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        from legato.store.sqlite import SQLiteStore

        return SQLiteStore(_sqlite_path(url), url=url, migrate=migrate, **options)
    store: Store = _postgres(url, "store").PostgresStore(url, migrate=migrate)
    return store


def inspect_schema(url: str | None = None) -> SchemaInfo:
    """What the database a URL names holds of legato's schema, compared with this code.

    Reads only: a missing SQLite file is not created, a missing PostgreSQL schema not made.
    ``info.pending`` names the migrations ``legato db migrate`` would run.
    """
    url = resolve_url(url)
    if _scheme(url) == "sqlite":
        from legato.store.sqlite import schema as sqlite_schema

        return sqlite_schema.inspect(_sqlite_path(url), url)
    info: SchemaInfo = _postgres(url, "schema").inspect_url(url)
    return info
