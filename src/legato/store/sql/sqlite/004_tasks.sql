-- legato schema, SQLite, version 4: users, groups and human tasks
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);
CREATE TABLE user_groups (
    user_name  TEXT NOT NULL,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_name, group_name)
);
CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    assignee    TEXT,
    group_name  TEXT,
    data        TEXT,
    form        TEXT,
    due         REAL,
    escalate_to TEXT,
    four_eyes   INTEGER NOT NULL DEFAULT 0,
    approvals   TEXT NOT NULL DEFAULT '[]',
    claimed_by  TEXT,
    result      TEXT,
    escalated   INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX tasks_assignee ON tasks (assignee, status);
CREATE INDEX tasks_group ON tasks (group_name, status);
CREATE INDEX tasks_workflow ON tasks (workflow_id);
CREATE TABLE task_audit (
    task_id TEXT NOT NULL,
    at      REAL NOT NULL,
    user    TEXT,
    action  TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX task_audit_task ON task_audit (task_id, at);
