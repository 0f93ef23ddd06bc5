"""Internal control flow. ``BaseException`` so user ``except Exception:`` cannot swallow it."""

from __future__ import annotations

import greenlet


class _Control(BaseException):
    """Base of legato's internal control-flow signals; never escapes the engine."""


class Suspend(_Control):
    """The workflow must wait durably; its greenlet unwinds, the store keeps the row."""

    def __init__(self, wake_at: float | None, await_child: str | None = None,
                 await_pos: int | None = None) -> None:
        super().__init__(wake_at)
        self.wake_at = wake_at
        # what wakes it at once if it happened before the suspension was written: children
        # that ended, deliveries (by wait position) that arrived; several when branches wait
        self.children: tuple[str, ...] = () if await_child is None else (await_child,)
        self.positions: tuple[int, ...] = () if await_pos is None else (await_pos,)


class Cancelled(_Control):
    """Cancellation (or a deadline) reached the workflow at a step boundary."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class LeaseLost(_Control):
    """This worker no longer owns the workflow (fenced out); drop it without writing."""


class NotInline(_Control):
    """A step running on the hub's own thread was about to wait on legato (a run's result):
    that wait needs the hub, so the attempt is abandoned and run again in the step pool."""


class Blocked(_Control):
    """Thrown into a body the watchdog caught holding the hub's thread: the run fails."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class HistoryFull(_Control):
    """The run reached its history limit: it fails with HistoryLimitExceeded (a control,
    so that code swallowing every Exception cannot loop on)."""


#: what a body or branch lets through untouched: greenlet's own exit (a fiber thrown away),
#: and the inline step's signal. Every other BaseException a user's code raises (SystemExit,
#: KeyboardInterrupt, GeneratorExit, their own subclasses) is a failure of that code,
#: recorded with its type: the hub's thread runs only user code and legato's, so such an
#: exception is never the process's own shutdown
PASS_THROUGH: tuple[type[BaseException], ...] = (greenlet.GreenletExit, NotInline)
