"""Storage backends behind one interface (:class:`legato.store.base.Store`). All SQL lives here."""

from legato.store.base import Claimed, NewWorkflow, Store, WorkerInfo, WorkflowRow, Write
from legato.store.url import open_store

__all__ = ["Claimed", "NewWorkflow", "Store", "WorkerInfo", "WorkflowRow", "Write", "open_store"]
