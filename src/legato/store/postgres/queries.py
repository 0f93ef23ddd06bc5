"""The statements of the PostgreSQL store, by name, from ``sql/postgres/queries.sql`` (read
once, at import: see :mod:`legato.store.sqlfile`); each store fills in its schema."""

from __future__ import annotations

from legato.store.sql_runs import RunQueries
from legato.store.sql_store import CommonQueries


class PostgresQueries(CommonQueries, RunQueries, dialect="postgres"):
    """What :class:`legato.store.sql_store.SQLStore` and :class:`legato.store.sql_runs.RunSQL`
    run, and the PostgreSQL store's own.

    >>> PostgresQueries('"orders"').get_workflow  # doctest: +ELLIPSIS
    'SELECT id, name, ... FROM "orders".workflows WHERE id = %(id)s'
    """

    HOLES = frozenset({"where", "schema"})

    # starting and reading runs
    create: str
    get_many: str
    purge: str
    # workers and their locks (session.py)
    upsert_worker: str
    worker_lock: str
    worker_unlock: str
    workers_relocked: str
    liveness_of: str
    liveness_of_others: str
    notify: str
    # claiming
    queues_with_work: str
    claim: str
    claim_ids: str
    reclaim: str
    next_wake: str
    queue_lock: str
    queue_running: str
    queue_recent: str
    queue_busy_keys: str
    queue_candidates: str
    # a group commit
    lock_for_commit: str
    append: str
    state_set: str
    update: str
    update_ended: str
    ended: str
    cancel_children: str
    notify_held: str
    # events: locks and publishing
    key_locks: str
    lock_workflows: str
    publish: str
