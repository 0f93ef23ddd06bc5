-- legato schema, SQLite, version 2: shared circuit breakers, child workflows
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE circuits (
    name          TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    opened_at     REAL,
    next_probe_at REAL,
    probes        INTEGER NOT NULL DEFAULT 0,
    recent        TEXT NOT NULL DEFAULT '',
    version       INTEGER NOT NULL,
    updated_at    REAL NOT NULL
);

CREATE TABLE circuit_transitions (
    name   TEXT NOT NULL,
    at     REAL NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX circuit_transitions_name ON circuit_transitions (name, at);

ALTER TABLE workflows ADD COLUMN parent_id TEXT;
CREATE INDEX workflows_parent ON workflows (parent_id) WHERE parent_id IS NOT NULL;
