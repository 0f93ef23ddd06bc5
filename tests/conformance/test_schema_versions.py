"""Schema versions on every store: opening without migrating creates nothing, a schema behind
the code is named with its pending migrations, a newer schema runs if it declares this code
compatible (never migrated backwards) and is refused otherwise, naming both versions."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import legato
from legato.store import migrations as mig
from legato.store.postgres import schema as pg_schema
from legato.store.postgres.conninfo import parse
from legato.store.sqlite import schema as sqlite_schema

LEGATO = str(Path(sys.executable).parent / "legato")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEGATO, *args], capture_output=True, text=True, timeout=60)


def _backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


@contextlib.contextmanager
def _raw(url: str) -> Iterator[Any]:
    """A plain DB-API connection to the database (search path on legato's schema)."""
    if _backend(url) == "sqlite":
        conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()
        return
    settings = parse(url)
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{settings.schema}"')
        yield conn


def _set_meta(url: str, **values: str) -> None:
    mark = "?" if _backend(url) == "sqlite" else "%s"
    with _raw(url) as conn:
        for key, value in values.items():
            conn.execute(f"UPDATE legato_meta SET value = {mark} WHERE key = {mark}",
                         (value, key))


def _meta(url: str) -> dict[str, str]:
    with _raw(url) as conn:
        return dict(conn.execute("SELECT key, value FROM legato_meta").fetchall())


def _migrate_to(url: str, version: int) -> None:
    """Bring a new database to ``version`` with the numbered scripts (as an old release did)."""
    if _backend(url) == "sqlite":
        with _raw(url) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("CREATE TABLE legato_meta (key TEXT PRIMARY KEY, value TEXT)")
            for number, script in sqlite_schema.scripts():
                if number <= version:
                    for stmt in sqlite_schema.statements(script):
                        conn.execute(stmt)
            conn.execute("INSERT INTO legato_meta VALUES ('schema_version', ?)", (str(version),))
        return
    settings = parse(url)
    with psycopg.connect(settings.conninfo, autocommit=True) as conn:
        pg_schema.migrate(conn, settings.schema, f"test-migrate-{settings.schema}",
                          target=version, use_fresh=False)


def _latest(url: str) -> int:
    return max(m.number for m in mig.load(_backend(url)))


def test_a_missing_database_is_refused_and_not_created(db_url: str) -> None:
    with pytest.raises(legato.SchemaError) as err:
        legato.Engine(db_url, migrate=False)
    assert "legato db migrate --db" in str(err.value)
    info = legato.inspect_schema(db_url)
    assert (info.state, info.exists, info.version) == ("missing", False, 0)
    assert info.pending == [m.name for m in mig.load(_backend(db_url))]


def test_read_only_engine_on_a_current_schema_reads(db_url: str) -> None:
    @legato.workflow(name=f"ro_{_backend(db_url)}_reads")
    def wf(ctx: legato.WorkflowContext) -> int:
        return 1

    with legato.Engine(db_url) as engine:
        engine.start(wf, workflow_id="r-1").result(timeout=20)
    reader = legato.Engine(db_url, migrate=False)
    try:
        assert [h.workflow_id for h in reader.list()] == ["r-1"]
        assert reader.handle("r-1").status == "COMPLETED"
    finally:
        reader.shutdown()
    info = legato.inspect_schema(db_url)
    assert (info.state, info.version, info.pending) == ("current", _latest(db_url), [])
    assert info.oldest_code == _meta(db_url)["oldest_code"]


def test_a_schema_behind_names_its_pending_migrations_and_migrate_brings_it_up(
        db_url: str) -> None:
    _migrate_to(db_url, 4)
    info = legato.inspect_schema(db_url)
    assert (info.state, info.version) == ("behind", 4)
    assert info.pending == [m.name for m in mig.load(_backend(db_url)) if m.number > 4]
    with pytest.raises(legato.SchemaError, match=r"schema version 4; this legato needs "
                                                 rf"{_latest(db_url)} .*legato db migrate"):
        legato.Engine(db_url, migrate=False)
    listed = _cli("list", "--db", db_url)
    assert listed.returncode == 2 and listed.stderr.count("error:") == 1
    assert "schema version 4" in listed.stderr and "legato db migrate" in listed.stderr
    dry = _cli("db", "migrate", "--dry-run", "--db", db_url)
    assert dry.returncode == 0 and dry.stdout.split() == info.pending
    assert legato.inspect_schema(db_url).version == 4  # the refusals changed nothing
    engine = legato.Engine(db_url)
    engine.shutdown()
    assert legato.inspect_schema(db_url).state == "current"
    assert _meta(db_url)["oldest_code"] == mig.oldest_code(mig.load(_backend(db_url)),
                                                           _latest(db_url))


def test_a_newer_schema_that_declares_this_code_compatible_runs_and_is_kept(
        db_url: str) -> None:
    """A rolling upgrade: a newer release migrated (additively); this one keeps working."""
    legato.Engine(db_url).shutdown()
    newer = _latest(db_url) + 1
    with _raw(db_url) as conn:
        conn.execute("CREATE TABLE added_by_a_newer_release (id integer PRIMARY KEY)")
    _set_meta(db_url, schema_version=str(newer), oldest_code="0.0.1")

    @legato.workflow(name=f"ro_{_backend(db_url)}_newer")
    def wf(ctx: legato.WorkflowContext) -> str:
        return "still runs"

    with legato.Engine(db_url) as engine:
        assert engine.start(wf).result(timeout=20) == "still runs"
        assert engine.store.migrate() == newer
    reader = legato.Engine(db_url, migrate=False)
    reader.shutdown()
    assert _meta(db_url)["schema_version"] == str(newer)  # never migrated backwards
    assert _meta(db_url)["oldest_code"] == "0.0.1"
    assert legato.inspect_schema(db_url).state == "newer"


def test_a_newer_schema_that_needs_newer_code_is_refused_naming_both_versions(
        db_url: str) -> None:
    legato.Engine(db_url).shutdown()
    newer = _latest(db_url) + 3
    _set_meta(db_url, schema_version=str(newer), oldest_code="99.1.0")
    for migrate in (True, False):
        with pytest.raises(legato.SchemaError) as err:
            legato.Engine(db_url, migrate=migrate)
        text = str(err.value)
        assert f"schema version {newer}" in text and "99.1.0" in text
        assert f"legato {legato.__version__}" in text and f"up to {_latest(db_url)}" in text
    for args in (["db", "migrate"], ["db", "migrate", "--dry-run"], ["list"]):
        done = _cli(*args, "--db", db_url)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "99.1.0" in done.stderr and f"schema version {newer}" in done.stderr
    assert _meta(db_url)["schema_version"] == str(newer)
    assert legato.inspect_schema(db_url).state == "incompatible"


def test_an_empty_sqlite_file_is_refused_and_left_as_it_was(tmp_path: Any) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(legato.SchemaError, match="has no legato tables"):
        legato.Engine(f"sqlite:///{path}", migrate=False)
    assert path.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_every_migration_declares_the_oldest_code_that_runs_on_it(backend: str) -> None:
    scripts = mig.load(backend)
    assert [m.number for m in scripts] == list(range(1, len(scripts) + 1))
    for m in scripts:
        assert mig.SchemaInfo("x", True, m.number, m.number, oldest_code=m.oldest_code
                              ).state == "current"
        assert m.oldest_code <= legato.__version__ or legato.__version__.startswith("0+")


def test_a_postgresql_url_without_the_driver_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import legato\n"
        "try:\n"
        "    legato.Engine('postgresql://app:s3cret@127.0.0.1/db')\n"
        "except legato.ConfigError as exc:\n"
        "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "pip install 'legato[postgres]'" in out
    assert "s3cret" not in out


@pytest.mark.postgres
def test_engine_repr_shows_no_password(pg_db_url: str) -> None:
    url = pg_db_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    engine = legato.Engine(url)
    try:
        assert "s3cret" not in repr(engine) and "***" in repr(engine)
    finally:
        engine.shutdown()
