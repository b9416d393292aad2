-- Leaner storage: nothing to do in PostgreSQL's dialect. migrations/sqlite/V13__leaner_storage.sql
-- makes SQLite's lists WITHOUT ROWID tables (one b-tree each, where SQLite kept a second copy of
-- every key) and drops its copy of connections' UNIQUE (project_id, id). Here the lists are heaps
-- with one key index each already, and V11 dropped that constraint. This version keeps both
-- dialects at one schema version.
SELECT 1;
