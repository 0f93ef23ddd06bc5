-- legato schema, SQLite, version 11: API tokens (their secrets' SHA-256, never the secrets)
-- and the operator log (operator actions on no run or task, with who did them)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL,
    role         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   REAL NOT NULL,
    expires_at   REAL,
    revoked_at   REAL,
    last_used_at REAL
);

CREATE TABLE operator_log (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        REAL NOT NULL,
    user_name TEXT,
    token_id  TEXT,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    data      TEXT
);
CREATE INDEX operator_log_at ON operator_log (at);
CREATE INDEX operator_log_action ON operator_log (action, seq);
