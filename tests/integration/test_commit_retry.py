"""The hub's group commit (worker/commit.py) against a real SQLite file held by another
process: a busy database is waited out, nothing is failed or lost."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from legato.domain.events import Event
from legato.store import NewWorkflow, WorkerInfo, Write
from legato.store.base import HOST
from legato.store.sqlite import SQLiteStore
from legato.testing import VirtualClock
from legato.worker.commit import commit_batch

T0 = 1_800_000_000.0


def _never(write: Write, exc: BaseException) -> Write:
    raise AssertionError(f"no run should be failed: {exc}")


def test_a_locked_database_is_retried_until_the_commit_goes_through(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SQLiteStore(str(path), busy_timeout=20)  # give up on the lock after 20 ms
    store.register_worker(WorkerInfo("w1", HOST, 1, T0, T0 + 60))
    store.create(NewWorkflow("a", "wf", "[]", T0, owner="w1"),
                 Event(1, "WorkflowStarted", T0, name="wf", data={"input": []}))
    # "another process" as SQLite sees it: a connection outside the store's in-process lock
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    threading.Timer(0.3, other.execute, ("COMMIT",)).start()
    t0 = time.monotonic()
    step = Event(2, "StepCompleted", T0, name="s", pos=2, attempt=1, data={"result": 1})
    done = commit_batch(store, VirtualClock(start=T0), [Write("a", 1, [step])], [], _never)
    assert time.monotonic() - t0 >= 0.25  # it waited for the lock to go
    assert done.failed == {} and done.result.fenced == set()
    assert [e.seq for e in store.journal("a")] == [1, 2]
    other.close()
    store.close()
