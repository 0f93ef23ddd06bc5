-- Every statement of the PostgreSQL store (legato.store.postgres), by name.
--
-- Format (legato/store/sqlfile.py): a block runs from its "-- name:" line to the next one;
-- comment lines are not sent (so a % in a comment is harmless; in SQL it must be %%).
-- {schema} is the store's schema (quoted), filled in once per store: one database may hold
-- several. {workflow_columns}, {workflow_columns_w} (each prefixed with "w."),
-- {event_columns} and {task_columns} are the column lists of legato/store/sql_common.py,
-- {<block>} pastes another block, {where} is filled with the conditions a listing was given.
--
-- Parameters: the statements legato.store.sql_store.SQLStore runs (shared with SQLite,
-- whose queries.sql has the same names) take named parameters (%(name)s); row inserts take
-- their values in the order of their column list, and so do this store's own statements
-- (claim, commit and create: legato/store/postgres/store.py).
--
-- Transactions run side by side here. Every statement that locks several workflow rows
-- locks them in id order (no deadlock between two of them), and the statements that make
-- work runnable for other processes send pg_notify themselves, in their own transaction
-- (and only when they changed something).


-- ==== workflows: reading ================================================================

-- name: get_workflow
SELECT {workflow_columns} FROM {schema}.workflows WHERE id = %(id)s

-- name: get_many
SELECT {workflow_columns} FROM {schema}.workflows WHERE id = ANY(%s::text[])

-- name: journal
SELECT {event_columns} FROM {schema}.journal WHERE workflow_id = %(id)s ORDER BY seq

-- newest first; {where}: " WHERE " and the conditions given (with_status, with_name,
-- with_key)
-- name: list_workflows
SELECT {workflow_columns} FROM {schema}.workflows{where}
ORDER BY created_at DESC, created_order DESC LIMIT %(limit)s

-- name: with_status
status = %(status)s

-- name: with_name
name = %(name)s

-- name: with_key
business_key = %(key)s

-- name: count_ended
SELECT count(*) FROM {schema}.workflows
WHERE status = ANY(%(statuses)s::text[]) AND completed_at < %(before)s


-- ==== runs: pages, counts, changes, what runs wait for (legato/store/sql_runs.py) ===========

-- a page, newest first by (created_at, id); {where}: the conditions given (runs_*,
-- with_name, with_key)
-- name: runs
SELECT {workflow_columns} FROM {schema}.workflows{where}
ORDER BY created_at DESC, id DESC LIMIT %(limit)s

-- name: runs_statuses
status = ANY(%(statuses)s::text[])

-- name: runs_since
created_at >= %(since)s

-- name: runs_until
created_at < %(until)s

-- keyset: strictly after the last row of the page before
-- name: runs_before
created_at <= %(before_at)s AND (created_at < %(before_at)s OR id < %(before_id)s)

-- {where}: with_name, or nothing
-- name: status_counts
SELECT status, count(*) FROM {schema}.workflows{where} GROUP BY status

-- the changes feed: by (updated_at, id), from (at, id) on
-- name: changes
SELECT id, name, status, business_key, updated_at FROM {schema}.workflows
WHERE updated_at >= %(at)s AND (updated_at > %(at)s OR id >= %(id)s)
ORDER BY updated_at, id LIMIT %(limit)s

-- name: latest_changes
SELECT id, name, status, business_key, updated_at FROM {schema}.workflows
ORDER BY updated_at DESC, id DESC LIMIT %(limit)s

-- what the runs %(ids)s wait for: queue admission, journals, deliveries, open human tasks,
-- children
-- name: facts_rows
SELECT id, started_at FROM {schema}.workflows WHERE id = ANY(%(ids)s::text[])

-- name: facts_journals
SELECT workflow_id, {event_columns} FROM {schema}.journal
WHERE workflow_id = ANY(%(ids)s::text[]) ORDER BY workflow_id, seq

-- name: facts_inbox
SELECT workflow_id, pos FROM {schema}.inbox WHERE workflow_id = ANY(%(ids)s::text[])

-- name: facts_tasks
SELECT workflow_id, id, name, assignee, group_name, due, claimed_by FROM {schema}.tasks
WHERE workflow_id = ANY(%(ids)s::text[]) AND status IN ('OPEN', 'CLAIMED')

-- name: facts_children
SELECT parent_id, id, status FROM {schema}.workflows WHERE parent_id = ANY(%(ids)s::text[])

-- name: cancel_actor
SELECT cancel_actor FROM {schema}.workflows WHERE id = %(id)s


-- ==== workflows: starting ===================================================================

-- A run, its WorkflowStarted event and (for a run no worker owns yet) a notification, in
-- one statement. Parameters: the row's 16 columns as listed, the event's seq, type, at,
-- name, pos, attempt, data, then the channel and whether to notify. Returns (runs
-- inserted, notifications sent).
-- name: create
WITH ins AS (INSERT INTO {schema}.workflows (id, name, status, input, created_at,
        updated_at, owner, epoch, wake_at, deadline, queue, priority, parent_id, queue_key,
        started_at, business_key)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (id) DO NOTHING RETURNING id),
ev AS (INSERT INTO {schema}.journal SELECT ins.id, %s::integer, %s::text, %s::float8,
    %s::text, %s::integer, %s::integer, %s::text FROM ins),
n AS (SELECT pg_notify(%s, '') FROM ins WHERE %s::boolean)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM n)

-- a journal row: (workflow id, seq, type, at, name, pos, attempt, data)
-- name: append_event
INSERT INTO {schema}.journal (workflow_id, seq, type, at, name, pos, attempt, data)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)


-- ==== workflows: control ==================================================================

-- %(actor)s (JSON, or NULL) is recorded in the run's WorkflowCancelled when it stops
-- name: request_cancel
WITH u AS (UPDATE {schema}.workflows SET cancel_requested = true, updated_at = %(now)s,
        cancel_actor = %(actor)s,
        wake_at = CASE WHEN owner IS NULL THEN %(now)s ELSE wake_at END
    WHERE id = %(id)s AND status IN ('PENDING', 'RUNNING', 'WAITING') RETURNING id)
SELECT pg_notify(%(channel)s, '') FROM u

-- the run to terminate, with the rows its end touches (its parent, its children) locked in
-- id order as a commit locks them (rows: id, status)
-- name: lock_to_end
SELECT id, status FROM {schema}.workflows WHERE id IN (
    SELECT %(id)s::text
    UNION SELECT parent_id FROM {schema}.workflows WHERE id = %(id)s
    UNION SELECT id FROM {schema}.workflows WHERE parent_id = %(id)s)
ORDER BY id FOR UPDATE

-- name: terminate_event
INSERT INTO {schema}.journal (workflow_id, seq, type, at, name, pos, attempt, data)
SELECT %(id)s::text, COALESCE(MAX(seq), 0) + 1, %(type)s::text, %(now)s::float8, NULL, NULL,
    NULL, %(data)s::text
FROM {schema}.journal WHERE workflow_id = %(id)s

-- name: terminate
UPDATE {schema}.workflows SET status = %(status)s, detail = %(detail)s, error = %(error)s,
    owner = NULL, epoch = epoch + 1, updated_at = %(now)s, completed_at = %(now)s,
    wake_at = NULL
WHERE id = %(id)s

-- name: lock_to_retry
SELECT status, detail FROM {schema}.workflows WHERE id = %(id)s FOR UPDATE

-- name: retry
UPDATE {schema}.workflows SET status = 'PENDING', owner = NULL, epoch = epoch + 1,
    wake_at = %(now)s, updated_at = %(now)s, error = NULL, detail = NULL, result = NULL,
    completed_at = NULL, cancel_requested = false, cancel_actor = NULL
WHERE id = %(id)s

-- ended runs and everything recorded for them, in one statement (rows another transaction
-- holds wait for the next batch)
-- name: purge
WITH gone AS (SELECT id FROM {schema}.workflows
        WHERE status = ANY(%(statuses)s::text[]) AND completed_at < %(before)s
        LIMIT %(limit)s FOR UPDATE SKIP LOCKED),
    a AS (DELETE FROM {schema}.task_audit WHERE task_id IN
        (SELECT id FROM {schema}.tasks WHERE workflow_id IN (SELECT id FROM gone))),
    d_journal AS (DELETE FROM {schema}.journal WHERE workflow_id IN (SELECT id FROM gone)),
    d_inbox AS (DELETE FROM {schema}.inbox WHERE workflow_id IN (SELECT id FROM gone)),
    d_waits AS (DELETE FROM {schema}.waits WHERE workflow_id IN (SELECT id FROM gone)),
    d_signals AS (DELETE FROM {schema}.signals WHERE workflow_id IN (SELECT id FROM gone)),
    d_workflow_state AS (DELETE FROM {schema}.workflow_state
        WHERE workflow_id IN (SELECT id FROM gone)),
    d_tasks AS (DELETE FROM {schema}.tasks WHERE workflow_id IN (SELECT id FROM gone)),
    w AS (DELETE FROM {schema}.workflows WHERE id IN (SELECT id FROM gone) RETURNING id)
SELECT id FROM w


-- ==== workers ==============================================================================

-- name: upsert_worker
INSERT INTO {schema}.workers (id, host, pid, started_at, lease_until, lease_s, locked_at)
VALUES (%s, %s, %s, %s, %s, %s, now())
ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid,
    started_at = EXCLUDED.started_at, lease_until = EXCLUDED.lease_until,
    lease_s = EXCLUDED.lease_s, locked_at = now()

-- name: renew_worker
UPDATE {schema}.workers SET lease_until = %(lease_until)s WHERE id = %(worker)s

-- name: workers
SELECT id, host, pid, started_at, lease_until FROM {schema}.workers

-- A worker's lock session holds one advisory lock per worker it registered (session.py,
-- LockKeeper); its key: (lock prefix || worker id) hashed.
-- name: worker_lock
SELECT pg_advisory_lock(hashtextextended(%s, 0))

-- name: worker_unlock
SELECT pg_advisory_unlock(hashtextextended(%s, 0))

-- after the lock session reconnected and took its locks again (ids: a text array)
-- name: workers_relocked
UPDATE {schema}.workers SET locked_at = now() WHERE id = ANY(%s)

-- alive: NULL when PostgreSQL cannot tell (no lock taken since the server started), else
-- whether some session still holds the worker's lock; the lock probe is transaction-scoped,
-- so it is gone again when the statement ends. Then: has the server been up a whole lease?
-- (on its own clock: never compared with a worker's, which may run ahead or behind it).
-- Parameters: the lock prefix, then the worker id.
-- name: _liveness
SELECT id, host, pid, started_at, lease_until,
    CASE WHEN locked_at IS NULL OR locked_at < pg_postmaster_start_time() THEN NULL
        WHEN pg_try_advisory_xact_lock(hashtextextended(%s::text || id, 0)) THEN false
        ELSE true END,
    now() - pg_postmaster_start_time() > make_interval(secs => lease_s)
FROM {schema}.workers

-- name: liveness_of
{_liveness} WHERE id = %s

-- name: liveness_of_others
{_liveness} WHERE id <> %s

-- a released run keeps its place in the queue (its old wake_at), due now
-- name: _release
UPDATE {schema}.workflows SET owner = NULL, epoch = epoch + 1,
    wake_at = LEAST(COALESCE(wake_at, %(now)s), %(now)s),
    status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END,
    updated_at = %(now)s

-- name: release_owned
{_release}
WHERE id IN (SELECT id FROM {schema}.workflows WHERE owner = %(worker)s
    AND status IN ('PENDING', 'RUNNING', 'WAITING') ORDER BY id FOR UPDATE)

-- all but the run a blocked body holds (the watchdog)
-- name: release_all_but
{_release}
WHERE id IN (SELECT id FROM {schema}.workflows WHERE owner = %(worker)s AND id <> %(keep)s
    AND status IN ('PENDING', 'RUNNING', 'WAITING') ORDER BY id FOR UPDATE)
RETURNING id

-- owned by a worker no longer registered
-- name: release_orphans
{_release}
WHERE id IN (SELECT id FROM {schema}.workflows WHERE owner IS NOT NULL AND owner <> %(me)s
    AND status IN ('PENDING', 'RUNNING', 'WAITING')
    AND owner NOT IN (SELECT id FROM {schema}.workers) ORDER BY id FOR UPDATE)

-- name: delete_worker
DELETE FROM {schema}.workers WHERE id = %(worker)s RETURNING host, pid

-- name: notify
SELECT pg_notify(%(channel)s, '')


-- ==== claiming ============================================================================

-- what a claim hands out with each row: its journal and what it was delivered (JSON arrays
-- in the row itself, so that no further statement is needed)
-- name: _history
(SELECT json_agg(json_build_array(j.seq, j.type, j.at, j.name, j.pos, j.attempt, j.data)
    ORDER BY j.seq) FROM {schema}.journal j WHERE j.workflow_id = w.id),
(SELECT json_agg(json_build_array(i.pos, i.kind, i.name, i.key, i.data, i.source, i.at,
    i.actor))
    FROM {schema}.inbox i WHERE i.workflow_id = w.id)

-- the queues that have runs waiting to be admitted (parameters: now, names)
-- name: queues_with_work
SELECT DISTINCT queue FROM {schema}.workflows
WHERE queue IS NOT NULL AND owner IS NULL AND started_at IS NULL AND status = 'PENDING'
    AND wake_at <= %s AND name = ANY(%s::text[])
ORDER BY queue

-- The claim: runs outside a queue, or already started on one (a queue admits a run once),
-- with their histories. Then one more row (its id NULL, its two last columns set): whether
-- due rows were left out because another transaction held them locked for a moment (a
-- delivery, a commit touching a parent...), and the queues that have runs waiting to be
-- admitted. Parameters: now, names, limit, worker, now, now; now, names (the rows left
-- out); now, names (queues_with_work).
-- name: claim
WITH due AS (SELECT id FROM {schema}.workflows
        WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING')
            AND wake_at <= %s AND name = ANY(%s::text[])
            AND (queue IS NULL OR started_at IS NOT NULL)
        ORDER BY priority DESC, wake_at LIMIT %s FOR UPDATE SKIP LOCKED),
    claimed AS (UPDATE {schema}.workflows w SET owner = %s, epoch = w.epoch + 1,
            status = 'RUNNING', updated_at = %s, started_at = COALESCE(w.started_at, %s)
        FROM due WHERE w.id = due.id
        RETURNING {workflow_columns_w}, {_history})
SELECT *, NULL::boolean, NULL::text[] FROM claimed
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL,
    EXISTS (SELECT 1 FROM {schema}.workflows
        WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING')
            AND wake_at <= %s AND name = ANY(%s::text[])
            AND (queue IS NULL OR started_at IS NOT NULL)
            AND id NOT IN (SELECT id FROM claimed)),
    ARRAY({queues_with_work})

-- queued runs just admitted (locked by the admitting transaction); parameters: worker,
-- now, now, ids
-- name: claim_ids
UPDATE {schema}.workflows w SET owner = %s, epoch = w.epoch + 1, status = 'RUNNING',
    updated_at = %s, started_at = COALESCE(w.started_at, %s)
WHERE w.id = ANY(%s::text[])
RETURNING {workflow_columns_w}, {_history}

-- rows a claim whose reply was lost gave us (ids, epochs, worker)
-- name: reclaim
SELECT {workflow_columns_w}, {_history} FROM {schema}.workflows w
JOIN unnest(%s::text[], %s::bigint[]) AS d(id, epoch) ON w.id = d.id AND w.epoch = d.epoch
WHERE w.owner = %s AND w.status IN ('PENDING', 'RUNNING', 'WAITING')

-- name: next_wake
SELECT MIN(wake_at) FROM {schema}.workflows
WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING')
    AND name = ANY(%s::text[])

-- name: owned_cancels
SELECT id FROM {schema}.workflows WHERE owner = %(worker)s AND cancel_requested

-- (name, last seen)
-- name: record_name
INSERT INTO {schema}.workflow_types (name, last_seen) VALUES (%s, %s)
ON CONFLICT (name) DO UPDATE SET last_seen = EXCLUDED.last_seen

-- name: known_names
SELECT name FROM {schema}.workflow_types


-- ==== queues ==============================================================================
-- Workers admit queued runs in parallel here, so admission to one queue is serialised by a
-- transaction-level advisory lock on the queue: the counts a claimer reads (running,
-- started recently, busy keys) stay true until it commits what it admitted.

-- name: queue_lock
SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))

-- name: queue_config
SELECT concurrency, rate_count, rate_period, per_key FROM {schema}.queues
WHERE name = %(queue)s

-- name: queue_running
SELECT count(*) FROM {schema}.workflows
WHERE queue = %s AND started_at IS NOT NULL AND status IN ('PENDING', 'RUNNING', 'WAITING')

-- parameters: queue, since
-- name: queue_recent
SELECT count(*) FROM {schema}.workflows WHERE queue = %s AND started_at > %s

-- name: queue_busy_keys
SELECT queue_key, count(*) FROM {schema}.workflows
WHERE queue = %s AND queue_key IS NOT NULL AND started_at IS NOT NULL
    AND status IN ('PENDING', 'RUNNING', 'WAITING')
GROUP BY queue_key

-- parameters: queue, now, names, limit
-- name: queue_candidates
SELECT id, queue_key FROM {schema}.workflows
WHERE queue = %s AND owner IS NULL AND started_at IS NULL AND status = 'PENDING'
    AND wake_at <= %s AND name = ANY(%s::text[])
ORDER BY priority DESC, created_at, created_order LIMIT %s FOR UPDATE SKIP LOCKED

-- name: queue_put
INSERT INTO {schema}.queues (name, concurrency, rate_count, rate_period, per_key, updated_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (name) DO UPDATE SET concurrency = EXCLUDED.concurrency,
    rate_count = EXCLUDED.rate_count, rate_period = EXCLUDED.rate_period,
    per_key = EXCLUDED.per_key, updated_at = EXCLUDED.updated_at

-- name: queue_names
SELECT name FROM {schema}.queues
UNION SELECT DISTINCT queue FROM {schema}.workflows WHERE queue IS NOT NULL
ORDER BY 1

-- name: queue_counts
SELECT count(*) FILTER (WHERE started_at IS NULL AND status = 'PENDING'),
    count(*) FILTER (WHERE started_at IS NOT NULL
        AND status IN ('PENDING', 'RUNNING', 'WAITING')),
    count(*) FILTER (WHERE completed_at > %(since)s)
FROM {schema}.workflows WHERE queue = %(queue)s


-- ==== a group commit ======================================================================

-- A commit locks, in id order, the rows it writes and every row it may touch because of
-- them: the children they wait for, the parents of those that end, the children of those
-- cancelled. One ordered lock statement: commits cannot deadlock, and a parent and its
-- child ending at the same moment see each other. Parameters: ids and the children waited
-- for, the ids ending, the ids stopping (cancelled or timed out).
-- name: lock_for_commit
SELECT id, epoch, cancel_requested, status FROM {schema}.workflows WHERE id IN (
    SELECT unnest(%s::text[])
    UNION SELECT parent_id FROM {schema}.workflows WHERE id = ANY(%s::text[])
    UNION SELECT id FROM {schema}.workflows WHERE parent_id = ANY(%s::text[]))
ORDER BY id FOR UPDATE

-- A group commit is fenced by the SQL itself, so that it needs one round trip: every
-- statement after lock_for_commit writes a workflow's rows only where the row (locked by
-- then) still has the epoch of the write; the locked rows' epochs, read afterwards, say
-- which writes were fenced. ON CONFLICT: the same commit sent again after its reply was
-- lost is harmless. Parameters: seq, type, at, name, pos, attempt, data, workflow id, epoch.
-- name: append
INSERT INTO {schema}.journal (workflow_id, seq, type, at, name, pos, attempt, data)
SELECT w.id, %s::integer, %s::text, %s::float8, %s::text, %s::integer, %s::integer, %s::text
FROM {schema}.workflows w WHERE w.id = %s AND w.epoch = %s
ON CONFLICT DO NOTHING

-- parameters: key, value, updated_at, workflow id, epoch
-- name: state_set
INSERT INTO {schema}.workflow_state (workflow_id, key, value, updated_at)
SELECT w.id, %s::text, %s::text, %s::float8 FROM {schema}.workflows w
WHERE w.id = %s AND w.epoch = %s
ON CONFLICT (workflow_id, key) DO UPDATE SET value = EXCLUDED.value,
    updated_at = EXCLUDED.updated_at

-- the owner's new state; a waiting run wakes at once if it was asked to cancel, the child it
-- waits for has ended or what it waits for was delivered meanwhile
-- name: update
UPDATE {schema}.workflows SET status = %(status)s, result = %(result)s, error = %(error)s,
    detail = COALESCE(%(detail)s, detail),
    wake_at = CASE WHEN NOT %(active)s THEN NULL
        WHEN cancel_requested THEN %(now)s
        WHEN %(child)s::text[] IS NOT NULL AND EXISTS (SELECT 1 FROM {schema}.workflows k
            WHERE k.id = ANY(%(child)s::text[])
            AND k.status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'))
            THEN %(now)s
        WHEN %(pos)s::integer[] IS NOT NULL AND EXISTS (SELECT 1 FROM {schema}.inbox i
            WHERE i.workflow_id = %(id)s AND i.pos = ANY(%(pos)s::integer[])) THEN %(now)s
        ELSE %(wake)s::float8 END,
    updated_at = %(now)s, owner = CASE WHEN %(release)s THEN NULL ELSE owner END,
    completed_at = %(done)s
WHERE id = %(id)s AND epoch = %(epoch)s

-- the same for a run that ended (nothing to wake it for): a statement PostgreSQL plans once
-- per connection, where the one above is planned at every execution
-- name: update_ended
UPDATE {schema}.workflows SET status = %(status)s, result = %(result)s, error = %(error)s,
    detail = COALESCE(%(detail)s, detail), wake_at = NULL, updated_at = %(now)s,
    owner = CASE WHEN %(release)s THEN NULL ELSE owner END, completed_at = %(done)s
WHERE id = %(id)s AND epoch = %(epoch)s

-- the workflows (ids, epochs) whose epoch holds (a NULL epoch: not fenced)
-- name: _held
SELECT w.id, w.parent_id FROM {schema}.workflows w
JOIN unnest(%(ids)s::text[], %(epochs)s::bigint[]) AS c(id, epoch)
    ON w.id = c.id AND (c.epoch IS NULL OR w.epoch = c.epoch)

-- workflows ended: wake their waiting parents; what they waited for and were handed is
-- done with; their open human tasks are cancelled (and audited)
-- name: ended
WITH e AS MATERIALIZED ({_held}),
    woken AS (UPDATE {schema}.workflows SET wake_at = %(now)s
        WHERE status = 'WAITING' AND owner IS NULL AND id IN (SELECT parent_id FROM e)
        RETURNING 1),
    unwaited AS (DELETE FROM {schema}.waits WHERE workflow_id IN (SELECT id FROM e)),
    emptied AS (DELETE FROM {schema}.inbox WHERE workflow_id IN (SELECT id FROM e)),
    dropped AS (UPDATE {schema}.tasks SET status = 'CANCELLED', updated_at = %(now)s,
            version = version + 1
        WHERE workflow_id IN (SELECT id FROM e) AND status IN ('OPEN', 'CLAIMED')
        RETURNING id),
    audit AS (INSERT INTO {schema}.task_audit (task_id, at, "user", action, detail)
        SELECT id, %(now)s, NULL, 'cancelled', %(why)s FROM dropped ORDER BY id)
SELECT pg_notify(%(channel)s, '') FROM woken LIMIT 1

-- workflows cancelled or timed out: so are their children (a statement of its own: a
-- parent woken above may be one of these children)
-- name: cancel_children
WITH u AS (UPDATE {schema}.workflows SET cancel_requested = true,
        wake_at = CASE WHEN owner IS NULL THEN %(now)s ELSE wake_at END
    WHERE parent_id IN (SELECT id FROM ({_held}) c)
        AND status IN ('PENDING', 'RUNNING', 'WAITING')
    RETURNING 1)
SELECT pg_notify(%(channel)s, '') FROM u LIMIT 1

-- released runs (ids, epochs) that hold their epoch and are due at some time (not a run
-- suspended until something is delivered to it): the others should look
-- name: notify_held
SELECT pg_notify(%(channel)s, '') WHERE EXISTS
    (SELECT 1 FROM ({_held}) c JOIN {schema}.workflows r ON r.id = c.id
    WHERE r.wake_at IS NOT NULL)


-- ==== events, signals, waits, deliveries ==================================================
-- Transactions that could miss each other are serialised: publishing an event and a run
-- taking or registering a wait for the same (type, key) hold a transaction-level advisory
-- lock on that pair, and a publisher also one on the event's id; a delivery, a signal and a
-- wait's take lock the run's row first (before the tables below it), so a delivery never
-- slips between a run's decision to suspend and its commit.

-- locks are taken in the order of the array (sort it): no deadlock between takers
-- name: key_locks
SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n

-- name: lock_workflows
SELECT id FROM {schema}.workflows WHERE id = ANY(%s::text[]) ORDER BY id FOR UPDATE

-- Publishing, in one statement run after the event's locks (its key and its id) are held,
-- so that its snapshot sees every wait registered and every event stored before. In order:
-- a stored event with this id makes it a duplicate (nothing else happens); the waits for
-- (type, key) of workflows not ended; their rows locked in id order; the event handed to
-- each wait that has nothing yet (a signal may have beaten it), that wait's rows deleted and
-- its workflow woken if it is suspended; the event stored, delivered or buffered. Returns:
-- 1 if stored (0: a duplicate), the workflows it was handed to, oldest wait first, and
-- whether it sent NOTIFY (it does if it woke any).
-- The snapshot is taken before the row locks are waited for: whatever the lock holder
-- committed (the run ended, suspended, was handed a signal) is read from the rows' latest
-- versions, never from the snapshot: the lock rechecks the status, ON CONFLICT sees every
-- delivery, and the wake-up decides on the row it updates (an UPDATE ... WHERE status =
-- 'WAITING' would test the snapshot's version, and miss a run whose suspension the lock
-- waited for).
-- name: publish
WITH dup AS (SELECT 1 FROM {schema}.events WHERE id = %(id)s),
    waiting AS MATERIALIZED (SELECT w.workflow_id, w.pos, min(w.created_at) AS since
        FROM {schema}.waits w JOIN {schema}.workflows f ON f.id = w.workflow_id
        WHERE w.kind = 'event' AND w.name = %(type)s AND w.key = %(key)s
            AND f.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
            AND NOT EXISTS (SELECT 1 FROM dup)
        GROUP BY w.workflow_id, w.pos),
    locked AS MATERIALIZED (SELECT id FROM {schema}.workflows
        WHERE id IN (SELECT workflow_id FROM waiting)
            AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
        ORDER BY id FOR UPDATE),
    handed AS (INSERT INTO {schema}.inbox
        SELECT w.workflow_id, w.pos, 'event', %(type)s, %(key)s, %(data)s, %(id)s, %(now)s
        FROM waiting w JOIN locked l ON l.id = w.workflow_id
        ON CONFLICT (workflow_id, pos) DO NOTHING
        RETURNING workflow_id, pos),
    taken AS (DELETE FROM {schema}.waits w USING handed h
        WHERE w.workflow_id = h.workflow_id AND w.pos = h.pos),
    woken AS (UPDATE {schema}.workflows SET wake_at = CASE WHEN status = 'WAITING'
            AND owner IS NULL THEN %(now)s ELSE wake_at END
        WHERE id IN (SELECT workflow_id FROM handed)
        RETURNING status = 'WAITING' AND owner IS NULL AS woke),
    stored AS (INSERT INTO {schema}.events (id, type, key, data, published_at, expires_at,
            delivered)
        SELECT %(id)s, %(type)s, %(key)s, %(data)s, %(now)s, %(expires)s,
            EXISTS (SELECT 1 FROM handed)
        WHERE NOT EXISTS (SELECT 1 FROM dup)
        RETURNING 1)
SELECT (SELECT count(*) FROM stored),
    ARRAY(SELECT w.workflow_id FROM waiting w JOIN handed h
        ON h.workflow_id = w.workflow_id AND h.pos = w.pos
        ORDER BY w.since, w.workflow_id, w.pos),
    (SELECT count(*) FROM (SELECT pg_notify(%(channel)s, '') FROM woken WHERE woke
        LIMIT 1) n)

-- a delivery (the run's row is locked): the inbox row, unless the wait got something
-- already ...
-- name: inbox_insert
INSERT INTO {schema}.inbox (workflow_id, pos, kind, name, key, data, source, at, actor)
VALUES (%(id)s, %(pos)s, %(kind)s, %(name)s, %(key)s, %(data)s, %(source)s, %(now)s,
    %(actor)s)
ON CONFLICT (workflow_id, pos) DO NOTHING

-- ... the wait is done with ...
-- name: wait_delete
DELETE FROM {schema}.waits WHERE workflow_id = %(id)s AND pos = %(pos)s

-- ... and its run wakes if it is suspended
-- name: wake
WITH u AS (UPDATE {schema}.workflows SET wake_at = %(now)s
    WHERE id = %(id)s AND status = 'WAITING' AND owner IS NULL RETURNING 1)
SELECT pg_notify(%(channel)s, '') FROM u

-- name: signal_insert
INSERT INTO {schema}.signals (workflow_id, name, data, sent_at, actor)
VALUES (%(id)s, %(name)s, %(data)s, %(now)s, %(actor)s)
RETURNING id

-- name: signal_wait
SELECT pos FROM {schema}.waits WHERE workflow_id = %(id)s AND kind = 'signal'
    AND name = %(name)s
ORDER BY pos LIMIT 1

-- name: signal_taken
UPDATE {schema}.signals SET taken_pos = %(pos)s WHERE id = %(signal)s

-- name: inbox_get
SELECT kind, name, key, data, source, at, actor FROM {schema}.inbox
WHERE workflow_id = %(id)s AND pos = %(pos)s

-- (workflow id, pos, kind, name, key, created_at)
-- name: wait_insert
INSERT INTO {schema}.waits (workflow_id, pos, kind, name, key, created_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING

-- name: buffered_event
SELECT id, data FROM {schema}.events
WHERE type = %(type)s AND key = %(key)s AND taken_by IS NULL AND NOT delivered
    AND expires_at > %(now)s
ORDER BY published_at, seq LIMIT 1

-- name: event_taken
UPDATE {schema}.events SET taken_by = %(taker)s WHERE id = %(event)s

-- name: queued_signal
SELECT id, data, actor FROM {schema}.signals
WHERE workflow_id = %(id)s AND name = %(name)s AND taken_pos IS NULL
ORDER BY id LIMIT 1

-- name: decided_task
SELECT result FROM {schema}.tasks WHERE id = %(task)s AND status IN ('COMPLETED', 'REJECTED')

-- name: state_get
SELECT value FROM {schema}.workflow_state WHERE workflow_id = %(id)s AND key = %(key)s

-- the events no wait consumed yet, oldest first; {where}: " AND " and each condition given
-- (buffered_of_type, buffered_of_key)
-- name: buffered_events
SELECT id, type, key, data, published_at, expires_at FROM {schema}.events
WHERE taken_by IS NULL AND NOT delivered AND expires_at > %(now)s{where}
ORDER BY published_at, seq LIMIT %(limit)s

-- name: buffered_of_type
type = %(type)s

-- name: buffered_of_key
key = %(key)s

-- events past their time-to-live (delivered and taken ones too), and whether each was
-- never consumed (those are logged); of concurrent sweeps, each row is deleted (and
-- returned) by one
-- name: expire_events
DELETE FROM {schema}.events WHERE expires_at <= %(now)s
RETURNING id, type, key, published_at, taken_by IS NULL AND NOT delivered


-- ==== users and human tasks ===============================================================
-- Saving a task is guarded by its version (optimistic concurrency); handing its result to
-- the waiting workflow locks that workflow's row first, like every delivery.

-- name: user_insert
INSERT INTO {schema}.users (name, created_at) VALUES (%(name)s, %(now)s)
ON CONFLICT (name) DO NOTHING

-- (user, group)
-- name: group_insert
INSERT INTO {schema}.user_groups (user_name, group_name) VALUES (%s, %s)
ON CONFLICT DO NOTHING

-- name: user_exists
SELECT 1 FROM {schema}.users WHERE name = %(name)s

-- name: groups_of
SELECT group_name FROM {schema}.user_groups WHERE user_name = %(name)s

-- name: users
SELECT name FROM {schema}.users ORDER BY name

-- name: memberships
SELECT user_name, group_name FROM {schema}.user_groups ORDER BY group_name

-- name: task_insert
INSERT INTO {schema}.tasks ({task_columns})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO NOTHING

-- (task id, at, user, action, detail)
-- name: task_audit
INSERT INTO {schema}.task_audit (task_id, at, "user", action, detail, token_id)
VALUES (%s, %s, %s, %s, %s, %s)

-- name: task
SELECT {task_columns} FROM {schema}.tasks WHERE id = %(id)s

-- oldest first; {where}: " WHERE " and the conditions given (the tasks_* fragments below)
-- name: tasks
SELECT {task_columns} FROM {schema}.tasks{where} ORDER BY created_at, id LIMIT %(limit)s

-- name: tasks_of_assignee
assignee = %(assignee)s

-- name: tasks_of_groups
group_name = ANY(%(groups)s::text[])

-- a user in no group, with no assignee filter, sees nothing
-- name: tasks_of_nobody
false

-- name: tasks_with_status
status = ANY(%(statuses)s::text[])

-- name: tasks_of_workflow
workflow_id = %(workflow_id)s

-- name: task_save
UPDATE {schema}.tasks SET status = %(status)s, assignee = %(assignee)s,
    group_name = %(group)s, approvals = %(approvals)s, claimed_by = %(claimed_by)s,
    result = %(result)s, escalated = %(escalated)s, due = %(due)s, updated_at = %(now)s,
    version = %(version)s
WHERE id = %(id)s AND version = %(expected)s

-- the waits for a task's decision
-- name: task_waits
SELECT workflow_id, pos FROM {schema}.waits WHERE kind = 'task' AND name = %(task)s
ORDER BY workflow_id, pos

-- name: task_history
SELECT at, "user", action, detail, token_id FROM {schema}.task_audit
WHERE task_id = %(task)s ORDER BY at, seq

-- the changes feed of tasks (legato.domain.changes): by (updated_at, id) from a floor
-- name: task_changes
SELECT id, name, status, workflow_id, updated_at, assignee, group_name FROM {schema}.tasks
WHERE updated_at >= %(at)s AND (updated_at > %(at)s OR id >= %(id)s)
ORDER BY updated_at, id LIMIT %(limit)s

-- name: latest_task_changes
SELECT id, name, status, workflow_id, updated_at, assignee, group_name FROM {schema}.tasks
ORDER BY updated_at DESC, id DESC LIMIT %(limit)s


-- ==== schedules ===========================================================================
-- Each tick runs once however many workers look: advancing a schedule is a compare-and-set
-- on its next_tick, in the same transaction as the runs it creates.

-- name: _schedule_columns
name, workflow, cron, timezone, catch_up, args, paused, next_tick, last_tick

-- name: schedule_lock
SELECT {_schedule_columns} FROM {schema}.schedules WHERE name = %(name)s FOR UPDATE

-- name: schedule
SELECT {_schedule_columns} FROM {schema}.schedules WHERE name = %(name)s

-- name: schedule_insert
INSERT INTO {schema}.schedules ({_schedule_columns}, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (name) DO NOTHING

-- name: schedule_update
UPDATE {schema}.schedules SET workflow = %(workflow)s, cron = %(cron)s,
    timezone = %(timezone)s, catch_up = %(catch_up)s, args = %(args)s,
    next_tick = %(next_tick)s, updated_at = %(now)s
WHERE name = %(name)s

-- name: schedules
SELECT {_schedule_columns} FROM {schema}.schedules ORDER BY name

-- name: schedule_pause
UPDATE {schema}.schedules SET paused = %(paused)s,
    next_tick = COALESCE(%(next_tick)s, next_tick), updated_at = %(now)s
WHERE name = %(name)s

-- name: schedule_delete
DELETE FROM {schema}.schedules WHERE name = %(name)s

-- name: schedules_due
SELECT {_schedule_columns} FROM {schema}.schedules
WHERE NOT paused AND next_tick <= %(now)s
ORDER BY next_tick

-- name: next_schedule_tick
SELECT MIN(next_tick) FROM {schema}.schedules WHERE NOT paused

-- name: schedule_advance
UPDATE {schema}.schedules SET next_tick = %(next_tick)s,
    last_tick = COALESCE(%(last_tick)s, last_tick), updated_at = %(now)s
WHERE name = %(name)s AND next_tick = %(expected)s AND NOT paused


-- ==== circuit breakers ====================================================================

-- name: _circuit_columns
name, state, failures, opened_at, next_probe_at, probes, recent, version

-- name: circuit
SELECT {_circuit_columns} FROM {schema}.circuits WHERE name = %(name)s

-- name: circuits
SELECT {_circuit_columns} FROM {schema}.circuits ORDER BY name

-- name: circuit_insert
INSERT INTO {schema}.circuits ({_circuit_columns}, updated_at)
VALUES (%(name)s, %(state)s, %(failures)s, %(opened_at)s, %(next_probe_at)s, %(probes)s,
        %(recent)s, %(version)s, %(now)s)
ON CONFLICT (name) DO NOTHING

-- name: circuit_update
UPDATE {schema}.circuits SET state = %(state)s, failures = %(failures)s,
    opened_at = %(opened_at)s, next_probe_at = %(next_probe_at)s, probes = %(probes)s,
    recent = %(recent)s, version = %(version)s, updated_at = %(now)s
WHERE name = %(name)s AND version = %(expected)s

-- name: transition_insert
INSERT INTO {schema}.circuit_transitions (name, at, source, target, reason)
VALUES (%(name)s, %(now)s, %(source)s, %(target)s, %(reason)s)

-- name: transitions
SELECT name, at, source, target, reason FROM {schema}.circuit_transitions
ORDER BY at DESC LIMIT %(limit)s

-- name: transitions_of
SELECT name, at, source, target, reason FROM {schema}.circuit_transitions
WHERE name = %(name)s
ORDER BY at DESC LIMIT %(limit)s

-- API tokens and the operator log (store/sql_auth.py) ------------------------------------

-- name: _token_columns
id, user_name, role, created_at, expires_at, revoked_at, last_used_at

-- name: token_insert
INSERT INTO {schema}.api_tokens (id, user_name, role, secret_hash, created_at, expires_at)
VALUES (%(id)s, %(user)s, %(role)s, %(hash)s, %(created_at)s, %(expires_at)s)
ON CONFLICT DO NOTHING

-- name: token
SELECT {_token_columns} FROM {schema}.api_tokens WHERE id = %(id)s

-- name: token_by_hash
SELECT {_token_columns} FROM {schema}.api_tokens WHERE secret_hash = %(hash)s

-- name: tokens
SELECT {_token_columns} FROM {schema}.api_tokens ORDER BY created_at, id

-- name: token_revoke
UPDATE {schema}.api_tokens SET revoked_at = %(now)s WHERE id = %(id)s AND revoked_at IS NULL

-- the use of a token, written only if the last one written is older than %(before)s
-- name: token_used
UPDATE {schema}.api_tokens SET last_used_at = %(now)s
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at <= %(before)s)

-- name: tokens_exist
SELECT 1 FROM {schema}.api_tokens WHERE revoked_at IS NULL LIMIT 1

-- name: oplog_insert
INSERT INTO {schema}.operator_log (at, user_name, token_id, action, target, data)
VALUES (%(at)s, %(user)s, %(token_id)s, %(action)s, %(target)s, %(data)s)

-- name: oplog
SELECT at, user_name, token_id, action, target, data, seq FROM {schema}.operator_log{where}
ORDER BY seq DESC LIMIT %(limit)s

-- name: oplog_since
at >= %(since)s

-- name: oplog_action
action = %(action)s
