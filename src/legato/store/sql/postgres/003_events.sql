-- legato schema, PostgreSQL, migration 3: events with business-key correlation, signals,
-- queries
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    key          text NOT NULL DEFAULT '',
    data         text,
    published_at double precision NOT NULL,
    expires_at   double precision NOT NULL,
    taken_by     text,               -- "<workflow id>:<pos>" of the wait that consumed it
    delivered    boolean NOT NULL DEFAULT false,  -- handed to workflows already waiting
    seq          bigint GENERATED ALWAYS AS IDENTITY  -- publication order among equal times
);
CREATE INDEX events_buffered ON events (type, key, published_at)
    WHERE taken_by IS NULL AND NOT delivered;
CREATE INDEX events_expiry ON events (expires_at);

-- what suspended workflows wait for; one row per condition of a wait
CREATE TABLE waits (
    workflow_id text NOT NULL,
    pos         integer NOT NULL,
    kind        text NOT NULL,       -- 'event' | 'signal' | 'task'
    name        text NOT NULL,
    key         text NOT NULL DEFAULT '',
    created_at  double precision NOT NULL,
    PRIMARY KEY (workflow_id, pos, kind, name, key)
);
CREATE INDEX waits_match ON waits (kind, name, key);

-- what was delivered to a wait, kept until the workflow ends (so a crash loses nothing)
CREATE TABLE inbox (
    workflow_id text NOT NULL,
    pos         integer NOT NULL,
    kind        text NOT NULL,
    name        text NOT NULL,
    key         text NOT NULL DEFAULT '',
    data        text,
    source      text,
    at          double precision NOT NULL,
    PRIMARY KEY (workflow_id, pos)
);

CREATE TABLE signals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id text NOT NULL,
    name        text NOT NULL,
    data        text,
    sent_at     double precision NOT NULL,
    taken_pos   integer
);
CREATE INDEX signals_queue ON signals (workflow_id, name, id) WHERE taken_pos IS NULL;

CREATE TABLE workflow_state (
    workflow_id text NOT NULL,
    key         text NOT NULL,
    value       text,
    updated_at  double precision NOT NULL,
    PRIMARY KEY (workflow_id, key)
);
