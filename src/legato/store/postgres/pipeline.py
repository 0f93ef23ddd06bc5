"""A transaction in pipeline mode: what makes most of the store's writes one round trip.

psycopg's ``conn.transaction()`` inside a pipeline syncs once on entry and twice on exit (so
that it can report the transaction's state), which makes a transaction of any size at least
three round trips. Here the statements are queued back to back and the pipeline's one sync at
the end carries them all: one round trip, plus one per result the caller reads in between
(``fetchone()`` and the like flush what was queued, without ending the transaction).

No ``BEGIN``/``COMMIT`` is sent either (each is a statement of its own to send): on a
connection in autocommit mode, PostgreSQL runs everything between two syncs of the extended
query protocol as one implicit transaction, which the sync commits (its locks are held until
then; a statement that fails rolls it back and skips the rest).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg


@contextlib.contextmanager
def pipelined(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Run the block's statements as one transaction on ``conn`` (a pool connection, in
    autocommit mode): queue them; read results after the block, by when the transaction
    has committed and every result has arrived (still holding ``conn``).

    If the block raises, the sync that would commit must never be sent: the connection is
    closed instead, so the server rolls back whatever it ran (the pool replaces the
    connection). A statement that failed has rolled the transaction back already.
    """
    with conn.pipeline():
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
