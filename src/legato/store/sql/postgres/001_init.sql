-- legato schema, PostgreSQL, migration 1 (runs with search_path set to legato's schema)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
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
    created_order    bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX workflows_due ON workflows (wake_at)
    WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING');
CREATE INDEX workflows_owner ON workflows (owner) WHERE owner IS NOT NULL;
CREATE INDEX workflows_created ON workflows (created_at, created_order);
CREATE INDEX workflows_status ON workflows (status, created_at);
CREATE INDEX workflows_name ON workflows (name, created_at);

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
