"""Reading runs in bulk on an SQL store, the same code for both dialects: listings by status,
name and business key, pages in keyset order, counts by status, the changes feed, and what
active runs wait for (:mod:`legato.domain.waiting` decides; here are its reads).

:class:`RunQueries` declares the statements (each dialect's ``queries.sql`` has them, in its
section "runs: listing, pages, counts, changes, what runs wait for") and :class:`RunSQL`
runs them: a mixin of each dialect's store, beside :class:`legato.store.sql_store.SQLStore`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from legato.domain import codec
from legato.domain.waiting import RunFacts, TaskInfo
from legato.store.base import WorkflowRow
from legato.store.sql_common import row_to_event, row_to_workflow, where_clause
from legato.store.sqlfile import Statements

#: (workflow id, name, status, business key, updated_at) of a changed run
Change = tuple[str, str, str, str | None, float]


class RunQueries(Statements):
    """The statements of :class:`RunSQL`."""

    list_workflows: str  # {where}: with_status, with_name, with_key
    with_status: str
    with_name: str
    with_key: str
    runs: str  # {where}: the runs_* conditions
    runs_statuses: str
    runs_since: str
    runs_until: str
    runs_before: str
    status_counts: str  # {where}: with_name
    changes: str
    latest_changes: str
    facts_rows: str
    facts_journals: str
    facts_inbox: str
    facts_tasks: str
    facts_children: str
    cancel_actor: str


class RunSQL:
    """Runs in bulk (see the module's doc). First among a store's bases, before
    :class:`legato.store.sql_store.SQLStore`, whose reads it uses."""

    q: RunQueries

    if TYPE_CHECKING:  # supplied by SQLStore and its dialects
        def _read_one(self, sql: str, params: Any = ()) -> Any: ...

        def _read_all(self, sql: str, params: Any = ()) -> Sequence[Any]: ...

        def _array(self, values: Iterable[str]) -> Any: ...

    def list_workflows(self, status: str | None, name: str | None, limit: int,
                       key: str | None = None) -> list[WorkflowRow]:
        q = self.q
        sql = q.list_workflows.replace("{where}", where_clause(
            [cond for cond, given in ((q.with_status, status), (q.with_name, name),
                                      (q.with_key, key)) if given is not None]))
        return [row_to_workflow(r) for r in self._read_all(
            sql, {"status": status, "name": name, "key": key, "limit": limit})]

    def list_runs(self, statuses: Sequence[str] | None, name: str | None, key: str | None,
                  since: float | None, until: float | None,
                  before: tuple[float, str] | None, limit: int) -> list[WorkflowRow]:
        """Runs newest first by ``(created_at, id)``, created in ``[since, until)``, strictly
        after ``before`` in that order (keyset pagination)."""
        q = self.q
        where = [cond for cond, given in (
            (q.runs_statuses, statuses), (q.with_name, name), (q.with_key, key),
            (q.runs_since, since), (q.runs_until, until), (q.runs_before, before))
            if given is not None]
        params = {"statuses": self._array(statuses or ()), "name": name, "key": key,
                  "since": since, "until": until, "limit": limit,
                  "before_at": before[0] if before else None,
                  "before_id": before[1] if before else None}
        return [row_to_workflow(r) for r in self._read_all(
            q.runs.replace("{where}", where_clause(where)), params)]

    def count_statuses(self, name: str | None) -> dict[str, int]:
        sql = self.q.status_counts.replace("{where}", where_clause(
            [self.q.with_name] if name is not None else []))
        return {str(r[0]): int(r[1]) for r in self._read_all(sql, {"name": name})}

    def changed_runs(self, floor: tuple[float, str] | None, limit: int) -> list[Change]:
        """Runs by ``(updated_at, id)``, from ``floor`` (inclusive; None: from the first)."""
        rows = self._read_all(self.q.changes, {
            "at": floor[0] if floor else -1e300, "id": floor[1] if floor else "",
            "limit": limit})
        return [(r[0], r[1], r[2], r[3], float(r[4])) for r in rows]

    def latest_changes(self, limit: int) -> list[Change]:
        """The ``limit`` runs updated last, newest first."""
        return [(r[0], r[1], r[2], r[3], float(r[4]))
                for r in self._read_all(self.q.latest_changes, {"limit": limit})]

    def waiting_facts(self, ids: Sequence[str]) -> dict[str, RunFacts]:
        """What :func:`legato.domain.waiting.waiting_for` reads of these runs besides their
        rows: journals, deliveries, open human tasks, children, queue admission."""
        if not ids:
            return {}
        q = self.q
        params = {"ids": self._array(ids)}
        out = {wid: RunFacts() for wid in ids}
        for r in self._read_all(q.facts_rows, params):
            out[r[0]].started_at = None if r[1] is None else float(r[1])
        for r in self._read_all(q.facts_journals, params):
            out[r[0]].journal.append(row_to_event(r[1:]))
        for r in self._read_all(q.facts_inbox, params):
            out[r[0]].delivered.add(int(r[1]))
        for r in self._read_all(q.facts_tasks, params):
            out[r[0]].tasks[r[1]] = TaskInfo(r[2], r[3], r[4],
                                             None if r[5] is None else float(r[5]), r[6])
        for r in self._read_all(q.facts_children, params):
            out[r[0]].children[r[1]] = r[2]
        return out

    def cancel_actor(self, workflow_id: str) -> dict[str, str] | None:
        """Who asked for the run's cancel, if the request named someone."""
        r = self._read_one(self.q.cancel_actor, {"id": workflow_id})
        if r is None or r[0] is None:
            return None
        value = codec.loads(r[0]) if isinstance(r[0], str) else r[0]
        return {str(k): str(v) for k, v in dict(value).items()} if value else None


__all__ = ["Change", "RunQueries", "RunSQL"]
