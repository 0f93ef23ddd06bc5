"""Fixtures of the acceptance tests (real worker processes on a per-test SQLite file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from acceptance_support import Inspector, Procs


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Spawns worker processes; kills (by PID) any still running when the test ends."""
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_procs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Procs]:
    """Like ``procs``, on SQLite and on a fresh PostgreSQL schema (engine API only: the
    Inspector's SQL on the legato database is SQLite's; its side-effect table works)."""
    url = None
    if request.param == "postgresql":  # a fresh schema per test (the root conftest)
        url = str(request.getfixturevalue("pg_db_url"))
    p = Procs(tmp_path, url)
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture
def any_inspector(any_procs: Procs) -> Iterator[Inspector]:
    i = Inspector(any_procs)
    try:
        yield i
    finally:
        i.close()


@pytest.fixture
def inspector(procs: Procs) -> Iterator[Inspector]:
    i = Inspector(procs)
    try:
        yield i
    finally:
        i.close()
