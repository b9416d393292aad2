-- Versions reach their runs by run id, as change records do (migrations/sqlite/V12__versions_by_run.sql
-- makes the same change in SQLite's dialect). `from_seq`/`to_seq` (apply order) stay: `export
-- --as-of` and `diff` compare spans in apply order, which run ids need not follow.
ALTER TABLE connection_versions ADD COLUMN from_run_id BIGINT REFERENCES sync_runs (id),
    ADD COLUMN to_run_id BIGINT REFERENCES sync_runs (id);
UPDATE connection_versions v SET
    from_run_id = (SELECT r.id FROM sync_runs r WHERE r.apply_seq = v.from_seq),
    to_run_id = (SELECT r.id FROM sync_runs r WHERE r.apply_seq = v.to_seq);

COMMENT ON COLUMN connection_versions.from_run_id IS 'The run that made it current (`sync_runs.id`; its `apply_seq` is `from_seq`).';
COMMENT ON COLUMN connection_versions.to_run_id IS 'The run that replaced or removed it (`sync_runs.id`; its `apply_seq` is `to_seq`); NULL while current.';
