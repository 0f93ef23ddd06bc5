"""The one interface between an engine and the workers that run its workflows.

An engine runs its workers either in its own process (one :class:`legato.worker.worker.Worker`:
a hub thread, step threads) or as worker processes
(:class:`legato.worker.processes.WorkerProcesses`). Both are :class:`Workers`; the engine
holds one and never asks which.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from legato.domain.events import Event
from legato.store.base import NewWorkflow, WorkflowRow
from legato.worker.commands import WorkerCommand


class Workers(Protocol):
    """An engine's workers, wherever they run. A worker in the engine's process that dies of
    a defect reports it through the ``on_failure`` it was made with, once it has released
    its runs (the engine then turns unhealthy); a worker process that dies is replaced."""

    @property
    def worker_id(self) -> str | None:
        """The id of the worker running in this process (None: they run in others)."""

    @property
    def ids(self) -> list[str]:
        """The ids of the workers (as the store knows them), where known."""

    @property
    def pids(self) -> list[int]:
        """The ids of the worker processes (empty when the worker runs in this process)."""

    @property
    def reports_every_end(self) -> bool:
        """Every run these workers end is reported to the engine at once, never lost (a
        waiter then need not poll the store often)."""

    def steps_in_flight(self, workflow_id: str) -> list[tuple[str, int, float, float | None]]:
        """(step name, attempt, dispatched at, timeout) of the run's step attempts in flight
        in a worker of this process (empty where they run in others, which only the store
        can tell about)."""

    def send(self, command: WorkerCommand) -> None:
        """Tell the workers ``command`` (from any thread; never blocks long)."""

    def owner_for_new_run(self, given: int) -> str | None:
        """The worker a run started now is born owned by (handed to it by :meth:`hand_over`
        with no claim), ``given`` runs of the same batch having been given one already;
        None: the run is left for any worker to claim."""

    def hand_over(self, runs: Sequence[tuple[NewWorkflow, Event]],
                  results: Sequence[tuple[WorkflowRow, bool]]) -> bool:
        """Give each created run born owned by a worker (:meth:`owner_for_new_run`) to that
        worker; a run that cannot be given is released. True when created runs were left
        for any worker to claim (the caller then pokes)."""

    def stop(self, grace: float) -> None:
        """Stop (running steps get ``grace`` seconds to finish) and release what is left."""
