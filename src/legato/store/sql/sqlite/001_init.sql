-- legato schema, SQLite, version 1
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE workflows (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL,
    detail           TEXT,
    input            TEXT NOT NULL,
    result           TEXT,
    error            TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    completed_at     REAL,
    owner            TEXT,
    epoch            INTEGER NOT NULL DEFAULT 0,
    wake_at          REAL,
    deadline         REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    queue            TEXT,
    priority         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX workflows_due ON workflows (wake_at)
    WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING');
CREATE INDEX workflows_owner ON workflows (owner) WHERE owner IS NOT NULL;
CREATE INDEX workflows_created ON workflows (created_at);
CREATE INDEX workflows_status ON workflows (status, created_at);
CREATE INDEX workflows_name ON workflows (name, created_at);

CREATE TABLE journal (
    workflow_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    type        TEXT NOT NULL,
    at          REAL NOT NULL,
    name        TEXT,
    pos         INTEGER,
    attempt     INTEGER,
    data        TEXT,
    PRIMARY KEY (workflow_id, seq)
) WITHOUT ROWID;

CREATE TABLE workers (
    id          TEXT PRIMARY KEY,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  REAL NOT NULL,
    lease_until REAL NOT NULL
);

CREATE TABLE workflow_types (
    name      TEXT PRIMARY KEY,
    last_seen REAL NOT NULL
);
