-- legato schema, PostgreSQL: the whole current schema, for fresh installs.
-- version: 9
-- Every change goes into a new numbered migration AND here; a test compares the two.
CREATE TABLE workflows (
    id               text PRIMARY KEY,
    name             text NOT NULL,
    status           text NOT NULL,
    detail           text,
    input            text NOT NULL,
    result           text,
    error            text,
    created_at       double precision NOT NULL,
    updated_at       double precision NOT NULL,
    completed_at     double precision,
    owner            text,
    epoch            bigint NOT NULL DEFAULT 0,
    wake_at          double precision,
    deadline         double precision,
    cancel_requested boolean NOT NULL DEFAULT false,
    queue            text,
    priority         integer NOT NULL DEFAULT 0,
    created_order    bigint GENERATED ALWAYS AS IDENTITY,
    parent_id        text,  -- a child workflow: its parent is woken when it ends
    queue_key        text,  -- per-key flow control within the queue
    started_at       double precision,  -- first claimed (a queue admits a run once)
    business_key     text,  -- the caller's key (engine.start(key=...)); runs may share one
    cancel_actor     text   -- JSON: who asked for the cancel (recorded when the run stops)
);
CREATE INDEX workflows_due ON workflows (wake_at)
    WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING');
CREATE INDEX workflows_owner ON workflows (owner) WHERE owner IS NOT NULL;
CREATE INDEX workflows_created ON workflows (created_at, created_order);
CREATE INDEX workflows_status ON workflows (status, created_at);
CREATE INDEX workflows_name ON workflows (name, created_at);
CREATE INDEX workflows_parent ON workflows (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX workflows_queue ON workflows (queue, started_at) WHERE queue IS NOT NULL;
CREATE INDEX workflows_key ON workflows (business_key, created_at)
    WHERE business_key IS NOT NULL;
CREATE INDEX workflows_updated ON workflows (updated_at);

CREATE TABLE journal (
    workflow_id text NOT NULL,
    seq         integer NOT NULL,
    type        text NOT NULL,
    at          double precision NOT NULL,
    name        text,
    pos         integer,
    attempt     integer,
    data        text,
    PRIMARY KEY (workflow_id, seq)
);

-- locked_at: when the worker's session took its advisory lock (server time); a lock taken
-- before the server last started proves nothing, so such a worker is judged by its lease.
CREATE TABLE workers (
    id          text PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    started_at  double precision NOT NULL,
    lease_until double precision NOT NULL,
    lease_s     double precision NOT NULL DEFAULT 0,
    locked_at   timestamptz
);

CREATE TABLE workflow_types (
    name      text PRIMARY KEY,
    last_seen double precision NOT NULL
);

CREATE TABLE circuits (
    name          text PRIMARY KEY,
    state         text NOT NULL,
    failures      integer NOT NULL DEFAULT 0,
    opened_at     double precision,
    next_probe_at double precision,
    probes        integer NOT NULL DEFAULT 0,
    recent        text NOT NULL DEFAULT '',
    version       integer NOT NULL,
    updated_at    double precision NOT NULL
);

CREATE TABLE circuit_transitions (
    name   text NOT NULL,
    at     double precision NOT NULL,
    source text NOT NULL,
    target text NOT NULL,
    reason text NOT NULL
);
CREATE INDEX circuit_transitions_name ON circuit_transitions (name, at);

CREATE TABLE events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    key          text NOT NULL DEFAULT '',
    data         text,
    published_at double precision NOT NULL,
    expires_at   double precision NOT NULL,
    taken_by     text,               -- "<workflow id>:<pos>" of the wait that consumed it
    delivered    boolean NOT NULL DEFAULT false,  -- handed to workflows already waiting
    seq          bigint GENERATED ALWAYS AS IDENTITY  -- publication order among equal times
);
CREATE INDEX events_buffered ON events (type, key, published_at)
    WHERE taken_by IS NULL AND NOT delivered;
CREATE INDEX events_expiry ON events (expires_at);

-- what suspended workflows wait for; one row per condition of a wait
CREATE TABLE waits (
    workflow_id text NOT NULL,
    pos         integer NOT NULL,
    kind        text NOT NULL,       -- 'event' | 'signal' | 'task'
    name        text NOT NULL,
    key         text NOT NULL DEFAULT '',
    created_at  double precision NOT NULL,
    PRIMARY KEY (workflow_id, pos, kind, name, key)
);
CREATE INDEX waits_match ON waits (kind, name, key);

-- what was delivered to a wait, kept until the workflow ends (so a crash loses nothing)
CREATE TABLE inbox (
    workflow_id text NOT NULL,
    pos         integer NOT NULL,
    kind        text NOT NULL,
    name        text NOT NULL,
    key         text NOT NULL DEFAULT '',
    data        text,
    source      text,
    at          double precision NOT NULL,
    actor       text,  -- JSON: who sent the signal delivered here, if named
    PRIMARY KEY (workflow_id, pos)
);

CREATE TABLE signals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id text NOT NULL,
    name        text NOT NULL,
    data        text,
    sent_at     double precision NOT NULL,
    taken_pos   integer,
    actor       text  -- JSON: who sent it, if named
);
CREATE INDEX signals_queue ON signals (workflow_id, name, id) WHERE taken_pos IS NULL;

CREATE TABLE workflow_state (
    workflow_id text NOT NULL,
    key         text NOT NULL,
    value       text,
    updated_at  double precision NOT NULL,
    PRIMARY KEY (workflow_id, key)
);

CREATE TABLE users (
    name       text PRIMARY KEY,
    created_at double precision NOT NULL
);
CREATE TABLE user_groups (
    user_name  text NOT NULL,
    group_name text NOT NULL,
    PRIMARY KEY (user_name, group_name)
);
CREATE TABLE tasks (
    id          text PRIMARY KEY,
    workflow_id text NOT NULL,
    name        text NOT NULL,
    status      text NOT NULL,
    assignee    text,
    group_name  text,
    data        text,
    form        text,
    due         double precision,
    escalate_to text,
    four_eyes   boolean NOT NULL DEFAULT false,
    approvals   text NOT NULL DEFAULT '[]',
    claimed_by  text,
    result      text,
    escalated   boolean NOT NULL DEFAULT false,
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL,
    version     integer NOT NULL DEFAULT 1
);
CREATE INDEX tasks_assignee ON tasks (assignee, status);
CREATE INDEX tasks_group ON tasks (group_name, status);
CREATE INDEX tasks_workflow ON tasks (workflow_id);
CREATE INDEX tasks_updated ON tasks (updated_at, id);
CREATE TABLE task_audit (
    task_id text NOT NULL,
    at      double precision NOT NULL,
    "user"  text,
    action  text NOT NULL,
    detail  text,
    seq     bigint GENERATED ALWAYS AS IDENTITY,  -- order among equal times
    token_id text  -- the API token the user acted through
);
CREATE INDEX task_audit_task ON task_audit (task_id, at);

CREATE TABLE schedules (
    name       text PRIMARY KEY,
    workflow   text NOT NULL,
    cron       text NOT NULL,
    timezone   text NOT NULL,
    catch_up   text NOT NULL,
    args       text NOT NULL,
    paused     boolean NOT NULL DEFAULT false,
    next_tick  double precision NOT NULL,
    last_tick  double precision,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_tick) WHERE NOT paused;

CREATE TABLE queues (
    name        text PRIMARY KEY,
    concurrency integer,
    rate_count  integer,
    rate_period double precision,
    per_key     integer,
    updated_at  double precision NOT NULL
);

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    user_name    text NOT NULL,
    role         text NOT NULL,
    secret_hash  text NOT NULL UNIQUE,  -- SHA-256 of the secret, never the secret
    created_at   double precision NOT NULL,
    expires_at   double precision,
    revoked_at   double precision,
    last_used_at double precision
);

CREATE TABLE operator_log (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        double precision NOT NULL,
    user_name text,  -- NULL: the caller named nobody
    token_id  text,
    action    text NOT NULL,
    target    text NOT NULL,
    data      text
);
CREATE INDEX operator_log_at ON operator_log (at);
CREATE INDEX operator_log_action ON operator_log (action, seq);
