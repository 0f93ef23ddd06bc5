-- legato schema, SQLite, version 8: sweep expired buffered events by index
CREATE INDEX events_expiry ON events (expires_at);
