"""Where runs lose their time, and how they fail: pure computations over journals.

Nothing here reads a store: :func:`run_facts` turns one run's journal into the facts of one
run (its step attempts, its failures and how they were recovered, the critical path of its
duration), :func:`report` aggregates the facts of many runs into the JSON-ready report that
``legato analyze`` prints. How each figure is measured is written in docs/analysis.md; the
rules below are that document in code.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from legato.domain import events as ev
from legato.domain.events import Event

#: the seed's targets: reliability above, automated recovery above, recovery time (p99) below
RELIABILITY_TARGET: Final = 0.999
AUTOMATED_RECOVERY_TARGET: Final = 0.89
RECOVERY_TIME_TARGET: Final = 30.0

#: the kinds of time on a critical path: ``working`` (steps and the workflow's own code)
#: and what a run waited for
WORKING: Final = "working"
WAIT_KINDS: Final = ("retry", "timer", "event", "human", "child", "manual")
KINDS: Final = (WORKING, *WAIT_KINDS)

_ENDED: Final = ("COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``; None when empty.

    >>> percentile([1, 2, 3, 4], 50)
    2
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def _pcts(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99)}


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


@dataclass(frozen=True, slots=True)
class Attempt:
    """One step attempt: its duration (seconds), whether it failed, its error's type and
    message when it did."""

    step: str
    pos: int
    attempt: int
    seconds: float
    failed: bool
    final: bool = False
    error: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a critical path: ``kind`` (one of :data:`KINDS`), the step, timer or
    wait it was spent on (None: the workflow's own code), and how long."""

    kind: str
    name: str | None
    seconds: float


@dataclass(slots=True)
class RunFacts:
    """What one run's journal says, for :func:`report`."""

    workflow_id: str
    name: str
    status: str
    duration: float | None = None  # ended runs only
    compensated: str | None = None  # "compensated" / "compensation failed"
    attempts: list[Attempt] = field(default_factory=list)
    path: list[Segment] = field(default_factory=list)
    failures: int = 0  # failed attempts that are not a saga's trigger
    recovered: list[float] = field(default_factory=list)  # automated: seconds to recover
    manual: int = 0  # failed attempts recovered only after a person acted
    sagas: int = 0
    sagas_recovered: list[float] = field(default_factory=list)
    step_errors: list[tuple[str, str]] = field(default_factory=list)
    run_error: tuple[str, str] | None = None


def _error(data: dict[str, Any]) -> tuple[str, str] | None:
    err = data.get("error")
    if not isinstance(err, dict):
        return None
    return str(err.get("type", "?")), str(err.get("message", ""))


def _wait_kind(started: Event) -> str:
    """``human`` for a human task's wait, ``event`` for events and signals."""
    conds = started.data.get("conditions") or ()
    kinds = {str(c[0]) for c in conds if isinstance(c, list | tuple) and c}
    return "human" if "task" in kinds else "event"


class _Lane:
    """Walks one lane of a journal (the body, or one branch of ``ctx.branches``), collecting
    its attempts and the segments of its critical path."""

    def __init__(self, by_lane: dict[str, list[Event]], attempts: list[Attempt]) -> None:
        self.by_lane = by_lane
        self.attempts = attempts

    def walk(self, lane: str, start: float) -> tuple[list[Segment], float]:
        """The critical path of ``lane`` from ``start``, and the time it ended."""
        path: list[Segment] = []
        prev = start
        scheduled: dict[int, float] = {}  # ctx.parallel steps not ended: pos -> scheduled at
        group_start: float | None = None
        retry_at: dict[int, float] = {}  # pos -> when its next attempt was due
        waits: dict[int, str] = {}  # open wait's pos -> kind

        def add(kind: str, name: str | None, until: float) -> None:
            nonlocal prev
            if until > prev:
                path.append(Segment(kind, name, until - prev))
                prev = until

        for e in self.by_lane.get(lane, ()):
            if e.type == ev.WORKFLOW_STARTED:
                prev = e.at
            elif e.type == ev.STEP_SCHEDULED and e.pos is not None:
                if not scheduled:
                    add(WORKING, None, e.at)
                    group_start = e.at
                scheduled[e.pos] = e.at
            elif e.type in ev.STEP_EVENTS and e.pos is not None:
                parallel = e.pos in scheduled
                begun = retry_at.pop(e.pos, None)
                if begun is None:
                    begun = scheduled[e.pos] if parallel else prev
                elif not parallel:
                    add("retry", e.name, begun)
                failed = e.type == ev.STEP_FAILED
                final = failed and bool(e.data.get("final", True))
                self.attempts.append(Attempt(
                    str(e.name), e.pos, e.attempt or 1, max(e.at - begun, 0.0), failed, final,
                    _error(e.data) if failed else None))
                if failed and not final and "retry_at" in e.data:
                    retry_at[e.pos] = float(e.data["retry_at"])
                if parallel:
                    if not failed or final:
                        del scheduled[e.pos]
                    if not scheduled and group_start is not None:
                        # the group took as long as its last step: that step is the path
                        add(WORKING, e.name, e.at)
                        group_start = None
                else:
                    add(WORKING, e.name, e.at)
            elif e.type == ev.TIMER_FIRED:
                add("timer", e.name, e.at)
            elif e.type == ev.WAIT_STARTED:
                add(WORKING, None, e.at)
                waits[e.seq] = _wait_kind(e)
            elif e.type in (ev.WAIT_COMPLETED, ev.WAIT_TIMED_OUT):
                kind = waits.pop(e.pos if e.pos is not None else -1, "event")
                add(kind, e.name, e.at)
            elif e.type == ev.CHILD_ENDED:
                add("child", e.name, e.at)
            elif e.type == ev.WORKFLOW_RETRIED:
                add("manual", None, e.at)
            elif e.type == ev.BRANCHES_STARTED:
                add(WORKING, None, e.at)
                best: tuple[list[Segment], float] = ([], e.at)
                count = int(e.data.get("count") or 0)
                for i in range(count):
                    found = self.walk(f"{e.seq}.{i}", e.at)
                    if found[1] > best[1]:
                        best = found
                path.extend(best[0])
                prev = max(prev, best[1])
            elif e.type != ev.TASK_ESCALATED:  # an escalation is part of the task's wait
                add(WORKING, None, e.at)
        return path, prev


def _merge(path: Iterable[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for s in path:
        if out and out[-1].kind == s.kind and out[-1].name == s.name:
            out[-1] = Segment(s.kind, s.name, out[-1].seconds + s.seconds)
        else:
            out.append(s)
    return out


def _person_acted(events: Sequence[Event], after: int, before: int,
                  waits: dict[int, str]) -> bool:
    """Whether a person acted between two journal positions: a retry (``WorkflowRedriven``),
    a signal taken or a human task decided."""
    for e in events:
        if after < e.seq < before:
            if e.type == ev.WORKFLOW_RETRIED:
                return True
            if e.type == ev.WAIT_COMPLETED and e.pos is not None \
                    and waits.get(e.pos) == "person":
                return True
    return False


def run_facts(workflow_id: str, name: str, status: str, events: Sequence[Event]) -> RunFacts:
    """The facts of one run from its journal (``status``: its row's status)."""
    facts = RunFacts(workflow_id, name, status)
    by_lane: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_lane[str(e.data.get(ev.BRANCH, ""))].append(e)
    start = events[0].at if events else 0.0
    lane = _Lane(by_lane, facts.attempts)
    path, _ = lane.walk("", start)
    facts.path = _merge(path)
    end = next((e for e in reversed(events) if e.type in ev.TERMINAL_EVENTS), None)
    if end is not None and events:
        facts.duration = max(end.at - start, 0.0)
        facts.run_error = _error(end.data)
        detail = end.data.get("detail")
        if detail in ("compensated", "compensation failed"):
            facts.compensated = str(detail)

    # the waits a person ends: a human task's, a signal's (events are published by systems)
    waits: dict[int, str] = {}
    for e in events:
        if e.type == ev.WAIT_STARTED:
            conds = e.data.get("conditions") or ()
            if any(isinstance(c, list | tuple) and c and c[0] in ("task", "signal")
                   for c in conds):
                waits[e.seq] = "person"
    trigger: int | None = None
    if facts.compensated is not None:
        # what set the saga off: the step failure the run re-raised after compensating (a
        # failed compensation is a failure of its own)
        finals = [e for e in events if e.type == ev.STEP_FAILED
                  and bool(e.data.get("final", True))]
        same = [e.seq for e in finals if _error(e.data) == facts.run_error]
        trigger = same[-1] if same else (finals[0].seq if finals else None)
        facts.sagas = 1
        after = trigger or 0
        if any(e.type == ev.WORKFLOW_RETRIED and e.seq > after for e in events):
            facts.manual += 1  # a person retried it to finish compensating
        elif facts.compensated == "compensated" and end is not None:
            at = next((e.at for e in events if e.seq == trigger), start)
            facts.sagas_recovered.append(max(end.at - at, 0.0))
    for e in events:
        if e.type != ev.STEP_FAILED:
            continue
        err = _error(e.data)
        if err is not None:
            facts.step_errors.append(err)
        if e.seq == trigger:
            continue
        facts.failures += 1
        done = next((d for d in events if d.seq > e.seq and d.type == ev.STEP_COMPLETED
                     and d.pos == e.pos), None)
        if done is None:
            continue
        if _person_acted(events, e.seq, done.seq, waits):
            facts.manual += 1
        else:
            facts.recovered.append(max(done.at - e.at, 0.0))
    return facts


def _step_table(attempts: Iterable[Attempt]) -> dict[str, dict[str, Any]]:
    by_step: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_step[a.step].append(a)
    out: dict[str, dict[str, Any]] = {}
    for step in sorted(by_step):
        rows = by_step[step]
        calls = sum(1 for a in rows if a.attempt == 1)
        failed = sum(1 for a in rows if a.failed)
        retried = sum(1 for a in rows if a.attempt > 1)
        secs = [a.seconds for a in rows]
        out[step] = {"attempts": len(rows), "calls": calls, "failures": failed,
                     "failed_for_good": sum(1 for a in rows if a.final),
                     "retries": retried, "retry_rate": _rate(retried, len(rows)),
                     "failure_rate": _rate(failed, len(rows)),
                     "latency": _pcts(secs), "total_seconds": sum(secs)}
    return out


def _named(steps: dict[str, dict[str, Any]], key: str) -> dict[str, Any] | None:
    best = max(sorted(steps), key=lambda s: steps[s][key], default=None)
    if best is None or not steps[best][key]:
        return None
    return {"step": best, key: steps[best][key]}


def _figures(runs: Sequence[RunFacts]) -> dict[str, Any]:
    by = Counter(r.status for r in runs)
    counted = by["COMPLETED"] + by["FAILED"] + by["TIMED_OUT"]
    reliability = _rate(by["COMPLETED"], counted)
    failures = sum(r.failures for r in runs)
    sagas = sum(r.sagas for r in runs)
    auto = [t for r in runs for t in r.recovered]
    sagas_ok = [t for r in runs for t in r.sagas_recovered]
    recovered = len(auto) + len(sagas_ok)
    automated = _rate(recovered, failures + sagas)
    times = auto + sagas_ok
    p50, p99 = percentile(times, 50), percentile(times, 99)
    return {
        "reliability": {"value": reliability, "target": f"> {RELIABILITY_TARGET:.1%}",
                        "met": None if reliability is None
                        else reliability > RELIABILITY_TARGET,
                        "completed": by["COMPLETED"], "counted": counted},
        "automated_recovery": {
            "value": automated, "target": f"> {AUTOMATED_RECOVERY_TARGET:.0%}",
            "met": None if automated is None else automated > AUTOMATED_RECOVERY_TARGET,
            "recovered": recovered, "failures": failures + sagas,
            "failed_attempts": failures, "recovered_attempts": len(auto),
            "manual": sum(r.manual for r in runs), "sagas": sagas,
            "sagas_compensated": len(sagas_ok), "crashes": None},
        "recovery_time": {"p50": p50, "p99": p99, "target": f"p99 < {RECOVERY_TIME_TARGET:g} s",
                          "met": None if p99 is None else p99 < RECOVERY_TIME_TARGET,
                          "recoveries": len(times)},
    }


def _segments(path: Sequence[Segment]) -> list[dict[str, Any]]:
    return [{"kind": s.kind, "name": s.name, "seconds": s.seconds} for s in path]


def workflow_report(name: str, runs: Sequence[RunFacts], slowest: int = 3) -> dict[str, Any]:
    """The report of one workflow type."""
    by = Counter(r.status for r in runs)
    ended = sum(by[s] for s in _ENDED)
    compensated = sum(1 for r in runs if r.compensated == "compensated")
    durations = [r.duration for r in runs if r.duration is not None]
    steps = _step_table(a for r in runs for a in r.attempts)
    time = dict.fromkeys(KINDS, 0.0)
    for r in runs:
        if r.duration is not None:
            for s in r.path:
                time[s.kind] += s.seconds
    ranked = sorted((r for r in runs if r.duration is not None),
                    key=lambda r: (-(r.duration or 0.0), r.workflow_id))[:slowest]
    errors = Counter(e for r in runs for e in r.step_errors)
    run_errors = Counter(r.run_error for r in runs if r.run_error is not None)
    return {
        "name": name,
        "runs": len(runs),
        "outcomes": {s: by[s] for s in sorted(by)},
        "ended": ended,
        "success_rate": _rate(by["COMPLETED"], ended),
        "failure_rate": _rate(by["FAILED"] + by["TIMED_OUT"], ended),
        "compensation_rate": _rate(compensated, ended),
        "compensated": compensated,
        "duration": _pcts(durations),
        "time": time,
        "steps": steps,
        "bottleneck": _named(steps, "total_seconds"),
        "failure_point": _named(steps, "failures"),
        "critical_paths": [{"workflow_id": r.workflow_id, "duration": r.duration,
                            "path": _segments(r.path)} for r in ranked],
        "top_errors": [{"type": t, "message": m, "count": n}
                       for (t, m), n in sorted(errors.items(), key=lambda i: (-i[1], i[0]))
                       ][:10],
        "top_run_errors": [{"type": t, "message": m, "count": n} for (t, m), n in
                           sorted(run_errors.items(), key=lambda i: (-i[1], i[0]))][:10],
        "figures": _figures(runs),
    }


def report(runs: Sequence[RunFacts], *, limit: int, truncated: bool) -> dict[str, Any]:
    """The whole report: one entry per workflow type (by name), and the figures, bottleneck
    and failure point over all of them."""
    by_name: dict[str, list[RunFacts]] = defaultdict(list)
    for r in runs:
        by_name[r.name].append(r)
    workflows = [workflow_report(n, by_name[n]) for n in sorted(by_name)]
    steps = _step_table(a for r in runs for a in r.attempts)
    return {
        "runs": len(runs),
        "limit": limit,
        "truncated": truncated,
        "workflows": workflows,
        "bottleneck": _named(steps, "total_seconds"),
        "failure_point": _named(steps, "failures"),
        "figures": _figures(runs),
    }
