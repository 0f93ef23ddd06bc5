-- Every statement of the SQLite store (legato.store.sqlite), by name.
--
-- Format (legato/store/sqlfile.py): a block runs from its "-- name:" line to the next one;
-- comment lines are not sent. {workflow_columns}, {event_columns} and {task_columns} are
-- the column lists of legato/store/sql_common.py, {<block>} pastes another block,
-- {where} is filled with the conditions a listing was given, and {marks} with one ? per
-- element of the list the statement takes.
--
-- Parameters: the statements legato.store.sql_store.SQLStore runs (shared with PostgreSQL,
-- whose queries.sql has the same names) take named parameters (:name); row inserts take
-- their values in the order of their column list, and so do this store's own statements
-- (claim, commit and create: legato/store/sqlite/store.py).
--
-- Every transaction runs alone (a write takes the file's write lock with BEGIN IMMEDIATE),
-- so nothing here locks rows: the PostgreSQL file does where transactions run side by side.


-- ==== workflows: reading ================================================================

-- name: get_workflow
SELECT {workflow_columns} FROM workflows WHERE id = :id

-- name: journal
SELECT {event_columns} FROM journal WHERE workflow_id = :id ORDER BY seq

-- newest first; {where}: " WHERE " and the conditions given (with_status, with_name,
-- with_key)
-- name: list_workflows
SELECT {workflow_columns} FROM workflows{where}
ORDER BY created_at DESC, rowid DESC LIMIT :limit

-- name: with_status
status = :status

-- name: with_name
name = :name

-- name: with_key
business_key = :key

-- name: count_ended
SELECT COUNT(*) FROM workflows
WHERE status IN (SELECT value FROM json_each(:statuses)) AND completed_at < :before


-- ==== runs: pages, counts, changes, what runs wait for (legato/store/sql_runs.py) ===========

-- a page, newest first by (created_at, id); {where}: the conditions given (runs_*,
-- with_name, with_key)
-- name: runs
SELECT {workflow_columns} FROM workflows{where}
ORDER BY created_at DESC, id DESC LIMIT :limit

-- :statuses: a JSON array
-- name: runs_statuses
status IN (SELECT value FROM json_each(:statuses))

-- name: runs_since
created_at >= :since

-- name: runs_until
created_at < :until

-- keyset: strictly after the last row of the page before
-- name: runs_before
created_at <= :before_at AND (created_at < :before_at OR id < :before_id)

-- {where}: with_name, or nothing
-- name: status_counts
SELECT status, COUNT(*) FROM workflows{where} GROUP BY status

-- the changes feed: by (updated_at, id), from (:at, :id) on
-- name: changes
SELECT id, name, status, business_key, updated_at FROM workflows
WHERE updated_at >= :at AND (updated_at > :at OR id >= :id)
ORDER BY updated_at, id LIMIT :limit

-- name: latest_changes
SELECT id, name, status, business_key, updated_at FROM workflows
ORDER BY updated_at DESC, id DESC LIMIT :limit

-- what the runs :ids (a JSON array) wait for: queue admission, journals, deliveries, open
-- human tasks, children
-- name: facts_rows
SELECT id, started_at FROM workflows WHERE id IN (SELECT value FROM json_each(:ids))

-- name: facts_journals
SELECT workflow_id, {event_columns} FROM journal
WHERE workflow_id IN (SELECT value FROM json_each(:ids)) ORDER BY workflow_id, seq

-- name: facts_inbox
SELECT workflow_id, pos FROM inbox WHERE workflow_id IN (SELECT value FROM json_each(:ids))

-- name: facts_tasks
SELECT workflow_id, id, name, assignee, group_name, due, claimed_by FROM tasks
WHERE workflow_id IN (SELECT value FROM json_each(:ids)) AND status IN ('OPEN', 'CLAIMED')

-- name: facts_children
SELECT parent_id, id, status FROM workflows
WHERE parent_id IN (SELECT value FROM json_each(:ids))

-- name: cancel_actor
SELECT cancel_actor FROM workflows WHERE id = :id


-- ==== workflows: starting (create, create_many, a group commit's starts) ===================

-- name: insert_run
INSERT INTO workflows (id, name, status, input, created_at, updated_at, owner, epoch, wake_at,
                       deadline, queue, priority, parent_id, queue_key, started_at,
                       business_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING

-- a run and its WorkflowStarted event in one statement (the view and trigger of migration
-- 009, recreated by 010): a start alone is one call to SQLite
-- name: insert_start
INSERT INTO workflow_starts (id, name, status, input, created_at, updated_at, owner, epoch,
                             wake_at, deadline, queue, priority, parent_id, queue_key,
                             started_at, business_key, ev_seq, ev_type, ev_at, ev_name, ev_pos,
                             ev_attempt, ev_data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- a journal row: (workflow id, seq, type, at, name, pos, attempt, data)
-- name: append_event
INSERT INTO journal (workflow_id, seq, type, at, name, pos, attempt, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)


-- ==== workflows: control ==================================================================

-- :actor (JSON, or NULL) is recorded in the run's WorkflowCancelled when it stops
-- name: request_cancel
UPDATE workflows SET cancel_requested = 1, updated_at = :now, cancel_actor = :actor,
    wake_at = CASE WHEN owner IS NULL THEN :now ELSE wake_at END
WHERE id = :id AND status IN ('PENDING', 'RUNNING', 'WAITING')

-- the run to terminate (rows: id, status)
-- name: lock_to_end
SELECT id, status FROM workflows WHERE id = :id

-- name: terminate_event
INSERT INTO journal (workflow_id, seq, type, at, name, pos, attempt, data)
SELECT :id, COALESCE(MAX(seq), 0) + 1, :type, :now, NULL, NULL, NULL, :data
FROM journal WHERE workflow_id = :id

-- name: terminate
UPDATE workflows SET status = :status, detail = :detail, error = :error, owner = NULL,
    epoch = epoch + 1, updated_at = :now, completed_at = :now, wake_at = NULL
WHERE id = :id

-- name: lock_to_retry
SELECT status, detail FROM workflows WHERE id = :id

-- name: retry
UPDATE workflows SET status = 'PENDING', owner = NULL, epoch = epoch + 1, wake_at = :now,
    updated_at = :now, error = NULL, detail = NULL, result = NULL, completed_at = NULL,
    cancel_requested = 0, cancel_actor = NULL
WHERE id = :id

-- the ended runs to purge, then everything recorded for them ({marks}: one ? per id)
-- name: purge_ids
SELECT id FROM workflows
WHERE status IN (SELECT value FROM json_each(:statuses)) AND completed_at < :before
LIMIT :limit

-- name: purge
DELETE FROM task_audit WHERE task_id IN
    (SELECT id FROM tasks WHERE workflow_id IN (SELECT value FROM json_each(:ids)));
DELETE FROM journal WHERE workflow_id IN (SELECT value FROM json_each(:ids));
DELETE FROM inbox WHERE workflow_id IN (SELECT value FROM json_each(:ids));
DELETE FROM waits WHERE workflow_id IN (SELECT value FROM json_each(:ids));
DELETE FROM signals WHERE workflow_id IN (SELECT value FROM json_each(:ids));
DELETE FROM workflow_state WHERE workflow_id IN (SELECT value FROM json_each(:ids));
DELETE FROM tasks WHERE workflow_id IN (SELECT value FROM json_each(:ids));
DELETE FROM workflows WHERE id IN (SELECT value FROM json_each(:ids));


-- ==== workers ==============================================================================

-- name: insert_worker
INSERT OR REPLACE INTO workers (id, host, pid, started_at, lease_until) VALUES (?, ?, ?, ?, ?)

-- name: renew_worker
UPDATE workers SET lease_until = :lease_until WHERE id = :worker

-- name: workers
SELECT id, host, pid, started_at, lease_until FROM workers

-- a released run keeps its place in the queue (its old wake_at), due now
-- name: _release
UPDATE workflows SET owner = NULL, epoch = epoch + 1,
    wake_at = MIN(COALESCE(wake_at, :now), :now),
    status = CASE WHEN status = 'RUNNING' THEN 'PENDING' ELSE status END, updated_at = :now

-- name: release_owned
{_release}
WHERE owner = :worker AND status IN ('PENDING', 'RUNNING', 'WAITING')

-- all but the run a blocked body holds (the watchdog)
-- name: release_all_but
{_release}
WHERE owner = :worker AND id <> :keep AND status IN ('PENDING', 'RUNNING', 'WAITING')
RETURNING id

-- owned by a worker no longer registered
-- name: release_orphans
{_release}
WHERE owner IS NOT NULL AND owner <> :me AND status IN ('PENDING', 'RUNNING', 'WAITING')
    AND owner NOT IN (SELECT id FROM workers)

-- name: delete_worker
DELETE FROM workers WHERE id = :worker RETURNING host, pid


-- ==== claiming ============================================================================

-- runs outside a queue, or already started on one (a queue admits a run once), in the
-- order of the workflows_claim index (no sort); parameters: now, the names, limit
-- name: claim_due
SELECT id FROM workflows INDEXED BY workflows_claim
WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING') AND wake_at <= ?
    AND name IN ({marks}) AND (queue IS NULL OR started_at IS NOT NULL)
ORDER BY priority DESC, wake_at LIMIT ?

-- parameters: worker, now, now, the ids
-- name: claim_rows
UPDATE workflows SET owner = ?, epoch = epoch + 1, status = 'RUNNING', updated_at = ?,
    started_at = COALESCE(started_at, ?)
WHERE id IN ({marks}) RETURNING {workflow_columns}

-- name: claim_journals
SELECT workflow_id, {event_columns} FROM journal
WHERE workflow_id IN ({marks}) ORDER BY workflow_id, seq

-- name: claim_inboxes
SELECT workflow_id, pos, kind, name, key, data, source, at, actor FROM inbox
WHERE workflow_id IN ({marks})

-- name: next_wake
SELECT MIN(wake_at) FROM workflows
WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING') AND name IN ({marks})

-- name: owned_cancels
SELECT id FROM workflows WHERE owner = :worker AND cancel_requested = 1

-- (name, last seen)
-- name: record_name
INSERT OR REPLACE INTO workflow_types (name, last_seen) VALUES (?, ?)

-- name: known_names
SELECT name FROM workflow_types


-- ==== queues ==============================================================================

-- queues with runs waiting to be admitted; parameters: now, the names
-- name: queues_with_work
SELECT DISTINCT queue FROM workflows
WHERE queue IS NOT NULL AND owner IS NULL AND started_at IS NULL AND status = 'PENDING'
    AND wake_at <= ? AND name IN ({marks})

-- name: queue_config
SELECT concurrency, rate_count, rate_period, per_key FROM queues WHERE name = :queue

-- name: queue_running
SELECT COUNT(*) FROM workflows
WHERE queue = ? AND started_at IS NOT NULL AND status IN ('PENDING', 'RUNNING', 'WAITING')

-- parameters: queue, since
-- name: queue_recent
SELECT COUNT(*) FROM workflows WHERE queue = ? AND started_at > ?

-- name: queue_busy_keys
SELECT queue_key, COUNT(*) FROM workflows
WHERE queue = ? AND queue_key IS NOT NULL AND started_at IS NOT NULL
    AND status IN ('PENDING', 'RUNNING', 'WAITING')
GROUP BY queue_key

-- parameters: queue, now, the names
-- name: queue_candidates
SELECT id, queue_key FROM workflows
WHERE queue = ? AND owner IS NULL AND started_at IS NULL AND status = 'PENDING'
    AND wake_at <= ? AND name IN ({marks})
ORDER BY priority DESC, created_at, rowid

-- name: queue_put
INSERT INTO queues (name, concurrency, rate_count, rate_period, per_key, updated_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency,
    rate_count = excluded.rate_count, rate_period = excluded.rate_period,
    per_key = excluded.per_key, updated_at = excluded.updated_at

-- name: queue_names
SELECT name FROM queues UNION SELECT DISTINCT queue FROM workflows WHERE queue IS NOT NULL
ORDER BY 1

-- name: queue_counts
SELECT SUM(started_at IS NULL AND status = 'PENDING'),
    SUM(started_at IS NOT NULL AND status IN ('PENDING', 'RUNNING', 'WAITING')),
    SUM(completed_at > :since)
FROM workflows WHERE queue = :queue


-- ==== a group commit ======================================================================

-- name: epochs
SELECT id, epoch, cancel_requested FROM workflows WHERE id IN ({marks})

-- (workflow id, key, value, updated_at)
-- name: state_set
INSERT INTO workflow_state (workflow_id, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (workflow_id, key) DO UPDATE SET value = excluded.value,
    updated_at = excluded.updated_at

-- the new state a run's owner writes; a waiting run wakes at once if it was asked to cancel,
-- a child it waits for has ended or something it waits for was delivered meanwhile (:child,
-- :pos: JSON arrays, or NULL)
-- name: update_run
UPDATE workflows SET status = :status, result = :result, error = :error,
    detail = COALESCE(:detail, detail),
    wake_at = CASE WHEN :active = 0 THEN NULL
        WHEN cancel_requested = 1 THEN :now
        WHEN :child IS NOT NULL AND EXISTS (SELECT 1 FROM workflows k
            WHERE k.id IN (SELECT value FROM json_each(:child))
            AND k.status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')) THEN :now
        WHEN :pos IS NOT NULL AND EXISTS (SELECT 1 FROM inbox i WHERE i.workflow_id = :id
            AND i.pos IN (SELECT value FROM json_each(:pos))) THEN :now
        ELSE :wake END,
    updated_at = :now, owner = CASE WHEN :release THEN NULL ELSE owner END,
    completed_at = :done
WHERE id = :id AND epoch = :epoch

-- runs ended: their waiting parents wake (parameters: now, the ids) ...
-- name: wake_parents
UPDATE workflows SET wake_at = ?
WHERE status = 'WAITING' AND owner IS NULL AND id IN
    (SELECT parent_id FROM workflows WHERE id IN ({marks}) AND parent_id IS NOT NULL)

-- ... what they waited for and were handed is done with ...
-- name: forget_waits
DELETE FROM waits WHERE workflow_id IN ({marks})

-- name: forget_inbox
DELETE FROM inbox WHERE workflow_id IN ({marks})

-- ... their open human tasks are cancelled ...
-- name: open_tasks
SELECT id FROM tasks WHERE workflow_id IN ({marks}) AND status IN ('OPEN', 'CLAIMED')

-- (now, task id)
-- name: cancel_task
UPDATE tasks SET status = 'CANCELLED', updated_at = ?, version = version + 1 WHERE id = ?

-- ... and the children of those cancelled or timed out are asked to cancel (now, parent id)
-- name: cancel_children
UPDATE workflows SET cancel_requested = 1,
    wake_at = CASE WHEN owner IS NULL THEN ? ELSE wake_at END
WHERE parent_id = ? AND status IN ('PENDING', 'RUNNING', 'WAITING')


-- ==== events, signals, waits, deliveries ==================================================

-- name: event_insert
INSERT INTO events (id, type, key, data, published_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING

-- the waits for (type, key) of runs not ended, oldest first
-- name: event_waits
SELECT DISTINCT w.workflow_id, w.pos FROM waits w JOIN workflows f ON f.id = w.workflow_id
WHERE w.kind = 'event' AND w.name = ? AND w.key = ?
    AND f.status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT')
ORDER BY w.created_at

-- name: event_delivered
UPDATE events SET delivered = 1 WHERE id = ?

-- a delivery: the inbox row, unless the wait got something already ...
-- name: inbox_insert
INSERT INTO inbox (workflow_id, pos, kind, name, key, data, source, at, actor)
VALUES (:id, :pos, :kind, :name, :key, :data, :source, :now, :actor)
ON CONFLICT (workflow_id, pos) DO NOTHING

-- ... the wait is done with ...
-- name: wait_delete
DELETE FROM waits WHERE workflow_id = :id AND pos = :pos

-- ... and its run wakes if it is suspended
-- name: wake
UPDATE workflows SET wake_at = :now WHERE id = :id AND status = 'WAITING' AND owner IS NULL

-- name: signal_insert
INSERT INTO signals (workflow_id, name, data, sent_at, actor)
VALUES (:id, :name, :data, :now, :actor)
RETURNING id

-- name: signal_wait
SELECT pos FROM waits WHERE workflow_id = :id AND kind = 'signal' AND name = :name
ORDER BY pos LIMIT 1

-- name: signal_taken
UPDATE signals SET taken_pos = :pos WHERE id = :signal

-- name: inbox_get
SELECT kind, name, key, data, source, at, actor FROM inbox
WHERE workflow_id = :id AND pos = :pos

-- (workflow id, pos, kind, name, key, created_at)
-- name: wait_insert
INSERT INTO waits (workflow_id, pos, kind, name, key, created_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING

-- name: buffered_event
SELECT id, data FROM events
WHERE type = :type AND key = :key AND taken_by IS NULL AND delivered = 0
    AND expires_at > :now
ORDER BY published_at, rowid LIMIT 1

-- name: event_taken
UPDATE events SET taken_by = :taker WHERE id = :event

-- name: queued_signal
SELECT id, data, actor FROM signals
WHERE workflow_id = :id AND name = :name AND taken_pos IS NULL
ORDER BY id LIMIT 1

-- name: decided_task
SELECT result FROM tasks WHERE id = :task AND status IN ('COMPLETED', 'REJECTED')

-- name: state_get
SELECT value FROM workflow_state WHERE workflow_id = :id AND key = :key

-- the events no wait consumed yet, oldest first; {where}: " AND " and each condition given
-- (buffered_of_type, buffered_of_key)
-- name: buffered_events
SELECT id, type, key, data, published_at, expires_at FROM events
WHERE taken_by IS NULL AND delivered = 0 AND expires_at > :now{where}
ORDER BY published_at, rowid LIMIT :limit

-- name: buffered_of_type
type = :type

-- name: buffered_of_key
key = :key

-- events past their time-to-live (delivered and taken ones too), and whether each was
-- never consumed (those are logged)
-- name: expire_events
DELETE FROM events WHERE expires_at <= :now
RETURNING id, type, key, published_at, taken_by IS NULL AND delivered = 0


-- ==== users and human tasks ===============================================================

-- name: user_insert
INSERT INTO users (name, created_at) VALUES (:name, :now) ON CONFLICT (name) DO NOTHING

-- (user, group)
-- name: group_insert
INSERT INTO user_groups (user_name, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING

-- name: user_exists
SELECT 1 FROM users WHERE name = :name

-- name: groups_of
SELECT group_name FROM user_groups WHERE user_name = :name

-- name: users
SELECT name FROM users ORDER BY name

-- name: memberships
SELECT user_name, group_name FROM user_groups ORDER BY group_name

-- name: task_insert
INSERT INTO tasks ({task_columns})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING

-- (task id, at, user, action, detail)
-- name: task_audit
INSERT INTO task_audit (task_id, at, "user", action, detail, token_id) VALUES (?, ?, ?, ?, ?, ?)

-- name: task
SELECT {task_columns} FROM tasks WHERE id = :id

-- oldest first; {where}: " WHERE " and the conditions given (the tasks_* fragments below)
-- name: tasks
SELECT {task_columns} FROM tasks{where} ORDER BY created_at, id LIMIT :limit

-- name: tasks_of_assignee
assignee = :assignee

-- :groups: a JSON array
-- name: tasks_of_groups
group_name IN (SELECT value FROM json_each(:groups))

-- a user in no group, with no assignee filter, sees nothing
-- name: tasks_of_nobody
0

-- :statuses: a JSON array
-- name: tasks_with_status
status IN (SELECT value FROM json_each(:statuses))

-- name: tasks_of_workflow
workflow_id = :workflow_id

-- name: task_save
UPDATE tasks SET status = :status, assignee = :assignee, group_name = :group,
    approvals = :approvals, claimed_by = :claimed_by, result = :result,
    escalated = :escalated, due = :due, updated_at = :now, version = :version
WHERE id = :id AND version = :expected

-- the waits for a task's decision
-- name: task_waits
SELECT workflow_id, pos FROM waits WHERE kind = 'task' AND name = :task
ORDER BY workflow_id, pos

-- name: task_history
SELECT at, "user", action, detail, token_id FROM task_audit WHERE task_id = :task
ORDER BY at, rowid

-- the changes feed of tasks (legato.domain.changes): by (updated_at, id) from a floor
-- name: task_changes
SELECT id, name, status, workflow_id, updated_at, assignee, group_name FROM tasks
WHERE updated_at >= :at AND (updated_at > :at OR id >= :id)
ORDER BY updated_at, id LIMIT :limit

-- name: latest_task_changes
SELECT id, name, status, workflow_id, updated_at, assignee, group_name FROM tasks
ORDER BY updated_at DESC, id DESC LIMIT :limit


-- ==== schedules ===========================================================================

-- name: _schedule_columns
name, workflow, cron, timezone, catch_up, args, paused, next_tick, last_tick

-- (every write is alone here: nothing to lock)
-- name: schedule_lock
SELECT {_schedule_columns} FROM schedules WHERE name = :name

-- name: schedule
SELECT {_schedule_columns} FROM schedules WHERE name = :name

-- name: schedule_insert
INSERT INTO schedules ({_schedule_columns}, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO NOTHING

-- name: schedule_update
UPDATE schedules SET workflow = :workflow, cron = :cron, timezone = :timezone,
    catch_up = :catch_up, args = :args, next_tick = :next_tick, updated_at = :now
WHERE name = :name

-- name: schedules
SELECT {_schedule_columns} FROM schedules ORDER BY name

-- name: schedule_pause
UPDATE schedules SET paused = :paused, next_tick = COALESCE(:next_tick, next_tick),
    updated_at = :now
WHERE name = :name

-- name: schedule_delete
DELETE FROM schedules WHERE name = :name

-- name: schedules_due
SELECT {_schedule_columns} FROM schedules WHERE paused = 0 AND next_tick <= :now
ORDER BY next_tick

-- name: next_schedule_tick
SELECT MIN(next_tick) FROM schedules WHERE paused = 0

-- a compare-and-set on next_tick: each tick runs once
-- name: schedule_advance
UPDATE schedules SET next_tick = :next_tick, last_tick = COALESCE(:last_tick, last_tick),
    updated_at = :now
WHERE name = :name AND next_tick = :expected AND paused = 0


-- ==== circuit breakers ====================================================================

-- name: _circuit_columns
name, state, failures, opened_at, next_probe_at, probes, recent, version

-- name: circuit
SELECT {_circuit_columns} FROM circuits WHERE name = :name

-- name: circuits
SELECT {_circuit_columns} FROM circuits ORDER BY name

-- name: circuit_insert
INSERT INTO circuits ({_circuit_columns}, updated_at)
VALUES (:name, :state, :failures, :opened_at, :next_probe_at, :probes, :recent, :version,
        :now)
ON CONFLICT (name) DO NOTHING

-- name: circuit_update
UPDATE circuits SET state = :state, failures = :failures, opened_at = :opened_at,
    next_probe_at = :next_probe_at, probes = :probes, recent = :recent, version = :version,
    updated_at = :now
WHERE name = :name AND version = :expected

-- name: transition_insert
INSERT INTO circuit_transitions (name, at, source, target, reason)
VALUES (:name, :now, :source, :target, :reason)

-- name: transitions
SELECT name, at, source, target, reason FROM circuit_transitions
ORDER BY at DESC, rowid DESC LIMIT :limit

-- name: transitions_of
SELECT name, at, source, target, reason FROM circuit_transitions WHERE name = :name
ORDER BY at DESC, rowid DESC LIMIT :limit

-- API tokens and the operator log (store/sql_auth.py) ------------------------------------

-- name: _token_columns
id, user_name, role, created_at, expires_at, revoked_at, last_used_at

-- name: token_insert
INSERT INTO api_tokens (id, user_name, role, secret_hash, created_at, expires_at)
VALUES (:id, :user, :role, :hash, :created_at, :expires_at)
ON CONFLICT DO NOTHING

-- name: token
SELECT {_token_columns} FROM api_tokens WHERE id = :id

-- name: token_by_hash
SELECT {_token_columns} FROM api_tokens WHERE secret_hash = :hash

-- name: tokens
SELECT {_token_columns} FROM api_tokens ORDER BY created_at, id

-- name: token_revoke
UPDATE api_tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL

-- the use of a token, written only if the last one written is older than :before
-- name: token_used
UPDATE api_tokens SET last_used_at = :now
WHERE id = :id AND (last_used_at IS NULL OR last_used_at <= :before)

-- name: tokens_exist
SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1

-- name: oplog_insert
INSERT INTO operator_log (at, user_name, token_id, action, target, data)
VALUES (:at, :user, :token_id, :action, :target, :data)

-- name: oplog
SELECT at, user_name, token_id, action, target, data, seq FROM operator_log{where}
ORDER BY seq DESC LIMIT :limit

-- name: oplog_since
at >= :since

-- name: oplog_action
action = :action
