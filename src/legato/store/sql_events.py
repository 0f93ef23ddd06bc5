"""Buffered events on an SQL store, the same code for both dialects: listing what no wait
consumed yet, and dropping events past their time-to-live.

:class:`EventQueries` declares the statements (every dialect's ``queries.sql`` has them;
:class:`legato.store.sql_store.CommonQueries` includes them) and :class:`EventsSQL` runs
them: a mixin of :class:`legato.store.sql_store.SQLStore`, whose dialects supply the
connections.

An event that expires unconsumed is a WARNING naming it, written once: the deleting
statement returns the rows it deleted (``DELETE ... RETURNING``), and of stores sweeping at
once (every worker sweeps), each row is deleted, so returned, by exactly one; the warning is
written after that transaction committed, by the process that ran it.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from legato.domain.buffered import BufferedEvent, expiry_warning
from legato.store.sqlfile import Statements

if TYPE_CHECKING:
    from legato.store.sql_store import Conn

log = logging.getLogger("legato.events")


class EventQueries(Statements):
    """The statements of :class:`EventsSQL`."""

    buffered_events: str  # {where}: " AND " and each buffered_of_* condition given
    buffered_of_type: str
    buffered_of_key: str
    expire_events: str


class EventsSQL(abc.ABC):
    """Buffered events: listing and expiring them (see the module's doc)."""

    q: EventQueries

    @abc.abstractmethod
    def _writer(self, single: bool = False) -> AbstractContextManager[Conn]: ...

    @abc.abstractmethod
    def _read_all(self, sql: str, params: Any = ()) -> Sequence[Any]: ...

    def buffered_events(self, type_: str | None, key: str | None, now: float,
                        limit: int) -> list[BufferedEvent]:
        q = self.q
        filters = "".join(f" AND {cond}" for cond, given in (
            (q.buffered_of_type, type_ is not None), (q.buffered_of_key, key is not None))
            if given)
        rows = self._read_all(q.buffered_events.replace("{where}", filters),
                              {"type": type_, "key": key, "now": now, "limit": limit})
        return [BufferedEvent(r[0], r[1], r[2], r[3], float(r[4]),
                              None if r[5] is None else float(r[5])) for r in rows]

    def expire_events(self, now: float) -> int:
        """Delete the events past their time-to-live (delivered and taken ones too: they
        were kept to make a repeated ``event_id`` a duplicate); warn of each that no wait
        consumed. Returns how many were deleted."""
        with self._writer(single=True) as c:
            gone = c.execute(self.q.expire_events, {"now": now}).fetchall()
        for event_id, type_, key, published_at, unconsumed in gone:
            if unconsumed:
                log.warning(expiry_warning(event_id, type_, key, float(published_at), now))
        return len(gone)
