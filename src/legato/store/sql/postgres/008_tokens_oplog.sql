-- legato schema, PostgreSQL, migration 8: API tokens (their secrets' SHA-256, never the
-- secrets) and the operator log (operator actions on no run or task, with who did them)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    user_name    text NOT NULL,
    role         text NOT NULL,
    secret_hash  text NOT NULL UNIQUE,
    created_at   double precision NOT NULL,
    expires_at   double precision,
    revoked_at   double precision,
    last_used_at double precision
);

CREATE TABLE operator_log (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        double precision NOT NULL,
    user_name text,
    token_id  text,
    action    text NOT NULL,
    target    text NOT NULL,
    data      text
);
CREATE INDEX operator_log_at ON operator_log (at);
CREATE INDEX operator_log_action ON operator_log (action, seq);
