"""Parallel steps: ``ctx.parallel([...])`` and ``ctx.map(step, items)``.

Each branch is one step call. The branches' positions are recorded first (one
``StepScheduled`` event per branch, in order), so results land in the journal in whatever
order they finish and still replay deterministically: a branch finds its events by its
scheduled position. Branches run as separate fibers of the run, up to ``limit`` at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from legato.domain import events as ev
from legato.domain import status as st
from legato.errors import LegatoError
from legato.runtime.attempt import StepOutcome
from legato.runtime.control import PASS_THROUGH, Cancelled, LeaseLost, Suspend
from legato.runtime.protocol import StartBranches
from legato.runtime.registry import StepDef
from legato.runtime.run import Fiber

if TYPE_CHECKING:
    from legato.runtime.run import Run

Call = tuple[StepDef, tuple[Any, ...], dict[str, Any]]


class SiblingFailed(LegatoError):
    """A parallel branch that was not run (or stopped) because a sibling failed first."""


class BranchGroup:
    def __init__(self, run: Run, calls: list[Call], positions: list[int], limit: int,
                 fail_fast: bool) -> None:
        self.run = run
        self.calls = calls
        self.positions = positions
        self.limit = max(1, limit)
        self.fail_fast = fail_fast
        self.outcomes: list[StepOutcome | None] = [None] * len(calls)
        self.cancelled = False
        self.suspend_at: float | None = None
        self.lost = False
        self.next = 0
        self.running = 0
        self.parent: Fiber | None = None
        self.journal = run.journal  # the calling fiber's (start_more runs in the hub)
        self.ends: list[float] = []  # the time of each branch's last event
        if fail_fast:  # replay: a recorded final failure means the siblings were stopped
            for pos in positions:
                found = self.journal.by_pos.get(pos)
                if found and found[-1].type == ev.STEP_FAILED and found[-1].data.get("final"):
                    self.cancelled = True

    def start_more(self) -> list[Fiber]:
        """Fibers for the next branches, up to the concurrency limit."""
        fibers = []
        while self.running < self.limit and self.next < len(self.calls):
            i = self.next
            self.next += 1
            if self.cancelled and not self.journal.by_pos.get(self.positions[i]):
                self.outcomes[i] = StepOutcome(False, error=SiblingFailed(
                    f"parallel branch {i} was not run because a sibling failed"))
                continue
            fibers.append(self.run.new_fiber(lambda *_, i=i: self._branch(i), group=self))
            self.running += 1
        return fibers

    def _branch(self, i: int) -> None:
        sdef, args, kwargs = self.calls[i]
        try:
            value = self.run.step(sdef, args, kwargs, pos=self.positions[i])
            self.outcomes[i] = StepOutcome(True, value)
        except Suspend as s:
            when = s.wake_at if s.wake_at is not None else self.run.clock.now()
            self.suspend_at = when if self.suspend_at is None else min(self.suspend_at, when)
        except LeaseLost:
            self.lost = True
        except Cancelled as c:
            self.outcomes[i] = StepOutcome(False, error=c)
        except PASS_THROUGH:
            raise
        except BaseException as exc:  # SystemExit and the like from user code too
            self.outcomes[i] = StepOutcome(False, error=exc)
            if self.fail_fast:
                self.cancelled = True
        finally:
            self.ends.append(self.run.now)

    def exited(self) -> tuple[list[Fiber], bool]:
        """A branch fiber ended: start the next ones; True when the whole group is done."""
        self.running -= 1
        more = self.start_more()
        return more, self.running == 0 and self.next >= len(self.calls)

    def results(self, return_exceptions: bool) -> list[Any]:
        if self.ends:  # the caller goes on after the latest event of its branches, also on
            # replay, where the branches replay in their order, not in the order of events
            self.run.now = max(self.run.now, *self.ends)
        if self.lost:
            raise LeaseLost()
        if self.suspend_at is not None:
            raise Suspend(self.suspend_at)
        run = self.run
        if run.cancel is not None and not run.shield:
            raise Cancelled(*run.cancel)
        outcomes = []
        for o in self.outcomes:
            assert o is not None
            outcomes.append((o.ok, o.value if o.ok else o.error))
        return gather(outcomes, return_exceptions)


def begin(group: Any, parent: Fiber) -> list[Fiber]:
    """``parent`` starts ``group`` (a BranchGroup or a ctx.branches LaneGroup): the fibers to
    run now — the parent itself if there is nothing to run."""
    group.parent = parent
    fibers: list[Fiber] = group.start_more()
    return fibers if fibers or group.running else [parent]


def after_branch(fiber: Fiber) -> list[Fiber]:
    """A branch fiber ended: the next branches to run, and the parent once all have ended."""
    more, done = fiber.group.exited()
    return [*more, fiber.group.parent] if done else more


def gather(outcomes: Sequence[tuple[bool, Any]], return_exceptions: bool) -> list[Any]:
    """Branch results in order, each a value or its failure (a branch stopped because a
    sibling failed: :class:`SiblingFailed`). Raises the first real failure by position
    unless ``return_exceptions``; a deadline that stopped a branch always."""
    values: list[Any] = []
    first: BaseException | None = None
    for i, (ok, value) in enumerate(outcomes):
        if ok:
            values.append(value)
            continue
        err = value
        if isinstance(err, Cancelled):
            if err.status == st.TIMED_OUT:
                raise err
            err = SiblingFailed(f"branch {i} was stopped because a sibling failed "
                                f"({err.reason})")
        values.append(err)
        if first is None and not isinstance(err, SiblingFailed):
            first = err
    if first is not None and not return_exceptions:
        raise first
    return values


def run_parallel(run: Run, calls: list[Call], limit: int, fail_fast: bool,
                 return_exceptions: bool) -> list[Any]:
    if not calls:
        return []
    positions: list[int] = []
    head = run.journal.peek()
    if head is not None:
        for sdef, _, _ in calls:
            e = run._replayed(ev.STEP_SCHEDULED, sdef.name, "parallel step")
            positions.append(e.seq)
    else:
        run._boundary()
        for i, (sdef, _, _) in enumerate(calls):
            e = run._append(ev.STEP_SCHEDULED, name=sdef.name, pos=run.next_seq,
                             data={"branch": i, "branches": len(calls)})
            positions.append(e.seq)
        run._commit()
    group = BranchGroup(run, calls, positions, limit, fail_fast)
    run._park(StartBranches(group))
    return group.results(return_exceptions)
