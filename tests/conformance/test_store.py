"""The Store contract, method by method, on every backend (SQLite and PostgreSQL).

Each test talks to the store directly, the way the engine and the workers do. A second
store opened on the same database stands for another process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
from conformance_helpers import T0, lease_base, new, started, step_event, worker

from legato.domain.events import Event
from legato.errors import RetryRefused
from legato.store import NewWorkflow, Store, Write
from legato.store.base import HOST

OpenStores = Callable[[], Store]

# --- client side ---------------------------------------------------------------------------


def test_create_is_idempotent(store: Store) -> None:
    row, created = store.create(NewWorkflow("a", "wf", "[1]", T0), started("wf"))
    assert created
    assert (row.status, row.owner, row.epoch, row.wake_at) == ("PENDING", None, 0, T0)
    again, created2 = store.create(NewWorkflow("a", "other", "[2]", T0 + 5), started("other"))
    assert not created2
    assert (again.name, again.input, again.created_at) == ("wf", "[1]", T0)
    assert [e.type for e in store.journal("a")] == ["WorkflowStarted"]


def test_create_owned_is_running_at_epoch_1(store: Store) -> None:
    worker(store, "w1")
    row, created = store.create(NewWorkflow("a", "wf", "[]", T0, owner="w1"), started("wf"))
    assert created and (row.status, row.owner, row.epoch) == ("RUNNING", "w1", 1)
    got = store.get("a")
    assert got is not None and (got.status, got.owner, got.epoch) == ("RUNNING", "w1", 1)
    assert store.claim("w2", ["wf"], T0 + 10, 10) == []  # owned: nobody else claims it


def test_get_list_and_journal(store: Store) -> None:
    assert store.get("nope") is None
    assert store.journal("nope") == []
    for i in range(5):
        new(store, f"w{i}", name="even" if i % 2 == 0 else "odd", now=T0 + (i // 2))
    assert [r.id for r in store.list_workflows(None, None, 10)] == ["w4", "w3", "w2", "w1",
                                                                    "w0"]
    assert [r.id for r in store.list_workflows(None, "even", 2)] == ["w4", "w2"]
    assert [r.id for r in store.list_workflows("PENDING", "odd", 10)] == ["w3", "w1"]
    assert store.list_workflows("COMPLETED", None, 10) == []
    e = store.journal("w0")[0]
    assert (e.seq, e.type, e.at, e.name, e.data) == (1, "WorkflowStarted", T0, "even",
                                                     {"input": []})


def test_request_cancel_flags_and_makes_unowned_runnable_now(store: Store) -> None:
    new(store, "a")
    store.commit([], T0)
    row = store.request_cancel("a", T0 + 7)
    assert row is not None and row.cancel_requested and row.wake_at == T0 + 7
    assert store.request_cancel("missing", T0) is None


def test_request_cancel_of_owned_keeps_wake_at_and_is_reported(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    row = store.request_cancel("a", T0 + 7)
    assert row is not None and row.cancel_requested and row.wake_at == T0
    assert store.owned_cancels("w1") == ["a"]
    assert store.owned_cancels("w2") == []
    res = store.commit([Write("a", c.row.epoch, [step_event(2)])], T0 + 8)
    assert res.cancel_requested == {"a"} and res.fenced == set()


def test_request_cancel_of_finished_changes_nothing(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    store.commit([Write("a", c.row.epoch, [], status="COMPLETED", result="1", release=True)],
                 T0 + 1)
    row = store.request_cancel("a", T0 + 2)
    assert row is not None and not row.cancel_requested and row.status == "COMPLETED"


# --- claiming ------------------------------------------------------------------------------


def test_claim_bumps_epoch_and_returns_journal(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 10)
    assert (c.row.id, c.row.owner, c.row.status, c.row.epoch) == ("a", "w1", "RUNNING", 1)
    assert [e.type for e in c.journal] == ["WorkflowStarted"]
    assert store.claim("w2", ["wf"], T0, 10) == []  # owned now
    store.commit([Write("a", 1, [], status="WAITING", wake_at=T0 + 5, release=True)], T0)
    [c2] = store.claim("w2", ["wf"], T0 + 5, 10)
    assert (c2.row.owner, c2.row.epoch) == ("w2", 2)


def test_claim_respects_wake_at_names_limit_and_priority(store: Store) -> None:
    new(store, "late", now=T0 + 100)
    new(store, "other", name="other")
    for i in range(4):
        new(store, f"p{i}", now=T0 + i, priority=i % 2)
    assert store.claim("w", [], T0 + 10, 10) == []
    assert store.claim("w", ["wf"], T0 + 10, 0) == []
    got = store.claim("w", ["wf"], T0 + 10, 3)
    # priority first (p1, p3), then the earliest due among the rest (p0); the order of the
    # returned list is not part of the contract
    assert {c.row.id for c in got} == {"p1", "p3", "p0"}
    assert [c.row.id for c in store.claim("w", ["wf"], T0 + 10, 10)] == ["p2"]
    assert store.claim("w", ["wf"], T0 + 10, 10) == []  # "late" is not due yet
    assert {c.row.id for c in store.claim("w", ["wf", "other"], T0 + 100, 10)} == {
        "other", "late"}


def test_concurrent_claimers_never_share_a_row(open_stores: OpenStores) -> None:
    stores = [open_stores(), open_stores()]
    n = 240
    for i in range(n):
        new(stores[0], f"c{i:03d}")
    got: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def claimer(name: str, s: Store) -> None:
        mine: list[str] = []
        try:
            barrier.wait()
            while True:
                batch = s.claim(name, ["wf"], T0, 7)
                if not batch:
                    break
                mine.extend(c.row.id for c in batch)
        except BaseException as exc:
            errors.append(exc)
        got[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{i}", stores[i % 2]))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    every = [wid for ids in got.values() for wid in ids]
    assert len(every) == len(set(every)) == n
    assert sum(1 for ids in got.values() if ids) >= 2  # they really ran side by side


# --- committing ----------------------------------------------------------------------------


def test_commit_appends_events_and_sets_state(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    res = store.commit([Write("a", 1, [step_event(2), step_event(3)])], T0 + 1)
    assert res.fenced == set() and res.cancel_requested == set()
    assert [e.seq for e in store.journal("a")] == [1, 2, 3]
    assert store.journal("a")[1].data == {"result": 2}
    row = store.get("a")
    assert row is not None and (row.status, row.owner) == ("RUNNING", "w1")
    store.commit([Write("a", 1, [Event(4, "WorkflowFailed", T0 + 2)], status="FAILED",
                        error={"type": "X", "message": "boom"}, detail="boom", release=True)],
                 T0 + 2)
    row = store.get("a")
    assert row is not None
    assert (row.status, row.owner, row.completed_at, row.wake_at) == ("FAILED", None, T0 + 2,
                                                                       None)
    assert row.error == {"type": "X", "message": "boom"} and row.detail == "boom"
    assert row.epoch == c.row.epoch  # committing never bumps the epoch


def test_commit_fences_a_stale_epoch_and_writes_nothing_for_it(store: Store) -> None:
    new(store, "a")
    new(store, "b")
    [ca, cb] = store.claim("w1", ["wf"], T0, 2)
    store.remove_worker("w1", T0)  # declared dead: both released, epochs bumped
    [again] = store.claim("w2", ["wf"], T0, 1)
    assert again.row.epoch == ca.row.epoch + 2 or again.row.epoch == cb.row.epoch + 2
    writes = [Write(c.row.id, c.row.epoch, [step_event(2)], status="COMPLETED", result="1",
                    release=True) for c in (ca, cb)]
    res = store.commit(writes, T0 + 1)
    assert res.fenced == {"a", "b"}
    for wid in ("a", "b"):
        assert [e.seq for e in store.journal(wid)] == [1]
        row = store.get(wid)
        assert row is not None and row.status in ("PENDING", "RUNNING")
    assert store.commit([Write("missing", 1, [step_event(2)])], T0).fenced == {"missing"}


def test_commit_mixes_fenced_and_current_writes(store: Store) -> None:
    new(store, "a")
    new(store, "b")
    [c1, c2] = store.claim("w1", ["wf"], T0, 2)
    res = store.commit([Write(c1.row.id, c1.row.epoch, [step_event(2)]),
                        Write(c2.row.id, c2.row.epoch - 1, [step_event(2)])], T0)
    assert res.fenced == {c2.row.id}
    assert len(store.journal(c1.row.id)) == 2 and len(store.journal(c2.row.id)) == 1


def test_release_with_wake_at_and_cancel_wakes_now(store: Store) -> None:
    new(store, "a")
    new(store, "b")
    [ca] = store.claim("w1", ["wf"], T0, 1)
    [cb] = store.claim("w1", ["wf"], T0, 1)
    store.request_cancel(cb.row.id, T0)
    store.commit([Write(ca.row.id, ca.row.epoch, [], status="WAITING", wake_at=T0 + 3600,
                        release=True),
                  Write(cb.row.id, cb.row.epoch, [], status="WAITING", wake_at=T0 + 3600,
                        release=True)], T0 + 1)
    ra, rb = store.get(ca.row.id), store.get(cb.row.id)
    assert ra is not None and (ra.status, ra.owner, ra.wake_at) == ("WAITING", None, T0 + 3600)
    assert rb is not None and (rb.owner, rb.wake_at) == (None, T0 + 1)  # cancel: due now
    assert store.next_wake(["wf"]) == T0 + 1


def test_commit_with_creates_inserts_in_the_same_transaction(store: Store) -> None:
    new(store, "old", input="[1]")
    worker(store, "w1")
    creates = [(NewWorkflow("n1", "wf", "[]", T0, owner="w1"), started("wf")),
               (NewWorkflow("n2", "wf", "[]", T0), started("wf")),
               (NewWorkflow("old", "wf", "[2]", T0 + 1), started("wf"))]
    res = store.commit([], T0, creates)
    assert set(res.created) == {"n1", "n2", "old"}
    assert res.created["n1"][1] and res.created["n1"][0].owner == "w1"
    assert res.created["n2"][1] and res.created["n2"][0].status == "PENDING"
    old, made = res.created["old"]
    assert not made and old.input == "[1]"
    assert [e.type for e in store.journal("n1")] == ["WorkflowStarted"]
    assert {c.row.id for c in store.claim("w2", ["wf"], T0, 10)} == {"old", "n2"}


def test_terminate_fences_the_owner(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    store.commit([Write("a", c.row.epoch, [step_event(2)])], T0)
    row = store.terminate("a", "operator", T0 + 1)
    assert row is not None
    assert (row.status, row.owner, row.wake_at) == ("CANCELLED", None, None)
    assert row.epoch == c.row.epoch + 1 and row.completed_at == T0 + 1
    assert row.detail == "terminated: operator"
    assert row.error == {"type": "Terminated", "message": "operator"}
    last = store.journal("a")[-1]
    assert (last.seq, last.type, last.data) == (3, "WorkflowTerminated", {"reason": "operator"})
    res = store.commit([Write("a", c.row.epoch, [step_event(3)], status="COMPLETED",
                              release=True)], T0 + 2)
    assert res.fenced == {"a"}
    assert len(store.journal("a")) == 3
    # a finished workflow is not terminated again
    again = store.terminate("a", "twice", T0 + 3)
    assert again is not None and again.detail == "terminated: operator"
    assert store.terminate("missing", "x", T0) is None


def test_redrive_reopens_a_failed_workflow_from_its_failed_step(store: Store) -> None:
    new(store, "a")
    [c] = store.claim("w1", ["wf"], T0, 1)
    failed = Event(2, "StepFailed", T0, name="s", pos=2, attempt=1,
                   data={"error": {"type": "X", "message": "boom"}, "final": True})
    store.commit([Write("a", c.row.epoch, [failed, Event(3, "WorkflowFailed", T0)],
                        status="FAILED", error={"type": "X", "message": "boom"},
                        release=True)], T0)
    row = store.retry("a", T0 + 5)
    assert row is not None
    assert (row.status, row.owner, row.epoch, row.wake_at, row.error, row.completed_at) == (
        "PENDING", None, c.row.epoch + 1, T0 + 5, None, None)
    last = store.journal("a")[-1]
    assert (last.seq, last.type) == (4, "WorkflowRedriven")
    assert last.data["skip"] == [2, 3]
    assert [x.row.id for x in store.claim("w2", ["wf"], T0 + 5, 1)] == ["a"]
    assert store.retry("missing", T0) is None


def test_redrive_of_a_workflow_that_did_not_fail_writes_nothing(store: Store) -> None:
    new(store, "a")
    with pytest.raises(RetryRefused, match="only FAILED"):
        store.retry("a", T0)
    assert len(store.journal("a")) == 1
    row = store.get("a")
    assert row is not None and (row.status, row.epoch) == ("PENDING", 0)


# --- workers -------------------------------------------------------------------------------


def test_register_renew_and_remove_worker(store: Store) -> None:
    worker(store, "w1", lease_until=T0 + 5)
    [info] = store.workers()
    assert (info.id, info.host, info.pid, info.lease_until) == ("w1", HOST, os.getpid(), T0 + 5)
    assert store.renew_worker("w1", T0 + 10)
    assert store.workers()[0].lease_until == T0 + 10
    assert not store.renew_worker("ghost", T0 + 10)
    new(store, "a")
    new(store, "b")
    store.claim("w1", ["wf"], T0, 2)
    assert store.remove_worker("w1", T0 + 20) == 2
    assert store.workers() == []
    assert not store.renew_worker("w1", T0 + 30)  # declared dead
    for wid in ("a", "b"):  # free again; they keep their place in the queue (old wake_at)
        row = store.get(wid)
        assert row is not None
        assert (row.status, row.owner, row.epoch, row.wake_at) == ("PENDING", None, 2, T0)
    worker(store, "w1")  # re-registering after being declared dead works
    assert [w.id for w in store.workers()] == ["w1"]


def test_reap_frees_a_dead_workers_rows_at_once(open_stores: OpenStores) -> None:
    me, other = open_stores(), open_stores()
    worker(me, "me")
    info = worker(other, "other", lease_until=T0 + 3600)
    new(me, "a")
    [c] = other.claim("other", ["wf"], T0, 1)
    assert me.is_alive(info) is True
    assert me.reap("me", T0) == 0
    other.close()  # the process dies: its liveness lock goes with it
    end = time.monotonic() + 5  # (PostgreSQL ends the session a moment after the socket)
    while me.is_alive(info) is not False and time.monotonic() < end:
        time.sleep(0.005)
    assert me.is_alive(info) is False
    reaped: list[str] = []
    assert me.reap("me", T0, T0 + 1, on_reaped=lambda w: reaped.append(w.id)) == 1
    assert reaped == ["other"] and [w.id for w in me.workers()] == ["me"]
    row = me.get("a")
    assert row is not None and (row.owner, row.epoch, row.wake_at) == (None, c.row.epoch + 1,
                                                                       T0)
    assert [x.row.id for x in me.claim("me", ["wf"], T0 + 1, 1)] == ["a"]


def test_reap_frees_an_expired_lease_only_after_expiry(open_stores: OpenStores,
                                                      db_url: str) -> None:
    t = lease_base(db_url)  # on PostgreSQL the server's now (see lease_base), else T0
    me, other = open_stores(), open_stores()
    worker(me, "me", lease_until=t + 1000, started_at=t)
    worker(other, "other", lease_until=t + 10, started_at=t)
    new(me, "a")
    other.claim("other", ["wf"], T0, 1)
    assert me.reap("me", t + 9) == 0  # alive and within its lease
    assert me.reap("me", t + 11) == 1  # a live process that stopped renewing is fenced too
    row = me.get("a")
    assert row is not None and row.owner is None
    assert not other.renew_worker("other", t + 20)


def test_reap_never_reaps_the_caller(store: Store) -> None:
    worker(store, "me", lease_until=T0)
    assert store.reap("me", T0 + 100) == 0
    assert [w.id for w in store.workers()] == ["me"]


# --- timers, names, cancels ----------------------------------------------------------------


def test_next_wake(store: Store) -> None:
    assert store.next_wake(["wf"]) is None
    assert store.next_wake([]) is None
    new(store, "a", now=T0 + 50)
    new(store, "b", now=T0 + 20)
    new(store, "c", name="other", now=T0 + 1)
    assert store.next_wake(["wf"]) == T0 + 20
    assert store.next_wake(["wf", "other"]) == T0 + 1
    [c] = store.claim("w", ["wf"], T0 + 20, 1)  # owned rows do not count
    assert store.next_wake(["wf"]) == T0 + 50
    store.commit([Write(c.row.id, c.row.epoch, [], status="COMPLETED", release=True)], T0)
    assert store.next_wake(["wf"]) == T0 + 50


def test_record_and_known_names(store: Store) -> None:
    assert store.known_names() == []
    store.record_names(["b", "a"], T0)
    store.record_names(["a", "c"], T0 + 1)
    store.record_names([], T0 + 2)
    assert sorted(store.known_names()) == ["a", "b", "c"]


def test_migrate_is_idempotent(store: Store) -> None:
    version = store.migrate()
    assert version >= 1 and store.migrate() == version


def test_change_token_moves_when_another_process_starts_work(open_stores: OpenStores) -> None:
    """How a worker learns of new work: notified (PostgreSQL) or by polling the token."""
    me, other = open_stores(), open_stores()
    pokes: list[int] = []
    me.subscribe(lambda: pokes.append(1))
    time.sleep(0.05)
    before = me.change_token()
    new(other, "a")
    end = time.monotonic() + 5
    while me.change_token() == before and time.monotonic() < end:
        time.sleep(0.005)
    assert me.change_token() != before


def test_reap_frees_rows_of_a_worker_no_longer_registered(store: Store) -> None:
    worker(store, "me")
    worker(store, "ghost", lease_until=T0 + 3600)
    new(store, "a")
    store.remove_worker("ghost", T0)  # declared dead, while a claim of its is in flight:
    [c] = store.claim("ghost", ["wf"], T0, 1)  # the claim lands after the reap
    assert "ghost" not in [w.id for w in store.workers()]
    assert store.reap("me", T0, T0 + 1) == 1  # nobody registered owns it: freed
    row = store.get("a")
    assert row is not None and row.owner is None and row.epoch > c.row.epoch
    assert [x.row.id for x in store.claim("me", ["wf"], T0 + 1, 1)] == ["a"]
    assert store.reap("me", T0 + 1) == 0  # a registered owner's rows stay its own


def test_concurrent_creates_are_each_committed_once(store: Store) -> None:
    # many threads starting at once (a web server's request threads) while a worker commits:
    # on SQLite they are group-committed by whichever transaction holds the write lock
    worker(store, "w1")
    new(store, "busy", owner="w1")
    errors: list[BaseException] = []
    results: dict[str, bool] = {}

    def starter(t: int) -> None:
        try:
            for i in range(25):
                wid = f"t{t}-{i}"
                row, created = store.create(NewWorkflow(wid, "wf", f"[{i}]", T0),
                                            started("wf"))
                assert row.id == wid and row.input == f"[{i}]"
                results[wid] = created
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def committer() -> None:
        try:
            for seq in range(2, 40):
                store.commit([Write("busy", 1, [step_event(seq)])], T0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=starter, args=(t,)) for t in range(8)]
    threads.append(threading.Thread(target=committer))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(results) == 200 and all(results.values())
    for wid in results:
        assert [e.type for e in store.journal(wid)] == ["WorkflowStarted"]
    assert [e.seq for e in store.journal("busy")] == list(range(1, 40))
