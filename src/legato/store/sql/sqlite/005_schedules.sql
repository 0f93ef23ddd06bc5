-- legato schema, SQLite, version 5: durable cron schedules
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE schedules (
    name       TEXT PRIMARY KEY,
    workflow   TEXT NOT NULL,
    cron       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    catch_up   TEXT NOT NULL,
    args       TEXT NOT NULL,
    paused     INTEGER NOT NULL DEFAULT 0,
    next_tick  REAL NOT NULL,
    last_tick  REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_tick) WHERE paused = 0;
