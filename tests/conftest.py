"""Shared fixtures. Every test gets its own database file; nothing is mocked."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import legato
from legato.runtime.registry import REGISTRY
from legato.testing import VirtualClock

_counter = itertools.count()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'legato.db'}"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_800_000_000.0)


@pytest.fixture
def make_engine(db_url: str) -> Iterator[Callable[..., legato.Engine]]:
    """Build engines on this test's database; all are shut down at the end."""
    engines: list[legato.Engine] = []

    def make(**kwargs: object) -> legato.Engine:
        url = kwargs.pop("url", db_url)
        e = legato.Engine(str(url), **kwargs)  # type: ignore[arg-type]
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.shutdown(grace=1.0)


@pytest.fixture
def engine(make_engine: Callable[..., legato.Engine]) -> legato.Engine:
    """A launched engine on a fresh SQLite file."""
    return make_engine().launch()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Workflow names unique per test, so tests can register freely."""
    names: list[str] = []

    def make(base: str) -> str:
        n = f"{base}_{next(_counter)}"
        names.append(n)
        return n

    yield make  # type: ignore[misc]
    for n in names:
        REGISTRY.remove(n)
