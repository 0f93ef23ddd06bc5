"""The workflow context handed to every workflow function as its first argument."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from legato.runtime.registry import seconds

if TYPE_CHECKING:
    from legato.runtime.task import Task


class WorkflowContext:
    """What a workflow may do besides calling steps. Deterministic on replay.

    >>> @legato.workflow
    ... def remind(ctx: legato.WorkflowContext, user: str) -> None:
    ...     ctx.sleep(timedelta(days=1))   # durable: survives restarts, holds no thread
    ...     send_reminder(user)            # a @legato.step
    """

    __slots__ = ("_logger", "_task")

    def __init__(self, task: Task) -> None:
        self._task = task
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None

    @property
    def workflow_id(self) -> str:
        return self._task.workflow_id

    @property
    def workflow_name(self) -> str:
        return self._task.wdef.name

    @property
    def is_replaying(self) -> bool:
        """True while the run re-reads recorded history (after a restart or a wake-up)."""
        return self._task.replaying

    def now(self) -> datetime:
        """The time of the latest journal event: the same on every replay (UTC)."""
        return datetime.fromtimestamp(self._task.now, UTC)

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that does not repeat its lines while the workflow replays."""
        if self._logger is None:
            from legato.runtime.task import ReplayAwareLogger

            self._logger = ReplayAwareLogger(self._task)
        return self._logger

    def sleep(self, duration: float | timedelta, *, name: str = "sleep") -> None:
        """Wait durably for ``duration`` (seconds or timedelta); holds no thread while waiting."""
        secs = seconds(duration, "ctx.sleep duration")
        assert secs is not None
        self._task.sleep(secs, name)

    async def sleep_async(self, duration: float | timedelta, *, name: str = "sleep") -> None:
        """``await ctx.sleep_async(...)`` in an ``async def`` workflow."""
        self.sleep(duration, name=name)

    def patched(self, patch_id: str) -> bool:
        """True for runs reaching this point first after a code change, False for older runs.

        Guard new code with it so that workflows that passed this point before the deploy
        replay the old path::

            if ctx.patched("new-fraud-check"):
                fraud_check(order)
        """
        return self._task.patched(patch_id)

    def __repr__(self) -> str:
        return f"<WorkflowContext {self._task.wdef.name} {self._task.workflow_id!r}>"

    def _debug(self) -> dict[str, Any]:
        t = self._task
        return {"cursor": t.cursor, "events": len(t.events), "pending": len(t.pending)}
