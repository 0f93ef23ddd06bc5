"""Reading a ``postgresql://`` URL: libpq connection string, legato's own options, redaction."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from legato.domain.redact import redact as redact_text
from legato.errors import ConfigError

DEFAULT_SCHEMA = "legato"
#: a schema name legato quotes into SQL: the whole name must match (fullmatch: ``$`` would
#: let a trailing newline through)
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SEARCH_PATH_RE = re.compile(r"-c\s*search_path\s*=\s*\"?([A-Za-z0-9_]+)")

#: query parameters legato reads itself; every other one goes to libpq unchanged
OWN_OPTIONS = ("schema", "pool_size", "pool_min", "pool_timeout")


redact = redact_text  # ``url`` with any password (authority or ``password=``) as ``***``


@dataclass(frozen=True, slots=True)
class Settings:
    conninfo: str  # for libpq, without legato's own options
    schema: str
    pool_size: int
    pool_min: int
    pool_timeout: float
    safe_url: str  # for messages
    application_name: str  # as pg_stat_activity shows the pool's connections

    @property
    def quoted_schema(self) -> str:
        return f'"{self.schema}"'

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this schema (at most 63 bytes, as PostgreSQL wants)."""
        name = f"legato_{self.schema}"
        if len(name) <= 63:
            return name
        return "legato_" + hashlib.sha1(self.schema.encode()).hexdigest()[:24]

    def lock_prefix(self) -> str:
        """Prefix of the advisory-lock names of this schema (hashed to a bigint in SQL)."""
        return f"legato:{self.schema}:"


def _number(options: dict[str, str], key: str, default: float, safe_url: str,
            minimum: float) -> float:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{key}={raw!r} in {safe_url}: expected a number >= {minimum:g}")
    return value


def parse(url: str, schema: str | None = None, pool_size: int | None = None) -> Settings:
    """Split a database URL into a libpq connection string and legato's options.

    ``?schema=NAME`` (or the ``schema`` argument, or ``options=-csearch_path=NAME``) selects
    the schema that holds legato's tables (default ``legato``); ``pool_size``, ``pool_min`` and
    ``pool_timeout`` size the connection pool. Everything else is libpq's.
    """
    safe_url = redact(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower().split("+", 1)[0]
    if scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"not a PostgreSQL URL: {safe_url}")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in pairs if k in OWN_OPTIONS}
    rest = [(k, v) for k, v in pairs if k not in OWN_OPTIONS]
    # quote, not quote_plus: libpq reads "+" literally, so a space (options=-c a=1 -c b=2)
    # must be %20
    query = urlencode(rest, quote_via=quote)
    libpq_url = urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"invalid PostgreSQL URL {safe_url}: {exc}") from None
    params.setdefault("connect_timeout", "10")
    params.setdefault("application_name", "legato")
    name = schema or own.get("schema")
    if not name:
        found = _SEARCH_PATH_RE.search(str(params.get("options") or ""))
        name = found.group(1) if found else DEFAULT_SCHEMA
    if not isinstance(name, str) or not _SCHEMA_RE.fullmatch(name):
        raise ConfigError(
            f"schema {name!r} in {safe_url}: use letters, digits and _ (at most 63, not"
            " starting with a digit)")
    size = int(_number(own, "pool_size", pool_size or 10, safe_url, 1))
    return Settings(
        conninfo=make_conninfo(**params),  # type: ignore[arg-type]
        schema=name,
        pool_size=size,
        pool_min=min(size, int(_number(own, "pool_min", 1, safe_url, 0))),
        pool_timeout=_number(own, "pool_timeout", 10.0, safe_url, 0.1),
        safe_url=safe_url,
        application_name=str(params["application_name"]),
    )
