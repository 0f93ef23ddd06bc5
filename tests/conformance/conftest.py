"""Fixtures of the store conformance suite: every store test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from legato.store import Store, open_store


@pytest.fixture
def open_stores(db_url: str) -> Iterator[Callable[[], Store]]:
    """Open stores on this test's database (each one stands for a process); closed after."""
    stores: list[Store] = []

    def make() -> Store:
        s = open_store(db_url)
        stores.append(s)
        return s

    yield make
    for s in stores:
        s.close()


@pytest.fixture
def store(open_stores: Callable[[], Store]) -> Store:
    return open_stores()


@pytest.fixture
def backend(db_url: str) -> str:
    return db_url.split(":", 1)[0]
