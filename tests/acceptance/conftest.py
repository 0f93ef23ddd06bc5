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


@pytest.fixture
def inspector(procs: Procs) -> Iterator[Inspector]:
    i = Inspector(procs)
    try:
        yield i
    finally:
        i.close()
