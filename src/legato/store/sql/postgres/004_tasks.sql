-- legato schema, PostgreSQL, migration 4: users, groups and human tasks
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE users (
    name       text PRIMARY KEY,
    created_at double precision NOT NULL
);
CREATE TABLE user_groups (
    user_name  text NOT NULL,
    group_name text NOT NULL,
    PRIMARY KEY (user_name, group_name)
);
CREATE TABLE tasks (
    id          text PRIMARY KEY,
    workflow_id text NOT NULL,
    name        text NOT NULL,
    status      text NOT NULL,
    assignee    text,
    group_name  text,
    data        text,
    form        text,
    due         double precision,
    escalate_to text,
    four_eyes   boolean NOT NULL DEFAULT false,
    approvals   text NOT NULL DEFAULT '[]',
    claimed_by  text,
    result      text,
    escalated   boolean NOT NULL DEFAULT false,
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL,
    version     integer NOT NULL DEFAULT 1
);
CREATE INDEX tasks_assignee ON tasks (assignee, status);
CREATE INDEX tasks_group ON tasks (group_name, status);
CREATE INDEX tasks_workflow ON tasks (workflow_id);
CREATE TABLE task_audit (
    task_id text NOT NULL,
    at      double precision NOT NULL,
    "user"  text,
    action  text NOT NULL,
    detail  text,
    seq     bigint GENERATED ALWAYS AS IDENTITY  -- order among equal times
);
CREATE INDEX task_audit_task ON task_audit (task_id, at);
