-- legato schema, PostgreSQL, migration 7: a business key on runs (several runs may share
-- one), who asked for a run's cancel or sent a signal (recorded in the run's history), and
-- the indexes of listing runs by key and of the changes feed (by update time)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
ALTER TABLE workflows ADD COLUMN business_key text;
ALTER TABLE workflows ADD COLUMN cancel_actor text;
ALTER TABLE signals ADD COLUMN actor text;
ALTER TABLE inbox ADD COLUMN actor text;
CREATE INDEX workflows_key ON workflows (business_key, created_at)
    WHERE business_key IS NOT NULL;
CREATE INDEX workflows_updated ON workflows (updated_at);
