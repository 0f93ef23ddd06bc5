"""PostgreSQL races that one-statement publishing must close: a statement's snapshot is taken
before it waits for a row lock, so what the lock holder committed meanwhile must be read from
the row's latest version, never from the snapshot."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from conformance_helpers import T0, new

from legato.store.base import Condition, PublishResult
from legato.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("LEGATO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_url(schema: str) -> str:
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"


@pytest.fixture
def store(pg_schema: str) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_url(pg_schema))
    yield s
    s.close()


def test_a_publish_that_waited_for_the_suspend_commit_wakes_the_run(
        store: PostgresStore, pg_admin: psycopg.Connection[Any], pg_schema: str) -> None:
    """The run registered its wait and is committing its suspension (holding its row) when
    the event is published: the publisher waits for the row, then must see the run
    suspended and wake it (a snapshot from before the wait would show it still running)."""
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    paid = Condition("event", "paid", "k")
    assert store.take("a", 2, [paid], T0, register=True) is None
    wf = f'"{pg_schema}".workflows'
    pg_admin.execute("BEGIN")
    pg_admin.execute(f"SELECT 1 FROM {wf} WHERE id = 'a' FOR UPDATE")
    out: list[PublishResult] = []
    publisher = threading.Thread(
        target=lambda: out.append(store.publish("e1", "paid", "k", '"x"', T0 + 5, ttl=60)))
    publisher.start()
    time.sleep(0.3)  # the publisher now waits for the row
    assert not out
    # what the suspend commit writes (it saw no delivery yet: no wake-up of its own)
    pg_admin.execute(f"UPDATE {wf} SET status = 'WAITING', owner = NULL, wake_at = NULL"
                     " WHERE id = 'a' AND epoch = %s", (c.row.epoch,))
    pg_admin.execute("COMMIT")
    publisher.join(10)
    assert out and out[0].delivered_to == ["a"]
    row = store.get("a")
    assert row is not None and (row.status, row.owner, row.wake_at) == ("WAITING", None, T0 + 5)
    [again] = store.claim("w2", ["wf"], T0 + 5, 1)
    assert again.inbox[2][3] == '"x"'
