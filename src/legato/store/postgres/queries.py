"""Every SQL statement of the PostgreSQL store, with the schema's tables filled in.

Statements that make work runnable for other processes carry their own ``pg_notify`` so the
notification is sent in the same transaction (and only if something changed).
"""

from __future__ import annotations

from legato.store.sql_common import (
    ACTIVE_SQL,
    EVENT_COLUMNS,
    RUN_TABLES,
    WF_COLUMNS,
    prefixed,
)

TERMINAL_SQL = "('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')"


WF_COUNT = len(WF_COLUMNS.split(","))


class Queries:
    """Every statement of the store, with the schema's tables filled in."""

    def __init__(self, schema: str) -> None:
        wf, jr = f"{schema}.workflows", f"{schema}.journal"
        wk, ty = f"{schema}.workers", f"{schema}.workflow_types"
        self.workers_table = wk
        self.create = (
            f"WITH ins AS (INSERT INTO {wf} (id, name, status, input, created_at, updated_at,"
            " owner, epoch, wake_at, deadline, queue, priority, parent_id, queue_key,"
            " started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING RETURNING id),"
            f" ev AS (INSERT INTO {jr} SELECT ins.id, %s::integer, %s::text, %s::float8,"
            " %s::text, %s::integer, %s::integer, %s::text FROM ins),"
            " n AS (SELECT pg_notify(%s, '') FROM ins WHERE %s::boolean)"
            " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM n)")
        self.get = f"SELECT {WF_COLUMNS} FROM {wf} WHERE id = %s"
        self.get_many = f"SELECT {WF_COLUMNS} FROM {wf} WHERE id = ANY(%s::text[])"
        self.list = f"SELECT {WF_COLUMNS} FROM {wf}"
        self.list_order = " ORDER BY created_at DESC, created_order DESC LIMIT %s"
        self.journal = f"SELECT {EVENT_COLUMNS} FROM {jr} WHERE workflow_id = %s ORDER BY seq"
        # ended runs and everything recorded for them (rows another transaction holds wait
        # for the next batch)
        self.purge = (
            f"WITH gone AS (SELECT id FROM {wf} WHERE status = ANY(%(statuses)s::text[])"
            "  AND completed_at < %(before)s LIMIT %(limit)s FOR UPDATE SKIP LOCKED),"
            f" a AS (DELETE FROM {schema}.task_audit WHERE task_id IN"
            f"  (SELECT id FROM {schema}.tasks WHERE workflow_id IN (SELECT id FROM gone))),"
            + "".join(f" d_{t} AS (DELETE FROM {schema}.{t} WHERE workflow_id IN"
                      " (SELECT id FROM gone)),"
                      for t in RUN_TABLES)
            + f" w AS (DELETE FROM {wf} WHERE id IN (SELECT id FROM gone) RETURNING id)"
            " SELECT id FROM w")
        self.count_ended = (f"SELECT count(*) FROM {wf} WHERE status = ANY(%s::text[])"
                            " AND completed_at < %s")
        self.request_cancel = (
            f"WITH u AS (UPDATE {wf} SET cancel_requested = true, updated_at = %s,"
            " wake_at = CASE WHEN owner IS NULL THEN %s ELSE wake_at END"
            f" WHERE id = %s AND status IN {ACTIVE_SQL} RETURNING id)"
            " SELECT pg_notify(%s, '') FROM u")
        self.lock_status = f"SELECT status, detail FROM {wf} WHERE id = %s FOR UPDATE"
        self.terminate_event = (
            f"INSERT INTO {jr} SELECT %s::text, COALESCE(MAX(seq), 0) + 1, %s::text, %s::float8,"
            " NULL, NULL, NULL, %s::text"
            f" FROM {jr} WHERE workflow_id = %s")
        self.terminate = (
            f"UPDATE {wf} SET status = %s, detail = %s, error = %s, owner = NULL,"
            " epoch = epoch + 1, updated_at = %s, completed_at = %s, wake_at = NULL WHERE id = %s")
        self.append_one = (
            f"INSERT INTO {jr} (workflow_id, seq, type, at, name, pos, attempt, data)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)")
        self.redrive = (
            f"UPDATE {wf} SET status = 'PENDING', owner = NULL, epoch = epoch + 1,"
            " wake_at = %s, updated_at = %s, error = NULL, detail = NULL, result = NULL,"
            " completed_at = NULL, cancel_requested = false WHERE id = %s")
        self.upsert_worker = (
            f"INSERT INTO {wk} (id, host, pid, started_at, lease_until, lease_s, locked_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (id) DO UPDATE SET"
            " host = EXCLUDED.host, pid = EXCLUDED.pid, started_at = EXCLUDED.started_at,"
            " lease_until = EXCLUDED.lease_until, lease_s = EXCLUDED.lease_s, locked_at = now()")
        self.renew = f"UPDATE {wk} SET lease_until = %s WHERE id = %s"
        self.release_owned = (
            # recovered work keeps its place in the queue (its old wake_at), due now
            f"UPDATE {wf} SET owner = NULL, epoch = epoch + 1,"
            " wake_at = LEAST(COALESCE(wake_at, %(now)s), %(now)s),"
            " status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END,"
            " updated_at = %(now)s"
            f" WHERE id IN (SELECT id FROM {wf} WHERE owner = %(worker)s"
            f" AND status IN {ACTIVE_SQL}"
            " ORDER BY id FOR UPDATE)")
        self.release_all_but = (  # all but the run a blocked body holds (the watchdog)
            f"UPDATE {wf} SET owner = NULL, epoch = epoch + 1,"
            " wake_at = LEAST(COALESCE(wake_at, %(now)s), %(now)s),"
            " status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END,"
            " updated_at = %(now)s"
            f" WHERE id IN (SELECT id FROM {wf} WHERE owner = %(worker)s"
            f" AND id <> %(keep)s AND status IN {ACTIVE_SQL}"
            " ORDER BY id FOR UPDATE) RETURNING id")
        self.release_orphans = (  # owned by a worker no longer registered
            f"UPDATE {wf} SET owner = NULL, epoch = epoch + 1,"
            " wake_at = LEAST(COALESCE(wake_at, %(now)s), %(now)s),"
            " status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END,"
            " updated_at = %(now)s"
            f" WHERE id IN (SELECT id FROM {wf} WHERE owner IS NOT NULL AND owner <> %(me)s"
            f" AND status IN {ACTIVE_SQL} AND owner NOT IN (SELECT id FROM {wk})"
            " ORDER BY id FOR UPDATE)")
        self.delete_worker = f"DELETE FROM {wk} WHERE id = %s"
        self.workers = f"SELECT id, host, pid, started_at, lease_until FROM {wk}"
        # alive: NULL when PostgreSQL cannot tell (no lock taken since the server started),
        # else whether some session still holds the worker's lock. The lock probe is
        # transaction-scoped, so it is gone again when the statement ends.
        self.liveness = (
            "SELECT id, host, pid, started_at, lease_until,"
            " CASE WHEN locked_at IS NULL OR locked_at < pg_postmaster_start_time() THEN NULL"
            "  WHEN pg_try_advisory_xact_lock(hashtextextended(%s::text || id, 0)) THEN false"
            "  ELSE true END,"
            # has the server been up a whole lease? (on its own clock: never compared with
            # a worker's, which may run ahead or behind it)
            " now() - pg_postmaster_start_time() > make_interval(secs => lease_s)"
            f" FROM {wk}")
        # what a claim hands out with each row: its journal and what it was delivered
        # (JSON arrays in the row itself, so that no further statement is needed)
        history = (
            ", (SELECT json_agg(json_build_array(j.seq, j.type, j.at, j.name, j.pos,"
            f" j.attempt, j.data) ORDER BY j.seq) FROM {jr} j WHERE j.workflow_id = w.id),"
            " (SELECT json_agg(json_build_array(i.pos, i.kind, i.name, i.key, i.data,"
            f" i.source, i.at)) FROM {schema}.inbox i WHERE i.workflow_id = w.id)")
        # The claim: runs outside a queue, or already started on one (a queue admits a run
        # once), with their histories. Then one more row (its id NULL, its two last
        # columns set): whether due rows were left out because another transaction held
        # them locked for a moment (a delivery, a commit touching a parent...), and the
        # queues that have runs waiting to be admitted (the queues' own statement is
        # filled in by claim_sql).
        self._claim = (
            f"WITH due AS (SELECT id FROM {wf} WHERE owner IS NULL AND status IN {ACTIVE_SQL}"
            " AND wake_at <= %s AND name = ANY(%s::text[])"
            " AND (queue IS NULL OR started_at IS NOT NULL)"
            " ORDER BY priority DESC, wake_at LIMIT %s FOR UPDATE SKIP LOCKED),"
            f" claimed AS (UPDATE {wf} w SET owner = %s, epoch = w.epoch + 1,"
            " status = 'RUNNING', updated_at = %s, started_at = COALESCE(w.started_at, %s)"
            f" FROM due WHERE w.id = due.id RETURNING {prefixed('w')}{history})"
            " SELECT *, NULL::boolean, NULL::text[] FROM claimed UNION ALL"
            f" SELECT {', '.join(['NULL'] * (WF_COUNT + 2))}, EXISTS (SELECT 1 FROM {wf}"
            f" WHERE owner IS NULL AND status IN {ACTIVE_SQL} AND wake_at <= %s"
            " AND name = ANY(%s::text[]) AND (queue IS NULL OR started_at IS NOT NULL)"
            " AND id NOT IN (SELECT id FROM claimed)), ARRAY({queues_with_work})")
        self.claim_ids = (  # queued runs just admitted (locked by the admitting transaction)
            f"UPDATE {wf} w SET owner = %s, epoch = w.epoch + 1, status = 'RUNNING',"
            " updated_at = %s, started_at = COALESCE(w.started_at, %s)"
            f" WHERE w.id = ANY(%s::text[]) RETURNING {prefixed('w')}{history}")
        self.reclaim = (  # rows a claim whose reply was lost gave us (see claim())
            f"SELECT {prefixed('w')}{history} FROM {wf} w"
            " JOIN unnest(%s::text[], %s::bigint[])"
            " AS d(id, epoch) ON w.id = d.id AND w.epoch = d.epoch WHERE w.owner = %s"
            f" AND w.status IN {ACTIVE_SQL}")
        # A commit locks, in id order, the rows it writes and every row it may touch
        # because of them: the children they wait for, the parents of those that end, the
        # children of those cancelled. One ordered lock statement: commits cannot deadlock,
        # and a parent and its child ending at the same moment see each other.
        self.lock_for_commit = (
            f"SELECT id, epoch, cancel_requested, status FROM {wf} WHERE id IN ("
            " SELECT unnest(%s::text[])"
            f" UNION SELECT parent_id FROM {wf} WHERE id = ANY(%s::text[])"
            f" UNION SELECT id FROM {wf} WHERE parent_id = ANY(%s::text[]))"
            " ORDER BY id FOR UPDATE")
        # A group commit is fenced by the SQL itself, so that it needs one round trip: every
        # statement after lock_for_commit writes a workflow's rows only where the row
        # (locked by then) still has the epoch of the write; the locked rows' epochs,
        # read afterwards, say which writes were fenced.
        # ON CONFLICT: the same commit sent again after its reply was lost is harmless
        self.append = (  # (seq, type, at, name, pos, attempt, data, workflow id, epoch)
            f"INSERT INTO {jr} (workflow_id, seq, type, at, name, pos, attempt, data)"
            " SELECT w.id, %s::integer, %s::text, %s::float8, %s::text, %s::integer,"
            f" %s::integer, %s::text FROM {wf} w WHERE w.id = %s AND w.epoch = %s"
            " ON CONFLICT DO NOTHING")
        self.state_set = (  # (key, value, updated_at, workflow id, epoch)
            f"INSERT INTO {schema}.workflow_state (workflow_id, key, value, updated_at)"
            f" SELECT w.id, %s::text, %s::text, %s::float8 FROM {wf} w"
            " WHERE w.id = %s AND w.epoch = %s ON CONFLICT (workflow_id, key)"
            " DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at")
        # the owner's new state; a waiting run wakes at once if it was asked to cancel, the
        # child it waits for has ended or what it waits for was delivered meanwhile
        self.update = (
            f"UPDATE {wf} SET status = %(status)s, result = %(result)s, error = %(error)s,"
            " detail = COALESCE(%(detail)s, detail),"
            " wake_at = CASE WHEN NOT %(active)s THEN NULL"
            "  WHEN cancel_requested THEN %(now)s"
            "  WHEN %(child)s::text[] IS NOT NULL AND EXISTS (SELECT 1 FROM"
            f"   {wf} k WHERE k.id = ANY(%(child)s::text[]) AND k.status IN {TERMINAL_SQL})"
            "   THEN %(now)s"
            "  WHEN %(pos)s::integer[] IS NOT NULL AND EXISTS (SELECT 1 FROM"
            f"   {schema}.inbox i WHERE i.workflow_id = %(id)s"
            "   AND i.pos = ANY(%(pos)s::integer[])) THEN %(now)s"
            "  ELSE %(wake)s::float8 END,"
            " updated_at = %(now)s, owner = CASE WHEN %(release)s THEN NULL ELSE owner END,"
            " completed_at = %(done)s WHERE id = %(id)s AND epoch = %(epoch)s")
        # the same for a run that ended (nothing to wake it for): a statement PostgreSQL
        # plans once per connection, where the one above is planned at every execution
        self.update_ended = (
            f"UPDATE {wf} SET status = %(status)s, result = %(result)s, error = %(error)s,"
            " detail = COALESCE(%(detail)s, detail), wake_at = NULL, updated_at = %(now)s,"
            " owner = CASE WHEN %(release)s THEN NULL ELSE owner END,"
            " completed_at = %(done)s WHERE id = %(id)s AND epoch = %(epoch)s")
        # the workflows (ids, epochs) whose epoch holds (a NULL epoch: not fenced)
        held = (f"SELECT w.id, w.parent_id FROM {wf} w JOIN unnest(%(ids)s::text[],"
                " %(epochs)s::bigint[]) AS c(id, epoch) ON w.id = c.id"
                " AND (c.epoch IS NULL OR w.epoch = c.epoch)")
        # workflows ended: wake their waiting parents; what they waited for and were
        # handed is done with; their open human tasks are cancelled (and audited)
        tk, au = f"{schema}.tasks", f"{schema}.task_audit"
        self.ended = (
            f"WITH e AS MATERIALIZED ({held}),"
            f" woken AS (UPDATE {wf} SET wake_at = %(now)s WHERE status = 'WAITING'"
            " AND owner IS NULL AND id IN (SELECT parent_id FROM e) RETURNING 1),"
            f" unwaited AS (DELETE FROM {schema}.waits WHERE workflow_id IN (SELECT id FROM e)),"
            f" emptied AS (DELETE FROM {schema}.inbox WHERE workflow_id IN (SELECT id FROM e)),"
            f" dropped AS (UPDATE {tk} SET status = 'CANCELLED', updated_at = %(now)s,"
            " version = version + 1 WHERE workflow_id IN (SELECT id FROM e)"
            " AND status IN ('OPEN', 'CLAIMED') RETURNING id),"
            f' audit AS (INSERT INTO {au} (task_id, at, "user", action, detail)'
            " SELECT id, %(now)s, NULL, 'cancelled', %(why)s FROM dropped ORDER BY id)"
            " SELECT pg_notify(%(channel)s, '') FROM woken LIMIT 1")
        # workflows cancelled or timed out: so are their children (a statement of its
        # own: a parent woken above may be one of these children)
        self.cancel_children = (
            f"WITH u AS (UPDATE {wf} SET cancel_requested = true,"
            " wake_at = CASE WHEN owner IS NULL THEN %(now)s ELSE wake_at END"
            f" WHERE parent_id IN (SELECT id FROM ({held}) c) AND status IN {ACTIVE_SQL}"
            " RETURNING 1) SELECT pg_notify(%(channel)s, '') FROM u LIMIT 1")
        self.notify = "SELECT pg_notify(%s, '')"
        # released runs (ids, epochs) that hold their epoch and are due at some time (not
        # a run suspended until something is delivered to it): the others should look
        self.notify_held = (f"SELECT pg_notify(%(channel)s, '') WHERE EXISTS"
                            f" (SELECT 1 FROM ({held}) c JOIN {wf} r ON r.id = c.id"
                            " WHERE r.wake_at IS NOT NULL)")
        self.next_wake = (
            f"SELECT MIN(wake_at) FROM {wf} WHERE owner IS NULL AND status IN {ACTIVE_SQL}"
            " AND name = ANY(%s::text[])")
        self.owned_cancels = f"SELECT id FROM {wf} WHERE owner = %s AND cancel_requested"
        self.record_names = (
            f"INSERT INTO {ty} (name, last_seen) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET last_seen = EXCLUDED.last_seen")
        self.known_names = f"SELECT name FROM {ty}"
        ci, tr = f"{schema}.circuits", f"{schema}.circuit_transitions"
        cols = "name, state, failures, opened_at, next_probe_at, probes, recent, version"
        self.circuit_load = f"SELECT {cols} FROM {ci} WHERE name = %s"
        self.circuits = f"SELECT {cols} FROM {ci} ORDER BY name"
        self.circuit_insert = (
            f"INSERT INTO {ci} ({cols}, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (name) DO NOTHING")
        self.circuit_update = (
            f"UPDATE {ci} SET state = %s, failures = %s, opened_at = %s, next_probe_at = %s,"
            " probes = %s, recent = %s, version = %s, updated_at = %s"
            " WHERE name = %s AND version = %s")
        self.transition_insert = f"INSERT INTO {tr} VALUES (%s, %s, %s, %s, %s)"
        self.transitions = f"SELECT name, at, source, target, reason FROM {tr}"
        self.transitions_order = " ORDER BY at DESC LIMIT %s"

    def claim_sql(self, queues_with_work: str) -> str:
        """The claim (see ``_claim``), given the statement that lists the queues with runs
        to admit (parameters: the claim's, then ``now, names``, then its own)."""
        return self._claim.replace("{queues_with_work}", queues_with_work)
