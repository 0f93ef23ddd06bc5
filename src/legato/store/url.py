"""Database URLs: ``sqlite:///path.db`` (embedded) and ``postgresql://...``."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

from legato.errors import ConfigError
from legato.store.base import Store

DEFAULT_URL = "sqlite:///legato.db"
ENV_VAR = "LEGATO_DATABASE_URL"


def resolve_url(url: str | None) -> str:
    return url or os.environ.get(ENV_VAR) or DEFAULT_URL


def open_store(url: str | None = None) -> Store:
    """Open (and migrate) the store a URL names."""
    url = resolve_url(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme == "sqlite":
        path = url.split("://", 1)[1].split("?", 1)[0]
        if path.startswith("/"):
            path = path[1:]  # sqlite:///rel.db -> rel.db ; sqlite:////abs.db -> /abs.db
        if not path:
            raise ConfigError(f"database URL {url!r} names no file (try sqlite:///legato.db)")
        from legato.store.sqlite import SQLiteStore

        return SQLiteStore(path, url=url, **options)
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        from legato.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigError(
        f"unsupported database URL {url!r}: use sqlite:///FILE.db or postgresql://USER@HOST/DB"
    )
