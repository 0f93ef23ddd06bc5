-- legato schema, PostgreSQL, migration 5: durable cron schedules
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE TABLE schedules (
    name       text PRIMARY KEY,
    workflow   text NOT NULL,
    cron       text NOT NULL,
    timezone   text NOT NULL,
    catch_up   text NOT NULL,
    args       text NOT NULL,
    paused     boolean NOT NULL DEFAULT false,
    next_tick  double precision NOT NULL,
    last_tick  double precision,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_tick) WHERE NOT paused;
