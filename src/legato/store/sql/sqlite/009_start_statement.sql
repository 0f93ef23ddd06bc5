-- legato schema, SQLite, version 9: a run and its WorkflowStarted event written by one
-- statement (INSERT INTO workflow_starts), so that a start alone is one call to SQLite, its
-- own transaction; on an id that exists, nothing is written (changes() is 0 in the trigger)
-- oldest code: 0.1.0 (the oldest legato that can run on this schema version)
CREATE VIEW workflow_starts AS
    SELECT w.id, w.name, w.status, w.input, w.created_at, w.updated_at, w.owner, w.epoch,
           w.wake_at, w.deadline, w.queue, w.priority, w.parent_id, w.queue_key, w.started_at,
           j.seq AS ev_seq, j.type AS ev_type, j.at AS ev_at, j.name AS ev_name,
           j.pos AS ev_pos, j.attempt AS ev_attempt, j.data AS ev_data
    FROM workflows w JOIN journal j ON j.workflow_id = w.id AND j.seq = 1;
CREATE TRIGGER workflow_starts_insert INSTEAD OF INSERT ON workflow_starts BEGIN
    INSERT INTO workflows (id, name, status, input, created_at, updated_at, owner, epoch,
                           wake_at, deadline, queue, priority, parent_id, queue_key, started_at)
    VALUES (NEW.id, NEW.name, NEW.status, NEW.input, NEW.created_at, NEW.updated_at,
            NEW.owner, NEW.epoch, NEW.wake_at, NEW.deadline, NEW.queue, NEW.priority,
            NEW.parent_id, NEW.queue_key, NEW.started_at)
    ON CONFLICT (id) DO NOTHING;
    INSERT INTO journal (workflow_id, seq, type, at, name, pos, attempt, data)
    SELECT NEW.id, NEW.ev_seq, NEW.ev_type, NEW.ev_at, NEW.ev_name, NEW.ev_pos,
           NEW.ev_attempt, NEW.ev_data
    WHERE changes() = 1;
END;
