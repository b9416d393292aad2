-- The bytes each connection was served as, hashed: a sync parses only the connections whose
-- bytes differ from those the inventory last saw them as (an unchanged re-sync parses none).

-- 16 bytes as a uuid, as the network bounds are kept.
ALTER TABLE connections ADD COLUMN served_hash UUID;
ALTER TABLE staged_connections ADD COLUMN served_hash UUID;

-- As on SQLite, staging names no run by a foreign key (every run's staging is deleted before
-- the run, by `prune` and `forget`), where SQLite needs it gone to empty the table outright.
ALTER TABLE staged_connections DROP CONSTRAINT staged_connections_run_id_fkey;

COMMENT ON COLUMN connections.served_hash IS 'Hash of the bytes the connection was last served as (the first 128 bits of their SHA-256: a uuid on PostgreSQL, 32 hex digits on SQLite, as the network bounds are stored): a sync parses only a connection served as other bytes. NULL when not known (stored before schema version 25, or from a page read in full). Only a shortcut: equal bytes have equal content, and content is compared by `content_hash`.';
COMMENT ON COLUMN staged_connections.served_hash IS 'Hash of the bytes the connection was served as (as `connections.served_hash`); NULL when the page was read in full.';
COMMENT ON COLUMN staged_connections.run_id IS 'The run that fetched it (`sync_runs.id`, by no foreign key: `prune` and `forget` delete a run''s staging before the run).';
