-- legato schema, SQLite, version 6: queues and flow control
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE queues (
    name        TEXT PRIMARY KEY,
    concurrency INTEGER,
    rate_count  INTEGER,
    rate_period REAL,
    per_key     INTEGER,
    updated_at  REAL NOT NULL
);
ALTER TABLE workflows ADD COLUMN queue_key TEXT;
ALTER TABLE workflows ADD COLUMN started_at REAL;
CREATE INDEX workflows_queue ON workflows (queue, started_at) WHERE queue IS NOT NULL;
