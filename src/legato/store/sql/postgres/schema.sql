-- legato schema, PostgreSQL: the whole current schema, for fresh installs.
-- version: 2
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
    parent_id        text  -- a child workflow: its parent is woken when it ends
);
CREATE INDEX workflows_due ON workflows (wake_at)
    WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING');
CREATE INDEX workflows_owner ON workflows (owner) WHERE owner IS NOT NULL;
CREATE INDEX workflows_created ON workflows (created_at, created_order);
CREATE INDEX workflows_status ON workflows (status, created_at);
CREATE INDEX workflows_name ON workflows (name, created_at);
CREATE INDEX workflows_parent ON workflows (parent_id) WHERE parent_id IS NOT NULL;

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
