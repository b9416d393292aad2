-- Versions reach their runs by run id, as change records do (migrations/postgres/V12__versions_by_run.sql
-- makes the same change in PostgreSQL's dialect). `from_seq`/`to_seq` (apply order) stay:
-- `export --as-of` and `diff` compare spans in apply order, which run ids need not follow.
ALTER TABLE connection_versions ADD COLUMN from_run_id INTEGER REFERENCES sync_runs (id);
ALTER TABLE connection_versions ADD COLUMN to_run_id INTEGER REFERENCES sync_runs (id);
UPDATE connection_versions SET
    from_run_id = (SELECT r.id FROM sync_runs r WHERE r.apply_seq = connection_versions.from_seq),
    to_run_id = (SELECT r.id FROM sync_runs r WHERE r.apply_seq = connection_versions.to_seq);
