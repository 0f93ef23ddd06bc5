"""The statements of the SQLite store, by name, from ``sql/sqlite/queries.sql`` (read once,
at import: see :mod:`legato.store.sqlfile`)."""

from __future__ import annotations

from legato.store.sql_runs import RunQueries
from legato.store.sql_store import CommonQueries


class SQLiteQueries(CommonQueries, RunQueries, dialect="sqlite"):
    """What :class:`legato.store.sql_store.SQLStore` and :class:`legato.store.sql_runs.RunSQL`
    run, and the SQLite store's own."""

    HOLES = frozenset({"where", "marks"})

    # starting runs
    insert_run: str
    insert_start: str
    # purging
    purge_ids: str
    purge: str  # several statements
    # workers
    insert_worker: str
    # claiming ({marks}: one ? per name or id)
    claim_due: str
    claim_rows: str
    claim_journals: str
    claim_inboxes: str
    next_wake: str
    queues_with_work: str
    queue_running: str
    queue_recent: str
    queue_busy_keys: str
    queue_candidates: str
    # a group commit
    epochs: str
    state_set: str
    update_run: str
    wake_parents: str
    forget_waits: str
    forget_inbox: str
    open_tasks: str
    cancel_task: str
    cancel_children: str
    # publishing
    event_insert: str
    event_waits: str
    event_delivered: str


#: the statements (SQLite has no schemas: one instance serves every store)
QUERIES = SQLiteQueries()
