"""SQLite group-commits workflow starts: a start waiting for the write lock is carried by the
transaction that holds it. A carrier that fails must not lose the starts it took."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from legato.domain.events import Event
from legato.store import NewWorkflow
from legato.store.sqlite import SQLiteStore, _Start

T0 = 1_800_000_000.0


def _started() -> Event:
    return Event(1, "WorkflowStarted", T0, name="wf", data={"input": []})


def test_a_start_taken_by_a_failing_transaction_is_committed_by_its_own_thread(
        tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "g.db"))
    gate = store._gate
    got: list[tuple[object, bool]] = []
    with gate.lock:  # another writer holds the lock...
        t = threading.Thread(target=lambda: got.append(
            store.create(NewWorkflow("good", "wf", "[]", T0), _started())))
        t.start()
        while not gate.starts:  # ...while the start queues for it
            time.sleep(0.001)
        # a start that cannot be inserted (name is NOT NULL) makes the carrier fail
        gate.starts.append(_Start(NewWorkflow("bad", None, "[]", T0),  # type: ignore[arg-type]
                                  _started()))
        with pytest.raises(sqlite3.IntegrityError), store._locked_tx(carry=True):
            pass
    t.join(timeout=10)
    assert not t.is_alive()
    (row, created), = got
    assert created and row.id == "good"  # type: ignore[attr-defined]
    assert store.get("good") is not None and store.get("bad") is None
    assert [e.type for e in store.journal("good")] == ["WorkflowStarted"]
    store.close()


def test_a_start_queued_during_a_worker_commit_is_carried_by_it(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "g.db"))
    store._gate.starts.append(start := _Start(NewWorkflow("carried", "wf", "[]", T0),
                                              _started()))
    store.commit([], T0, [(NewWorkflow("own", "wf", "[]", T0), _started())])
    assert start.result is not None and start.result[1] and not start.queued
    assert store.get("carried") is not None and store.get("own") is not None
    store.close()
