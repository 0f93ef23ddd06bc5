"""Concurrent branches of one workflow: ``ctx.branches([f, g, ...])``.

Each branch is a function that may do anything a workflow body does (several steps, sleeps,
waits for events, child workflows, nested branches). Branches run as fibers of the run, up
to ``limit`` at a time, so their steps run concurrently and their events interleave in the
journal in the order things happened. Every event a branch records carries its *path*
(``"<seq of BranchesStarted>.<index>"``, in ``data["lane"]``), and on replay each branch
reads only its own events, in its own order, with its own clock: a replay is deterministic
whatever the interleaving was.

A branch that fails records ``BranchFailed``; with ``fail_fast`` its siblings stop at their next
step boundary (and those not started yet never start), on replay too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from legato.domain import codec
from legato.domain import events as ev
from legato.errors import NondeterminismError
from legato.runtime.control import PASS_THROUGH, Cancelled, LeaseLost, Suspend
from legato.runtime.parallel import SiblingFailed, gather
from legato.runtime.protocol import StartBranches
from legato.runtime.run import Fiber, Lane

if TYPE_CHECKING:
    from legato.runtime.run import Run

NAME = "branches"


class LaneGroup:
    """The branches of one ``ctx.branches`` call (the hub drives it like a BranchGroup)."""

    def __init__(self, run: Run, fns: Sequence[Callable[[], Any]], base: int, limit: int,
                 fail_fast: bool) -> None:
        self.run = run
        self.fns = list(fns)
        self.paths = [f"{base}.{i}" for i in range(len(fns))]
        self.limit = max(1, limit)
        self.fail_fast = fail_fast
        self.journal = run.journal  # the caller's; start_more runs in the hub
        self.start_now = run.now
        self.outcomes: list[tuple[bool, Any] | None] = [None] * len(fns)
        self.lanes: list[Lane | None] = [None] * len(fns)
        self.cancelled = False
        self.suspend_at: float | None = None
        self.suspended = False
        self.children: list[str] = []  # what the suspended branches wait for
        self.positions: list[int] = []
        self.lost = False
        self.next = 0
        self.running = 0
        self.parent: Fiber | None = None
        if fail_fast:  # replay: a branch that failed stopped the others then
            self.cancelled = any(e.type == ev.BRANCH_FAILED
                                 for path in self.paths
                                 for e in self.journal.lanes.get(path, ()))

    def start_more(self) -> list[Fiber]:
        """Fibers for the next branches, up to the concurrency limit."""
        fibers = []
        run = self.run
        while self.running < self.limit and self.next < len(self.fns):
            i = self.next
            self.next += 1
            journal = self.journal.branch(self.paths[i])
            if self.cancelled and not journal.events:
                self.outcomes[i] = (False, SiblingFailed(
                    f"branch {i} was not run because a sibling failed"))
                continue
            lane = Lane(self.paths[i], journal, self.start_now)
            fiber = run.new_fiber(lambda *_, i=i: self._branch(i), group=self)
            fiber.lane = lane
            self.lanes[i] = lane
            run.lanes += 1
            fibers.append(fiber)
            self.running += 1
        return fibers

    def _branch(self, i: int) -> None:
        run = self.run
        try:
            value = self.fns[i]()
            if inspect.iscoroutine(value):  # an async branch of an async workflow
                value = run._drive(value)
            self.outcomes[i] = (True, value)
        except Suspend as s:
            self.suspended = True
            if s.wake_at is not None:
                self.suspend_at = s.wake_at if self.suspend_at is None \
                    else min(self.suspend_at, s.wake_at)
            self.children += s.children
            self.positions += s.positions
        except LeaseLost:
            self.lost = True
        except Cancelled as c:
            self.outcomes[i] = (False, c)
        except PASS_THROUGH:
            raise
        except BaseException as exc:  # SystemExit and the like from user code too
            self.outcomes[i] = (False, exc)
            if self.fail_fast:
                self.cancelled = True
            replayed = run._replayed(ev.BRANCH_FAILED)
            if replayed is None and not run.dropped:
                run._append(ev.BRANCH_FAILED, name=NAME,
                             data={"index": i, "error": codec.encode_error(exc)})
                try:
                    run._commit()  # durable (and in the history) now, not with the next step
                except LeaseLost:
                    self.lost = True

    def exited(self) -> tuple[list[Fiber], bool]:
        """A branch fiber ended: start the next ones; True when the whole group is done."""
        self.running -= 1
        self.run.lanes -= 1
        more = self.start_more()
        return more, self.running == 0 and self.next >= len(self.fns)

    def results(self, return_exceptions: bool) -> list[Any]:
        """In the calling fiber, once every branch has ended (or suspended)."""
        run = self.run
        ends = [lane.now for lane in self.lanes if lane is not None]
        if ends:
            run.now = max(run.now, *ends)  # the caller goes on after its latest branch
        if self.lost:
            raise LeaseLost()
        failed = any(o is not None and not o[0] and not isinstance(o[1], Cancelled)
                     for o in self.outcomes)
        if self.suspended and not (self.fail_fast and failed):
            # the run waits for whichever branch's timer, child or delivery comes first
            s = Suspend(self.suspend_at)
            s.children, s.positions = tuple(self.children), tuple(self.positions)
            raise s
        if run.cancel is not None and not run.shield:
            raise Cancelled(*run.cancel)
        stopped = SiblingFailed("stopped because a sibling failed")
        return gather([(False, stopped) if o is None else o for o in self.outcomes],
                      return_exceptions)


def run_branches(run: Run, fns: Sequence[Callable[[], Any]], limit: int, fail_fast: bool,
                 return_exceptions: bool) -> list[Any]:
    if not fns:
        return []
    if run.journal.peek() is not None:
        e = run._replayed(ev.BRANCHES_STARTED, NAME, "branches")
        if e.data.get("count") != len(fns):
            raise NondeterminismError(
                f"workflow {run.workflow_id!r}: at journal position {e.seq} the code starts "
                f"{len(fns)} branches but the journal recorded {e.data.get('count')}; the "
                "workflow code changed under a running workflow (guard the change with "
                "ctx.patched())")
    else:
        run._boundary()
        e = run._append(ev.BRANCHES_STARTED, name=NAME,
                         data={"count": len(fns), "limit": limit})
    group = LaneGroup(run, fns, e.seq, limit, fail_fast)
    run._park(StartBranches(group))
    return group.results(return_exceptions)
