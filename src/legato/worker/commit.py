"""The hub's group commit, made to survive a write the store refuses.

A commit that fails for a transient reason (``Store.is_transient``: the database is
restarting, unreachable, briefly locked) is retried with backoff and loses nothing. A batch
the store *refuses* (a constraint, a bug, a corrupted row) may hold one write it will never
take; retrying that forever would stall every run of the worker. So after a few refusals
the batch is committed run by run: the runs whose writes go through carry on, and a run
whose own write is refused again is ended as FAILED (detail "internal error"), its error
saying what the store refused — a status-only record, since the journal write is what
failed. If even that record cannot be written, the run waits for the next try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from legato.clock import Clock
from legato.domain import status as st
from legato.domain.events import Event
from legato.runtime import faults
from legato.store.base import CommitResult, NewWorkflow, Store, Write

log = logging.getLogger("legato.worker")

#: failures of a whole batch before its runs are committed one by one
SPLIT_AFTER = 3
#: failures of one run's write on its own before that run is failed
RUN_TRIES = 2
RETRY_MAX = 2.0

#: builds the write that ends a run as FAILED because ``write`` could not be committed
FailureWrite = Callable[[Write, BaseException], Write]


@dataclass
class _Unit:
    """One run's write and the child workflows it creates (committed together)."""

    write: Write | None
    creates: list[tuple[NewWorkflow, Event]] = field(default_factory=list)
    failures: int = 0


@dataclass
class Committed:
    result: CommitResult
    #: runs ended as FAILED because the store refused their write: id -> what it said
    failed: dict[str, str] = field(default_factory=dict)


def commit_batch(store: Store, clock: Clock, writes: Sequence[Write],
                 creates: Sequence[tuple[NewWorkflow, Event, str | None]],
                 failure_write: FailureWrite) -> Committed:
    """Commit ``writes`` and ``creates`` (each with the id of the run creating it) until
    every run's write is recorded, or ended as failed; see the module docstring."""
    out = Committed(CommitResult())
    first: Exception | None = None
    if len({w.workflow_id for w in writes}) == len(writes):
        try:  # the usual case: everything goes through at once, as given
            _send(store, clock, writes, [(n, e) for n, e, _ in creates], out.result)
            return out
        except Exception as exc:
            first = exc
    units = _units(writes, creates)
    delay = 0.01
    failures = 0
    while units:
        if failures < SPLIT_AFTER:
            failed, first = first, None
            if failed is None:
                try:
                    _commit(store, clock, units, out.result)
                    return out
                except Exception as err:
                    failed = err
            if not store.is_transient(failed):  # a refusal: find whose write it is
                failures += 1
            log.warning("legato: commit failed, retrying in %.2fs: %s", delay, failed)
        else:
            units = _commit_apart(store, clock, units, failure_write, out)
            if not units:
                return out
            log.warning("legato: %d run(s) could not be committed yet, retrying in %.2fs",
                        len(units), delay)
        time.sleep(delay)
        delay = min(delay * 2, RETRY_MAX)
    return out


def release_run(store: Store, workflow_id: str, epoch: int, now: float) -> None:
    """Give back a run its worker will not run (stopping, full, not told of it), for any
    worker to claim now. Logged, not raised: if even this fails, the run waits for its owner
    to stop or die."""
    try:
        store.commit([Write(workflow_id, epoch, [], status=st.PENDING, wake_at=now,
                            release=True)], now)
    except Exception as exc:
        log.warning("legato: releasing %s failed: %s", workflow_id, exc)


def _units(writes: Sequence[Write],
           creates: Sequence[tuple[NewWorkflow, Event, str | None]]) -> list[_Unit]:
    units = {w.workflow_id: _Unit(w) for w in writes}
    loose: list[_Unit] = []
    for new, started, parent in creates:
        unit = units.get(parent) if parent is not None else None
        if unit is None:
            loose.append(_Unit(None, [(new, started)]))
        else:
            unit.creates.append((new, started))
    return [*units.values(), *loose]


def _commit(store: Store, clock: Clock, units: Sequence[_Unit], into: CommitResult) -> None:
    _send(store, clock, [u.write for u in units if u.write is not None],
          [c for u in units for c in u.creates], into)


def _send(store: Store, clock: Clock, writes: Sequence[Write],
          creates: Sequence[tuple[NewWorkflow, Event]], into: CommitResult) -> None:
    if faults.ARMED:
        faults.hit("before_commit")
    result = store.commit(writes, clock.now(), creates)
    if faults.ARMED:
        faults.hit("after_commit")
    into.fenced |= result.fenced
    into.cancel_requested |= result.cancel_requested
    into.created.update(result.created)


def _commit_apart(store: Store, clock: Clock, units: list[_Unit],
                  failure_write: FailureWrite, out: Committed) -> list[_Unit]:
    """Commit each run on its own; returns the runs still to be committed."""
    left: list[_Unit] = []
    for unit in units:
        try:
            _commit(store, clock, [unit], out.result)
            continue
        except Exception as exc:
            if not store.is_transient(exc):
                unit.failures += 1
            if unit.write is None or unit.failures < RUN_TRIES:
                left.append(unit)
                continue
            refused = exc
        failed = failure_write(unit.write, refused)
        try:
            _commit(store, clock, [_Unit(failed)], out.result)
        except Exception:  # the store takes nothing: not this run's fault, try again later
            left.append(unit)
            continue
        log.error("legato: run %s failed: the store refused its write: %s",
                  unit.write.workflow_id, refused)
        out.failed[unit.write.workflow_id] = str(refused)
    return left
