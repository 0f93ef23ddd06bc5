-- legato schema, SQLite, version 8: sweep expired buffered events by index
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE INDEX events_expiry ON events (expires_at);
