-- legato schema, SQLite, version 7: claim in index order (no sort of every due row)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE INDEX workflows_claim ON workflows (priority DESC, wake_at)
    WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING');
