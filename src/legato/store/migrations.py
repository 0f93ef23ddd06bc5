"""Schema versions, what each needs of the code, and whether this code may run on a schema.

Each backend keeps numbered migration scripts in ``sql/<backend>/NNN_name.sql``. Every script
declares, in its leading comment, ``-- oldest code: X.Y.Z``: the oldest legato release that can
still run on the schema once it is applied. Migrations are additive (new tables, new columns
with defaults, new indexes), so most declare the release that introduced the schema before
them; one that changes what old code relies on declares the release that introduces it.

``legato_meta`` records ``schema_version`` and ``oldest_code``. Code meeting a schema:

- older than it knows: ``migrate`` applies what is pending; an engine opened with
  ``migrate=False`` (and every read-only CLI command) refuses, naming ``legato db migrate``;
- newer than it knows: it runs if ``oldest_code`` is not newer than itself (a rolling upgrade:
  old workers keep running while new ones migrate), else it refuses naming both versions.
  Nothing ever migrates backwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

from legato._version import version as code_version
from legato.errors import SchemaError

if TYPE_CHECKING:
    from packaging.version import Version

_OLDEST_RE = re.compile(r"^--\s*oldest code:\s*(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Migration:
    number: int
    name: str  # "007_claim_index"
    sql: str
    oldest_code: str


def load(backend: str) -> list[Migration]:
    """The numbered migration scripts of ``backend`` ("sqlite" or "postgres"), in order."""
    folder = resources.files("legato.store").joinpath(f"sql/{backend}")
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            sql = entry.read_text()
            declared = _OLDEST_RE.search(sql)
            if declared is None:  # pragma: no cover - a test checks every script
                raise RuntimeError(f"migration {backend}/{name} declares no '-- oldest code:'")
            found.append(Migration(int(name[:3]), name[:-4], sql, declared.group(1)))
    return sorted(found, key=lambda m: m.number)


def oldest_code(migrations: list[Migration], version: int) -> str:
    """The oldest release that can run on schema ``version`` (the newest declared so far)."""
    declared = [m.oldest_code for m in migrations if m.number <= version] or [code_version()]
    return max(declared, key=_version)


def _version(text: str) -> Version:
    from packaging.version import InvalidVersion, Version  # on first use: import cost

    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


@dataclass(frozen=True)
class SchemaInfo:
    """What a database holds of legato's schema, compared with this code.

    ``state`` is one of ``missing`` (no database file, or no PostgreSQL schema), ``empty`` (no
    legato tables), ``behind`` (migrations pending), ``current``, ``newer`` (a newer release
    migrated it and declares this code compatible) or ``incompatible`` (newer, and it needs a
    newer release than this one).
    """

    url: str
    exists: bool
    version: int
    latest: int
    pending: list[str] = field(default_factory=list)
    oldest_code: str | None = None
    code_version: str = field(default_factory=code_version)
    #: PostgreSQL: the schema that holds legato's tables (None on SQLite: the file does)
    schema: str | None = None

    @property
    def state(self) -> str:
        if not self.exists:
            return "missing"
        if self.version == 0:
            return "empty"
        if self.version < self.latest:
            return "behind"
        if self.version == self.latest:
            return "current"
        if self.oldest_code is not None and _version(self.oldest_code) > _version(
                self.code_version):
            return "incompatible"
        return "newer"

    def as_dict(self) -> dict[str, object]:
        return {"url": self.url, "state": self.state, "exists": self.exists,
                "version": self.version, "latest": self.latest, "pending": list(self.pending),
                "oldest_code": self.oldest_code, "code_version": self.code_version,
                "schema": self.schema}

    def refuse_newer(self) -> None:
        """Raise :class:`SchemaError` if a newer release migrated the schema and this one may
        not run on it."""
        if self.state == "incompatible":
            raise SchemaError(
                f"the database {self.url} has legato schema version {self.version}, which "
                f"needs legato {self.oldest_code} or newer; this is legato {self.code_version},"
                f" which knows schema versions up to {self.latest}: upgrade legato "
                "(a schema is never migrated backwards)")

    def require_ready(self) -> None:
        """Raise :class:`SchemaError` unless this code can run on the schema as it is."""
        self.refuse_newer()
        how = f"legato db migrate --db {self.url}"
        state = self.state
        if state == "missing":
            where = (f"schema {self.schema!r} does not exist in {self.url}" if self.schema
                     else f"no legato database at {self.url}")
            raise SchemaError(f"{where}: create it with: {how}")
        if state == "empty":
            raise SchemaError(f"the database {self.url} has no legato tables: create them "
                              f"with: {how}")
        if state == "behind":
            raise SchemaError(
                f"the database {self.url} has legato schema version {self.version}; this "
                f"legato needs {self.latest} ({len(self.pending)} migration"
                f"{'s' * (len(self.pending) != 1)} pending): run: {how}")


def info(url: str, exists: bool, version: int, recorded_oldest: str | None,
         migrations: list[Migration], schema: str | None = None) -> SchemaInfo:
    latest = max((m.number for m in migrations), default=0)
    return SchemaInfo(url=url, exists=exists, version=version, latest=latest,
                      pending=[m.name for m in migrations if m.number > version],
                      oldest_code=recorded_oldest if version else None, schema=schema)
