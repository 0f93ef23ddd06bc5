-- legato schema, SQLite, version 7: claim in index order (no sort of every due row)
CREATE INDEX workflows_claim ON workflows (priority DESC, wake_at)
    WHERE owner IS NULL AND status IN ('PENDING', 'RUNNING', 'WAITING');
