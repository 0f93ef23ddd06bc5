"""The replay side of a journal: a cursor for sequential commands, an index by position
for steps that ran in parallel, and the cuts a retry() made."""

from __future__ import annotations

from dataclasses import dataclass

from legato.domain import events as ev
from legato.domain.events import Event


@dataclass(slots=True)
class Resume:
    """Where a retried run resumes: the step at ``pos`` runs again, attempts after ``base``
    (in the ``ctx.branches`` branch ``branch``, or the body)."""

    pos: int
    name: str
    base: int
    branch: str | None = None


class Journal:
    """The events of the workflow body; those of each ``ctx.branches`` branch are kept apart
    (``branch(path)``), so that each is replayed in its own order whatever the interleaving."""

    def __init__(self, raw: list[Event], *, lane: bool = False) -> None:
        self.next_seq = raw[-1].seq + 1 if raw else 1
        skip: set[int] = set()
        self.resume: Resume | None = None
        self.lanes: dict[str, list[Event]] = {}
        self.resumes: dict[str, Resume] = {}
        if not lane:
            for e in raw:
                if e.type == ev.WORKFLOW_RETRIED:
                    skip.add(e.seq)
                    skip.update(int(s) for s in e.data.get("skip", ()))
                    r = e.data.get("resume")
                    self.resume = Resume(int(r["pos"]), str(r["name"]), int(r["base"]),
                                         r.get("lane")) if r else None
            live = [e for e in raw if e.seq not in skip] if skip else raw
            events: list[Event] = []
            for e in live:
                path = e.data.get(ev.BRANCH) if e.data else None
                if path is None:
                    events.append(e)
                else:
                    self.lanes.setdefault(str(path), []).append(e)
            raw = events
            if self.resume is not None and self.resume.branch is not None:
                self.resumes[self.resume.branch] = self.resume
                self.resume = None
        self.events = raw
        self.start = self.events[0] if self.events and \
            self.events[0].type == ev.WORKFLOW_STARTED else None
        self.cursor = 1 if self.start else 0
        self.by_pos: dict[int, list[Event]] = {}
        for e in self.events:
            if e.pos is not None and e.type in ev.STEP_EVENTS:
                self.by_pos.setdefault(e.pos, []).append(e)
        self.used: set[int] = set()
        self.done = not self.events  # every recorded event consumed: the run is live

    @property
    def consumed(self) -> int:
        """How many recorded events the run has replayed so far."""
        return len(self.used) + (1 if self.start else 0)

    def peek(self) -> Event | None:
        """The next recorded event not yet consumed, in journal order."""
        if self.done:
            return None
        events, used = self.events, self.used
        while self.cursor < len(events) and events[self.cursor].seq in used:
            self.cursor += 1
        if self.cursor < len(events):
            return events[self.cursor]
        self.done = True  # for good: new events go to the run's pending list, not here
        return None

    def advance(self) -> Event:
        e = self.peek()
        assert e is not None
        self.used.add(e.seq)
        self.cursor += 1
        return e

    def step_events(self, pos: int) -> list[Event]:
        """Every recorded event of the step at ``pos`` (marked consumed)."""
        found = self.by_pos.get(pos, [])
        self.used.update(e.seq for e in found)
        return found

    def branch(self, path: str) -> Journal:
        """The journal of the ``ctx.branches`` branch ``path`` (empty if it recorded nothing)."""
        j = Journal(self.lanes.get(path, []), lane=True)
        j.lanes, j.resumes = self.lanes, self.resumes  # branches nested in it
        j.resume = self.resumes.pop(path, None)
        return j

    def take_resume(self, name: str) -> Resume | None:
        r = self.resume
        if r is not None and r.name == name:
            self.resume = None
            return r
        return None


def plan_retry(raw: list[Event], status: str, detail: str | None) -> dict[str, object]:
    """What a retry of a FAILED run skips on replay, and which step it resumes.

    The failed step (all its attempts) and the WorkflowFailed event are skipped, so the step
    runs again with its position — and idempotency key — unchanged and a fresh retry
    budget. A run that failed in workflow code (not in a step) skips only WorkflowFailed,
    so a code fix takes effect. Raises ``RetryRefused`` when there is nothing to resume.
    """
    from legato.domain import status as st
    from legato.errors import RetryRefused

    if status != st.FAILED:
        raise RetryRefused(f"only FAILED workflows can be retried; this one is {status}")
    if detail == "compensated":
        raise RetryRefused("the workflow was fully compensated; there is nothing to resume "
                             "(start a new run instead)")
    j = Journal(raw)
    body = j.events
    if not body or body[-1].type != ev.WORKFLOW_FAILED:
        raise RetryRefused("the journal does not end with WorkflowFailed")
    failed = body[-1]

    def final_failure(e: Event | None) -> bool:
        return e is not None and e.type == ev.STEP_FAILED and bool(e.data.get("final")) \
            and e.pos is not None

    before = body[-2] if len(body) > 1 else None
    target = before if final_failure(before) else None
    events = body
    ended: list[int] = []
    if target is None:  # a failed ctx.branches branch: the latest step failure that ended one
        for lane in j.lanes.values():
            gave_up = [e.seq for e in lane if e.type == ev.BRANCH_FAILED]
            finals = [e for e in lane if final_failure(e)]
            if gave_up and finals and (target is None or finals[-1].seq > target.seq):
                target, events, ended = finals[-1], lane, gave_up
    if target is not None:
        step_seqs = [e.seq for e in events if e.pos == target.pos and e.type in ev.STEP_EVENTS]
        resume: dict[str, object] = {"pos": target.pos, "name": target.name,
                                     "base": target.attempt or 1}
        branch = target.data.get(ev.BRANCH)
        if branch is not None:
            resume["lane"] = branch  # the branch runs again from that step
        return {"skip": [*step_seqs, *ended, failed.seq], "resume": resume}
    return {"skip": [failed.seq], "resume": None}
