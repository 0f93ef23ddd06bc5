-- legato schema, SQLite, version 12: who acted on a human task through an API token (the
-- token's id beside the user in its audit), and the tasks in (updated_at, id) order for the
-- changes feed of tasks (engine.tasks.changes, the HTTP API's stream)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
ALTER TABLE task_audit ADD COLUMN token_id TEXT;
CREATE INDEX tasks_updated ON tasks (updated_at, id);
