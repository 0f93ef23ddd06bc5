-- legato schema, PostgreSQL, migration 6: queues and flow control
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE queues (
    name        text PRIMARY KEY,
    concurrency integer,
    rate_count  integer,
    rate_period double precision,
    per_key     integer,
    updated_at  double precision NOT NULL
);
ALTER TABLE workflows ADD COLUMN queue_key text;
ALTER TABLE workflows ADD COLUMN started_at double precision;
CREATE INDEX workflows_queue ON workflows (queue, started_at) WHERE queue IS NOT NULL;
