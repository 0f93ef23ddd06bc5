"""What a run waits on right now (``waiting_for`` in ``handle.describe()``): pure rules over
what the store holds of it — its row, its journal, the deliveries it was handed, its human
tasks and its children — and, for a run this process's worker runs, the step attempts in
flight there.

A run records what it starts before it waits (``TimerStarted``, ``WaitStarted``,
``ChildWorkflowStarted``, ``HumanTaskCreated``, ``StepScheduled``, a failed attempt's
``StepFailed`` with its ``retry_at``), so the open operations at the tail of each of its
lanes (the body, each ``ctx.branches`` branch) say what it waits for. What is *not* recorded
before it happens, by design (a write per step would halve the throughput):

- the first attempt of a step called on its own: its start is not journaled; the store shows
  the run ``RUNNING`` and nothing open, so ``waiting_for`` is None there — except where the
  reader is the engine whose own worker runs the run, which sees its attempts in flight
  (``live``). A retried attempt, and the steps of ``ctx.parallel``/``ctx.map`` (scheduled
  first), are visible from anywhere;
- a step held back by an open circuit breaker: not journaled either. A run suspended for it
  is ``WAITING`` until the breaker's next probe, which is how it is recognised: its wake-up
  time equals an open breaker's ``next_probe_at`` and nothing recorded explains it. A hold
  of a second or less (in memory, the run ``RUNNING``) is not seen.

Each kind is a dict with ``"kind"`` and ISO 8601 UTC ``"since"``/``"until"`` where they
apply (docs/runs.md lists them). Several at once (branches, a wait on several conditions):
the one that ends first (earliest ``until``; a step: its timeout; none known: last, in
journal order), the others under ``"also"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from legato.domain import events as ev
from legato.domain import status as st
from legato.domain.events import Event
from legato.domain.times import iso

#: a circuit breaker whose next probe is this close (seconds) to a suspended run's wake-up
#: is taken to hold the run back (both come from the same stored value)
CIRCUIT_MATCH = 1e-3
_LAST = 1 << 62  # orders after every journal position


@dataclass(slots=True)
class TaskInfo:
    """A human task as its table holds it now (its assignee and group may have changed)."""

    name: str
    assignee: str | None
    group: str | None
    due: float | None
    claimed_by: str | None = None


@dataclass(slots=True)
class LiveStep:
    """A step attempt in flight in this process's worker: name, attempt, since when (engine
    clock) and its timeout (seconds, None: none)."""

    name: str
    attempt: int
    since: float
    timeout: float | None


@dataclass(slots=True)
class RunFacts:
    """What the store holds of one active run, besides its row."""

    journal: list[Event] = field(default_factory=list)
    #: wait positions something was delivered to (the run is woken, or will be)
    delivered: set[int] = field(default_factory=set)
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    #: its children (started with ctx.child) and their statuses
    children: dict[str, str] = field(default_factory=dict)
    #: when a queue admitted it (None: not yet)
    started_at: float | None = None


@dataclass(slots=True)
class RunState:
    """The row's fields the rules read."""

    status: str
    owned: bool
    created_at: float
    wake_at: float | None = None
    queue: str | None = None


@dataclass(slots=True)
class _Op:
    """An open operation: its description, when it ends at the latest (None: unknown) and
    where it was recorded (the order among those that end at an unknown time)."""

    what: dict[str, Any]
    ends: float | None
    seq: int


def waiting_for(run: RunState, facts: RunFacts, now: float, *,
                circuits: Iterable[tuple[str, str, float | None]] = (),
                live: Sequence[LiveStep] | None = None,
                step_timeout: Callable[[str], float | None] | None = None,
                ) -> dict[str, Any] | None:
    """What ``run`` waits on at ``now`` (None: nothing — it ended, or runs code).

    ``circuits``: (name, state, next_probe_at) of every breaker; ``live``: the step attempts
    in flight for it in this process's worker (None: it does not run here);
    ``step_timeout``: a step's timeout by name, where the caller knows it.
    """
    status = run.status
    if status in st.TERMINAL:
        return None
    if status == st.PENDING and not run.owned:
        if run.queue is not None and facts.started_at is None:
            return {"kind": "queue", "queue": run.queue, "since": iso(run.created_at)}
        return {"kind": "start", "until": iso(run.wake_at)}
    running = status != st.WAITING
    ops = open_operations(facts, now, running=running, step_timeout=step_timeout)
    if live is not None:  # its worker says which attempts are in flight: believe it
        ops = [o for o in ops if o.what["kind"] != "step"]
        ops += [_step(s.name, s.attempt, s.since, s.timeout, -1) for s in live]
    if not running and run.wake_at is not None and not any(
            o.ends is not None and abs(o.ends - run.wake_at) <= CIRCUIT_MATCH for o in ops):
        held = _circuit_at(circuits, run.wake_at)
        if held is not None:
            ops.append(_Op({"kind": "circuit", "name": held, "until": iso(run.wake_at)},
                           run.wake_at, _LAST))
        elif not ops:  # given back by its worker (stopping): any worker carries on
            ops.append(_Op({"kind": "resume", "until": iso(run.wake_at)}, run.wake_at, 0))
    return first_of(ops)


def first_of(ops: Sequence[_Op]) -> dict[str, Any] | None:
    """The operation that ends first, the others under ``"also"``."""
    if not ops:
        return None
    ordered = sorted(ops, key=lambda o: (o.ends is None, o.ends or 0.0, o.seq))
    head = dict(ordered[0].what)
    if len(ordered) > 1:
        head["also"] = [o.what for o in ordered[1:]]
    return head


def _circuit_at(circuits: Iterable[tuple[str, str, float | None]],
                wake_at: float) -> str | None:
    for name, state, probe in circuits:
        if state != "CLOSED" and probe is not None and abs(probe - wake_at) <= CIRCUIT_MATCH:
            return name
    return None


def _step(name: str, attempt: int, since: float, timeout: float | None, seq: int) -> _Op:
    return _Op({"kind": "step", "name": name, "attempt": attempt, "since": iso(since),
                "timeout": timeout}, None if timeout is None else since + timeout, seq)


# --- the journal ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Open:
    """What a lane has open at its tail: an operation started at ``pos`` (its events)."""

    pos: int
    events: list[Event]


def _skipped(journal: Sequence[Event]) -> set[int]:
    """The events a retry() cut out of the replay (they are history, not open work)."""
    skip: set[int] = set()
    for e in journal:
        if e.type == ev.WORKFLOW_RETRIED:
            skip.add(e.seq)
            skip.update(int(s) for s in e.data.get("skip", ()))
    return skip


def _lanes(journal: Sequence[Event]) -> dict[str | None, list[Event]]:
    skip = _skipped(journal)
    lanes: dict[str | None, list[Event]] = {}
    for e in journal:
        if e.seq in skip:
            continue
        lane = e.data.get(ev.BRANCH) if e.data else None
        lanes.setdefault(None if lane is None else str(lane), []).append(e)
    return lanes


_CLOSERS = {ev.TIMER_FIRED, ev.WAIT_COMPLETED, ev.WAIT_TIMED_OUT, ev.CHILD_ENDED}


def _tail(events: Sequence[Event]) -> list[_Open]:
    """The operations open at the end of one lane. A lane runs one thing at a time, so
    anything it recorded after an operation means the operation is over (abandoned, if
    nothing closed it: a cancelled wait whose compensation ran, say) — but for the steps of
    one ``ctx.parallel`` group, which run together."""
    current: list[_Open] = []
    group: set[int] = set()  # positions of the current parallel group
    for e in events:
        pos = e.pos
        if e.type == ev.STEP_SCHEDULED:
            if not group or e.data.get("branch", 0) == 0:
                current, group = [], set()
            current.append(_Open(e.seq, [e]))
            group.add(e.seq)
            continue
        mine = next((o for o in current if pos is not None and o.pos == pos), None)
        if mine is not None:
            mine.events.append(e)
            if e.type in _CLOSERS or e.type == ev.STEP_COMPLETED or (
                    e.type == ev.STEP_FAILED and e.data.get("final")):
                current.remove(mine)
            continue
        current, group = [], set()
        if e.type in (ev.TIMER_STARTED, ev.WAIT_STARTED, ev.BRANCHES_STARTED,
                      ev.TASK_CREATED) or (e.type == ev.CHILD_STARTED
                                           and not e.data.get("detached")):
            current.append(_Open(e.seq, [e]))
        elif e.type == ev.STEP_FAILED and not e.data.get("final") and pos is not None:
            current.append(_Open(pos, [e]))  # a sequential step between attempts
        elif e.type == ev.TASK_ESCALATED:
            continue  # the task's wait comes next
    return current


def open_operations(facts: RunFacts, now: float, *, running: bool,
                    step_timeout: Callable[[str], float | None] | None = None) -> list[_Op]:
    """The operations open in the run's journal (every lane), as descriptions. ``running``:
    its worker runs it now (a timer past due has fired there, a retry past due runs)."""
    lanes = _lanes(facts.journal)
    tasks: dict[str, dict[str, Any]] = {}  # task id -> what its creation recorded
    for e in facts.journal:
        if e.type == ev.TASK_CREATED and "task_id" in e.data:
            tasks[str(e.data["task_id"])] = {"name": e.name, **e.data}
    out: list[_Op] = []

    def lane(path: str | None) -> None:
        for o in _tail(lanes.get(path, ())):
            first, last = o.events[0], o.events[-1]
            if first.type == ev.BRANCHES_STARTED:
                count = int(first.data.get("count", 0))
                for i in range(count):
                    lane(f"{first.seq}.{i}")
            else:
                out.extend(_describe(first, last, facts, tasks, now, running, step_timeout))

    lane(None)
    return out


def _describe(first: Event, last: Event, facts: RunFacts, tasks: Mapping[str, Any],
              now: float, running: bool,
              step_timeout: Callable[[str], float | None] | None) -> list[_Op]:
    kind, data = first.type, first.data
    name = first.name or ""
    timeout = step_timeout(name) if step_timeout is not None else None
    if kind == ev.TIMER_STARTED:
        fire_at = float(data.get("fire_at", first.at))
        if running and fire_at <= now:
            return []  # fired in memory; recorded with what the run does next
        return [_Op({"kind": "timer", "since": iso(first.at), "until": iso(fire_at)}, fire_at,
                    first.seq)]
    if kind in (ev.STEP_SCHEDULED, ev.STEP_FAILED):
        failed = last if last.type == ev.STEP_FAILED else None
        if failed is None:  # scheduled, no attempt ended yet: the first one runs
            return [_step(name, 1, first.at, timeout, first.seq)]
        attempt = (failed.attempt or 1) + 1
        retry_at = failed.data.get("retry_at")
        due = float(retry_at) if retry_at is not None else failed.at
        if due > now:
            return [_Op({"kind": "retry", "name": name, "attempt": attempt,
                         "since": iso(failed.at), "until": iso(due)}, due, first.seq)]
        if not running:
            return []  # due: it runs once a worker takes the run (or a breaker holds it)
        return [_step(name, attempt, due, timeout, first.seq)]
    if kind == ev.CHILD_STARTED:
        child = str(data.get("child_id"))
        if facts.children.get(child) in st.TERMINAL:
            return []  # it ended: the parent is woken for it
        return [_Op({"kind": "child", "workflow_id": child, "name": name,
                     "since": iso(first.at)}, None, first.seq)]
    if kind == ev.WAIT_STARTED:
        if first.seq in facts.delivered:
            return []  # delivered: the run is woken (or goes on) with it
        until = data.get("timeout_at")
        ends = None if until is None else float(until)
        ops = []
        for cond in data.get("conditions") or ():
            c_kind, c_name, c_key = [*cond, "", "", ""][:3]
            if c_kind == "event":
                what = {"kind": "event", "type": c_name, "key": c_key or None,
                        "since": iso(first.at), "until": iso(ends)}
            elif c_kind == "signal":
                what = {"kind": "signal", "name": c_name, "since": iso(first.at),
                        "until": iso(ends)}
            elif c_kind == "task":
                created = tasks.get(str(c_name), {})
                now_info = facts.tasks.get(str(c_name))
                task_due = now_info.due if now_info is not None else created.get("due")
                what = {"kind": "task", "task_id": c_name,
                        "name": now_info.name if now_info else created.get("name"),
                        "assignee": now_info.assignee if now_info else created.get("assignee"),
                        "group": now_info.group if now_info else created.get("group"),
                        "claimed_by": now_info.claimed_by if now_info else None,
                        "since": iso(first.at),
                        "due": iso(None if task_due is None else float(task_due))}
            else:
                continue
            ops.append(_Op(what, ends, first.seq))
        return ops
    return []  # a task created (its wait follows), a branches group (its lanes are read)


__all__ = ["LiveStep", "RunFacts", "RunState", "TaskInfo", "first_of", "iso",
           "open_operations", "waiting_for"]
