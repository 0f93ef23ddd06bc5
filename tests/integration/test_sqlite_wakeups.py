"""Wake-ups between processes on one SQLite file: what one store instance makes runnable
wakes the workers subscribed through another (each instance stands for a process here)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import legato
from legato.store.base import HOST, WorkerInfo
from legato.store.sqlite import SQLiteStore
from legato.store.sqlite import notify as sqlite_notify

pytestmark = pytest.mark.skipif(not sqlite_notify.SUPPORTED, reason="Linux only")


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.n += 1
        self.event.set()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    path = str(tmp_path / "w.db")
    a, b = SQLiteStore(path), SQLiteStore(path)
    yield a, b
    a.close()
    b.close()


def _markers(tmp_path: Path) -> list[str]:
    folder = tmp_path / "w.db-workers"
    return sorted(f for f in os.listdir(folder) if f.startswith("notify-")) \
        if folder.exists() else []


def test_a_notify_wakes_the_subscribers_of_other_instances_only(
        tmp_path: Path, stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = stores
    woken = Counter()
    unsubscribe = a.subscribe(woken)
    assert len(_markers(tmp_path)) == 1  # announced
    a.notify()  # its own: nobody else to wake
    assert not woken.event.wait(0.2)
    b.notify()
    assert woken.event.wait(5)
    unsubscribe()
    assert _markers(tmp_path) == []  # gone with the subscription
    woken.event.clear()
    b.notify()  # nobody subscribed any more
    assert not woken.event.wait(0.2)


def test_a_burst_of_notifies_is_a_few_wake_ups(
        stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, b = stores
    woken = Counter()
    unsubscribe = a.subscribe(woken)
    try:
        t0 = time.monotonic()
        for _ in range(200):
            b.notify()
        assert woken.event.wait(5)
        time.sleep(3 * sqlite_notify.CALLBACK_GAP)
        elapsed = time.monotonic() - t0
        # at once, then at most one per CALLBACK_GAP while they keep coming
        assert 1 <= woken.n <= 2 + elapsed / sqlite_notify.CALLBACK_GAP
        assert woken.n < 50
    finally:
        unsubscribe()


def test_the_marker_of_a_process_that_is_gone_is_removed(
        tmp_path: Path, stores: tuple[SQLiteStore, SQLiteStore]) -> None:
    a, _ = stores
    folder = tmp_path / "w.db-workers"
    folder.mkdir(exist_ok=True)
    (folder / "notify-12345-deadbeef").write_text("")  # nobody is bound to that name
    a.notify()
    assert _markers(tmp_path) == []


def test_a_client_engine_wakes_the_workers_when_it_starts_or_cancels(
        tmp_path: Path, stores: tuple[SQLiteStore, SQLiteStore],
        unique_name: Callable[[str], str]) -> None:
    """What an application's engine (not launched) does beside `legato worker` processes:
    its start and its cancel wake them (their idle poll would come up to 100 ms later)."""
    watcher, _ = stores
    name = unique_name("woken_wf")

    @legato.workflow(name=name)
    def woken_wf(ctx: legato.WorkflowContext) -> int:
        return 7

    woken = Counter()
    unsubscribe = watcher.subscribe(woken)
    client = legato.Engine(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        h = client.start(woken_wf)
        assert woken.event.wait(5)
        woken.event.clear()
        time.sleep(2 * sqlite_notify.CALLBACK_GAP)
        h.cancel()
        assert woken.event.wait(5)
    finally:
        client.shutdown()
        unsubscribe()


def test_runs_ended_by_another_process_are_announced_to_whoever_waits(
        tmp_path: Path, stores: tuple[SQLiteStore, SQLiteStore],
        unique_name: Callable[[str], str]) -> None:
    watcher, _ = stores
    name = unique_name("announced_wf")

    @legato.workflow(name=name)
    def announced_wf(ctx: legato.WorkflowContext, n: int) -> int:
        if n < 0:
            ctx.sleep(3600)
        return n

    seen: list[str] = []
    got = threading.Event()

    def ended(wid: str) -> None:
        seen.append(wid)
        got.set()

    unsubscribe = watcher.watch_ended(ended)
    worker = legato.Engine(f"sqlite:///{tmp_path / 'w.db'}").launch()
    try:
        h = worker.start(announced_wf, 1)  # completed by the worker's group commit
        assert h.result(timeout=10) == 1
        assert got.wait(5) and seen == [h.workflow_id]
        got.clear()
        sleeper = worker.start(announced_wf, -1)
        worker.handle(sleeper.workflow_id).terminate("enough")  # ended outside a commit
        assert got.wait(5) and seen[-1] == sleeper.workflow_id
    finally:
        worker.shutdown()
        unsubscribe()


def test_a_client_engine_waiting_for_a_result_is_told_when_it_ends(
        tmp_path: Path, unique_name: Callable[[str], str]) -> None:
    """A client engine's `result()` is woken by the worker's announcement (it would
    otherwise find the end by re-reading the row every 10-100 ms)."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    name = unique_name("awaited_wf")

    @legato.workflow(name=name)
    def awaited_wf(ctx: legato.WorkflowContext) -> str:
        ctx.sleep(0.3)  # still running when the client starts waiting
        return "done"

    worker = legato.Engine(url).launch()
    client = legato.Engine(url)
    try:
        assert client.start(awaited_wf).result(timeout=10) == "done"
        assert client._ended_watch is not None  # it listens for ends from then on
        folder = tmp_path / "w.db-workers"
        assert any(f.startswith("ended-") for f in os.listdir(folder))
    finally:
        client.shutdown()
        worker.shutdown()
    # the announcements are gone with the engines (the ended channel with its last watcher)
    assert not any(f.startswith(("ended-", "notify-")) for f in os.listdir(folder))


def test_an_engine_dropped_without_a_shutdown_is_not_kept_alive_by_its_watch(
        tmp_path: Path, unique_name: Callable[[str], str]) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    name = unique_name("dropped_wf")

    @legato.workflow(name=name)
    def dropped_wf(ctx: legato.WorkflowContext) -> int:
        ctx.sleep(0.3)  # still running when the client starts waiting
        return 1

    worker = legato.Engine(url).launch()
    try:
        client = legato.Engine(url)
        assert client.start(dropped_wf).result(timeout=10) == 1
        assert client._ended_watch is not None
        gone = weakref.ref(client)
        client.store.close()
        del client
        gc.collect()
        assert gone() is None
        assert worker.start(dropped_wf).result(timeout=10) == 1  # ends are still announced
    finally:
        worker.shutdown()


def test_the_markers_of_a_reaped_dead_worker_are_removed(tmp_path: Path) -> None:
    """A worker killed -9 cannot remove its markers; whoever reaps it does."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that is gone
    path = str(tmp_path / "w.db")
    store = SQLiteStore(path)
    try:
        folder = tmp_path / "w.db-workers"
        folder.mkdir(exist_ok=True)
        for name in (f"notify-{dead.pid}-aa", f"ended-{dead.pid}-bb", "notify-1-cc"):
            (folder / name).write_text("")
        info = WorkerInfo(f"{HOST}-{dead.pid}-dead", HOST, dead.pid, 0.0, 1.0)
        with store._tx() as c:  # registered by the dead process, as it would have been
            c.execute("INSERT INTO workers VALUES (?,?,?,?,?)",
                      (info.id, info.host, info.pid, info.started_at, info.lease_until))
        store.remove_worker(info.id, 2.0)
        assert sorted(os.listdir(folder)) == ["notify-1-cc"]  # pid 1 lives: it stays
    finally:
        store.close()
