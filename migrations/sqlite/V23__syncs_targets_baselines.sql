-- A sync is one invocation of `sync`, over one target or many; its runs name it, and the
-- configuration's target they ran for. The adds of a scope's first run are its baseline.

CREATE TABLE syncs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,                  -- NULL while running, or when the process died
    host        TEXT                   -- the host name of the machine that ran it
);

-- Each run before this migration was a sync of its own, with the run's id and times.
INSERT INTO syncs (id, started_at, finished_at)
SELECT id, started_at, finished_at FROM sync_runs ORDER BY id;

ALTER TABLE sync_runs ADD COLUMN sync_id INTEGER REFERENCES syncs (id);
ALTER TABLE sync_runs ADD COLUMN target TEXT;   -- the configuration's target name, if any
UPDATE sync_runs SET sync_id = id;
CREATE INDEX sync_runs_sync ON sync_runs (sync_id, id);

ALTER TABLE change_records ADD COLUMN baseline INTEGER NOT NULL DEFAULT 0
    CHECK (baseline IN (0, 1));
UPDATE change_records SET baseline = 1
WHERE change = 'added' AND run_id IN (
    SELECT b.id FROM sync_runs b WHERE b.apply_seq = (
        SELECT MIN(f.apply_seq) FROM sync_runs f WHERE f.scope_id = b.scope_id));

DROP VIEW change_log;
CREATE VIEW change_log AS
SELECT r.id AS record_id, r.run_id, s.apply_seq,
       s.started_at AS run_started_at, s.finished_at AS run_finished_at, r.detected_at,
       r.project_id, r.connection_id, r.connection_name, c.name AS current_name,
       r.change, r.category, r.field, r.old_value, r.new_value,
       s.sync_id, s.target, s.region, r.baseline
FROM change_records r
JOIN sync_runs s ON s.id = r.run_id
LEFT JOIN connections c ON c.project_id = r.project_id AND c.id = r.connection_id;
