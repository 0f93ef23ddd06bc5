"""Commands that only read never create or migrate a database: on a missing or unmigrated one
they end with one ``error:`` line naming ``legato db migrate`` (exit 2) and leave it as it
was. ``legato db migrate --dry-run`` says what a migration would do and does none of it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from cli_support import cli

READS = [
    ("list",),
    ("show", "wf-1"),
    ("query", "wf-1", "stage"),
    ("circuits",),
    ("circuits", "--history"),
    ("queues",),
    ("schedules",),
    ("schedules", "list"),
    ("tasks", "list"),
    ("tasks", "history", "t-1"),
    ("events", "list"),
    ("users", "list"),
    ("tokens", "list"),
    ("oplog",),
    ("analyze",),
    ("circuits", "list"),
    ("purge", "--older-than", "30d", "--dry-run"),
]
IDS = [" ".join(c) for c in READS]


def refused(rc: int, out: str, err: str) -> str:
    """The command ended with one error line that names `legato db migrate`, exit 2."""
    assert rc == 2, (rc, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "legato db migrate" in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def listing(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir()}


@pytest.mark.parametrize("command", READS, ids=IDS)
def test_a_read_on_a_missing_sqlite_file_creates_nothing(
        tmp_path: Path, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    refused(*cli(capsys, *command, "--db", url))
    assert listing(tmp_path) == {}  # no file, no -wal/-shm, no marker folder


@pytest.mark.parametrize("command", READS, ids=IDS)
def test_a_read_on_an_empty_sqlite_file_leaves_it_empty(
        tmp_path: Path, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    refused(*cli(capsys, *command, "--db", f"sqlite:///{path}"))
    assert listing(tmp_path) == {"empty.db": 0}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_through_the_entry_point_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    env = {k: v for k, v in os.environ.items() if k != "LEGATO_DATABASE_URL"}
    r = subprocess.run([sys.executable, "-m", "legato.cli.main", "list", "--db", url],
                       env=env, capture_output=True, text=True, timeout=60)
    line = refused(r.returncode, r.stdout, r.stderr)
    assert url in line or "nope.db" in line
    assert listing(tmp_path) == {}


def test_a_read_works_once_migrated(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    url = f"sqlite:///{tmp_path / 'db.db'}"
    assert cli(capsys, "db", "migrate", "--db", url)[0] == 0
    assert cli(capsys, "list", "--db", url) == (0, "", "no workflows\n")


def test_dry_run_on_a_missing_sqlite_file(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    rc, out, err = cli(capsys, "db", "migrate", "--dry-run", "--db", url)
    assert (rc, err) == (0, "")
    pending = out.split()
    assert pending and pending == sorted(pending) and pending[0].startswith("001_")
    rc, out, err = cli(capsys, "db", "migrate", "--dry-run", "--json", "--db", url)
    assert rc == 0, err
    info = json.loads(out)
    assert info["exists"] is False and info["version"] == 0 and info["pending"] == pending
    assert info["latest"] >= len(pending) and info["url"] == url
    assert listing(tmp_path) == {}

    # the real thing runs exactly those, and then nothing is pending
    rc, out, _ = cli(capsys, "db", "migrate", "--json", "--db", url)
    assert rc == 0 and json.loads(out)["version"] == info["latest"]
    rc, out, err = cli(capsys, "db", "migrate", "--dry-run", "--db", url)
    assert (rc, out) == (0, "")
    assert err == f"no pending migrations (schema version {info['latest']})\n"


# --- PostgreSQL ---------------------------------------------------------------------------


def _schema_exists(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    row = conn.execute("SELECT count(*) FROM information_schema.schemata "
                       "WHERE schema_name = %s", (name,)).fetchone()
    return row is not None and row[0] == 1


@pytest.mark.postgres
@pytest.mark.parametrize("command", READS, ids=IDS)
def test_a_read_on_a_fresh_postgresql_schema_creates_nothing(
        pg_schema: str, pg_db_url: str, pg_admin: psycopg.Connection[tuple[object, ...]],
        command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(*cli(capsys, *command, "--db", pg_db_url))
    assert "secret" not in line
    assert not _schema_exists(pg_admin, pg_schema)


@pytest.mark.postgres
def test_dry_run_on_a_fresh_postgresql_schema(
        pg_schema: str, pg_db_url: str, pg_admin: psycopg.Connection[tuple[object, ...]],
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "db", "migrate", "--dry-run", "--json", "--db", pg_db_url)
    assert rc == 0, err
    info = json.loads(out)
    assert info["exists"] is False and info["version"] == 0 and info["pending"]
    assert not _schema_exists(pg_admin, pg_schema)
    assert cli(capsys, "db", "migrate", "--db", pg_db_url)[0] == 0
    assert _schema_exists(pg_admin, pg_schema)
    assert cli(capsys, "list", "--db", pg_db_url) == (0, "", "no workflows\n")
