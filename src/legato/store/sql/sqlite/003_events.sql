-- legato schema, SQLite, version 3: events with business-key correlation, signals, queries
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    key          TEXT NOT NULL DEFAULT '',
    data         TEXT,
    published_at REAL NOT NULL,
    expires_at   REAL NOT NULL,
    taken_by     TEXT,               -- "<workflow id>:<pos>" of the wait that consumed it
    delivered    INTEGER NOT NULL DEFAULT 0  -- handed to workflows already waiting
);
CREATE INDEX events_buffered ON events (type, key, published_at)
    WHERE taken_by IS NULL AND delivered = 0;

-- what suspended workflows wait for; one row per condition of a wait
CREATE TABLE waits (
    workflow_id TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    kind        TEXT NOT NULL,       -- 'event' | 'signal' | 'task'
    name        TEXT NOT NULL,
    key         TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    PRIMARY KEY (workflow_id, pos, kind, name, key)
);
CREATE INDEX waits_match ON waits (kind, name, key);

-- what was delivered to a wait, kept until the workflow ends (so a crash loses nothing)
CREATE TABLE inbox (
    workflow_id TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    key         TEXT NOT NULL DEFAULT '',
    data        TEXT,
    source      TEXT,
    at          REAL NOT NULL,
    PRIMARY KEY (workflow_id, pos)
);

CREATE TABLE signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    data        TEXT,
    sent_at     REAL NOT NULL,
    taken_pos   INTEGER
);
CREATE INDEX signals_queue ON signals (workflow_id, name, id) WHERE taken_pos IS NULL;

CREATE TABLE workflow_state (
    workflow_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (workflow_id, key)
);
