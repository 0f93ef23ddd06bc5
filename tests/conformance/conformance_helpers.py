"""Small builders shared by the conformance tests."""

from __future__ import annotations

import os

from legato.domain.events import Event
from legato.store import NewWorkflow, Store, WorkerInfo
from legato.store.base import HOST

T0 = 1_800_000_000.0


def started(name: str, now: float = T0) -> Event:
    return Event(1, "WorkflowStarted", now, name=name, data={"input": []})


def new(store: Store, wid: str, name: str = "wf", now: float = T0, *, owner: str | None = None,
        priority: int = 0, input: str = "[]") -> None:
    row, created = store.create(NewWorkflow(wid, name, input, now, owner=owner,
                                            priority=priority), started(name, now))
    assert created and row.id == wid


def step_event(seq: int, now: float = T0) -> Event:
    return Event(seq, "StepCompleted", now, name="s", pos=seq, attempt=1, data={"result": seq})


def worker(store: Store, wid: str, lease_until: float = T0 + 60) -> WorkerInfo:
    info = WorkerInfo(wid, HOST, os.getpid(), T0, lease_until)
    store.register_worker(info)
    return info


