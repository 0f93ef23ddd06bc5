-- legato schema, PostgreSQL, migration 2: shared circuit breakers, child workflows
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
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

ALTER TABLE workflows ADD COLUMN parent_id text;
CREATE INDEX workflows_parent ON workflows (parent_id) WHERE parent_id IS NOT NULL;
