"""Small builders shared by the conformance tests."""

from __future__ import annotations

import os

import psycopg

from legato.domain.events import Event
from legato.store import NewWorkflow, Store, WorkerInfo, Write
from legato.store.base import HOST, Condition

T0 = 1_800_000_000.0
PG_URL = os.environ.get("LEGATO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def lease_base(db_url: str) -> float:
    """Where a test of lease expiry starts its leases: T0, except on PostgreSQL, where the
    server's own now. The PostgreSQL store counts a lease that ran out only once the server
    has been up a whole lease, on its clock (``pg_postmaster_start_time()`` plus the lease,
    against the reaper's now): from a fixed T0, that would hold only while the server
    started before T0, which a later date breaks."""
    if not db_url.startswith("postgresql"):
        return T0
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT extract(epoch FROM now())::float8").fetchone()
    assert row is not None
    return float(row[0])


def started(name: str, now: float = T0) -> Event:
    return Event(1, "WorkflowStarted", now, name=name, data={"input": []})


def new(store: Store, wid: str, name: str = "wf", now: float = T0, *, owner: str | None = None,
        priority: int = 0, input: str = "[]") -> None:
    row, created = store.create(NewWorkflow(wid, name, input, now, owner=owner,
                                            priority=priority), started(name, now))
    assert created and row.id == wid


def step_event(seq: int, now: float = T0) -> Event:
    return Event(seq, "StepCompleted", now, name="s", pos=seq, attempt=1, data={"result": seq})


def worker(store: Store, wid: str, lease_until: float = T0 + 60,
           started_at: float = T0) -> WorkerInfo:
    info = WorkerInfo(wid, HOST, os.getpid(), started_at, lease_until)
    store.register_worker(info)
    return info




def suspend_on(store: Store, wid: str, pos: int, conditions: list[Condition], now: float = T0,
               owner: str = "w1") -> int:
    """Claim ``wid``, register a wait at ``pos`` (at ``now``) and suspend it (WAITING, no
    timer); returns the epoch it was claimed at."""
    [c] = [x for x in store.claim(owner, ["wf"], now, 100) if x.row.id == wid]
    assert store.take(wid, pos, conditions, now, register=True) is None
    res = store.commit([Write(wid, c.row.epoch, [], status="WAITING", wake_at=None,
                              release=True, await_pos=pos)], now)
    assert res.fenced == set()
    return c.row.epoch


def parent_waiting_for_child(store: Store) -> None:
    """``parent`` (claimed by w1) creates ``child`` and suspends until the child ends."""
    new(store, "parent")
    [p] = store.claim("w1", ["wf"], T0, 1)
    store.commit([], T0, [(NewWorkflow("child", "wf", "[]", T0, parent_id="parent"),
                           started("wf"))])
    store.commit([Write("parent", p.row.epoch, [], status="WAITING", release=True,
                        await_child="child")], T0)
