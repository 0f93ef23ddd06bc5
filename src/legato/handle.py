"""Handles on workflow runs: status, result, history, cancel."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from legato.domain import status as st
from legato.errors import WorkflowFailed, WorkflowNotFound
from legato.runs import describe
from legato.runtime import codec
from legato.runtime.attempt import refuse_inline_wait
from legato.store.base import WorkflowRow

if TYPE_CHECKING:
    from legato.domain.actor import Actor
    from legato.engine import Engine


class WorkflowHandle:
    """A reference to one workflow run by id. Every property reads the store afresh."""

    __slots__ = ("_engine", "_result", "created", "workflow_id")

    def __init__(self, engine: Engine, workflow_id: str) -> None:
        self._engine = engine
        self.workflow_id = workflow_id
        #: (workflow name, result JSON) of the run, handed over by the engine's own worker
        #: when it committed the run COMPLETED (a final status): result() then reads nothing
        self._result: tuple[str, str | None] | None = None
        #: from ``engine.start``: True if this call created the run, False if it found the
        #: run started before with the same id and input (a retried start); else None
        self.created: bool | None = None

    def _completed(self, name: str, result: str | None) -> None:
        self._result = (name, result)

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.workflow_id!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkflowHandle) and other.workflow_id == self.workflow_id

    def __hash__(self) -> int:
        return hash(self.workflow_id)

    @property
    def id(self) -> str:
        return self.workflow_id

    def _row(self) -> WorkflowRow:
        row = self._engine.store.get(self.workflow_id)
        if row is None:
            raise WorkflowNotFound(self.workflow_id)
        return row

    @property
    def status(self) -> str:
        """``PENDING``, ``RUNNING``, ``WAITING``, ``COMPLETED``, ``FAILED``, ``CANCELLED`` or
        ``TIMED_OUT``, read fresh from the store."""
        return self._row().status

    @property
    def name(self) -> str:
        return self._row().name

    def describe(self) -> dict[str, Any]:
        """Name, status, detail, business ``key``, input, result or error, what it waits on
        right now (``waiting_for``, docs/runs.md) and timestamps (ISO 8601, UTC)."""
        return describe(self._engine, self._row())

    def history(self) -> list[dict[str, Any]]:
        """The journal: dicts with ``type``, ``seq``, ``at`` (epoch seconds) and details."""
        self._row()
        return [e.as_dict() for e in self._engine.store.journal(self.workflow_id)]

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the end and return the workflow's value.

        Raises :class:`legato.WorkflowFailed` if it ended FAILED, CANCELLED or TIMED_OUT, and
        ``TimeoutError`` if it has not ended within ``timeout`` seconds.
        """
        done = self._result
        if done is None:
            row = self._engine.wait_terminal(self.workflow_id, timeout)
            if row.status != st.COMPLETED:
                raise WorkflowFailed(row.id, row.status, row.error)
            done = (row.name, row.result)
        name, result = done
        value = codec.loads(result)
        wdef = self._engine.registry.find(name)
        return codec.adapt(value, wdef.return_hint) if wdef else value

    async def result_async(self, timeout: float | None = None) -> Any:
        return await asyncio.to_thread(self.result, timeout)

    def cancel(self, *, actor: Actor | str | None = None) -> None:
        """Ask the workflow to stop at its next step boundary (status CANCELLED); ``actor``
        (who asks) is recorded in its WorkflowCancelled event."""
        self._engine.cancel(self.workflow_id, actor=actor)

    def signal(self, name: str, data: Any = None, *, actor: Actor | str | None = None) -> None:
        """Send a signal; the workflow receives it with ``ctx.wait_signal(name)``."""
        self._engine.signal(self.workflow_id, name, data, actor=actor)

    def query(self, key: str) -> Any:
        """The latest value the workflow set with ``ctx.set_state(key, value)``."""
        return self._engine.query(self.workflow_id, key)

    def retry(self, *, actor: Actor | str | None = None) -> WorkflowHandle:
        """Resume a FAILED workflow from its failed step (what Step Functions calls a
        redrive); returns this handle."""
        return self._engine.retry(self.workflow_id, actor=actor)

    def terminate(self, reason: str = "terminated", *,
                  actor: Actor | str | None = None) -> None:
        """Stop the workflow at once, without running any more of its code."""
        self._engine.terminate(self.workflow_id, reason, actor=actor)

    def wait_status(self, *statuses: str, timeout: float = 10.0) -> str:
        """Poll until the status is one of ``statuses`` (handy in tests); returns it."""
        refuse_inline_wait()
        end = time.monotonic() + timeout
        delay = 0.002
        while True:
            s = self.status
            if s in statuses:
                return s
            if time.monotonic() > end:
                raise TimeoutError(f"workflow {self.workflow_id!r} is {s}, not {statuses}")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
