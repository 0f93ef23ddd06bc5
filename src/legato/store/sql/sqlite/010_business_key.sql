-- legato schema, SQLite, version 10: a business key on runs (several runs may share one),
-- who asked for a run's cancel or sent a signal (recorded in the run's history), and the
-- indexes of listing runs by key and of the changes feed (by update time)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
ALTER TABLE workflows ADD COLUMN business_key TEXT;
ALTER TABLE workflows ADD COLUMN cancel_actor TEXT;
ALTER TABLE signals ADD COLUMN actor TEXT;
ALTER TABLE inbox ADD COLUMN actor TEXT;
CREATE INDEX workflows_key ON workflows (business_key, created_at)
    WHERE business_key IS NOT NULL;
CREATE INDEX workflows_updated ON workflows (updated_at);
-- the start statement (009) writes the key too
DROP TRIGGER workflow_starts_insert;
DROP VIEW workflow_starts;
CREATE VIEW workflow_starts AS
    SELECT w.id, w.name, w.status, w.input, w.created_at, w.updated_at, w.owner, w.epoch,
           w.wake_at, w.deadline, w.queue, w.priority, w.parent_id, w.queue_key, w.started_at,
           w.business_key,
           j.seq AS ev_seq, j.type AS ev_type, j.at AS ev_at, j.name AS ev_name,
           j.pos AS ev_pos, j.attempt AS ev_attempt, j.data AS ev_data
    FROM workflows w JOIN journal j ON j.workflow_id = w.id AND j.seq = 1;
CREATE TRIGGER workflow_starts_insert INSTEAD OF INSERT ON workflow_starts BEGIN
    INSERT INTO workflows (id, name, status, input, created_at, updated_at, owner, epoch,
                           wake_at, deadline, queue, priority, parent_id, queue_key, started_at,
                           business_key)
    VALUES (NEW.id, NEW.name, NEW.status, NEW.input, NEW.created_at, NEW.updated_at,
            NEW.owner, NEW.epoch, NEW.wake_at, NEW.deadline, NEW.queue, NEW.priority,
            NEW.parent_id, NEW.queue_key, NEW.started_at, NEW.business_key)
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO journal (workflow_id, seq, type, at, name, pos, attempt, data)
    SELECT NEW.id, NEW.ev_seq, NEW.ev_type, NEW.ev_at, NEW.ev_name, NEW.ev_pos,
           NEW.ev_attempt, NEW.ev_data
    WHERE changes() = 1;
END;
