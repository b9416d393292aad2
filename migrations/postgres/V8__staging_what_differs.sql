-- Staging keeps only what differs from the inventory: a connection whose content hash equals
-- the stored one is staged without its body (NULL), and every staged connection keeps the
-- `created_at` it was served with, from which `sync --resume` rebuilds its markers.
ALTER TABLE staged_connections ALTER COLUMN body DROP NOT NULL;
ALTER TABLE staged_connections ADD COLUMN created_at TEXT;
-- Staging is written once and read once by the run's apply: it need not cost write-ahead log.
-- After a crash of the server PostgreSQL empties unlogged tables, so `sync --resume` finds
-- nothing to continue and the next run sweeps from the first page; the inventory, written in
-- logged tables in one transaction, is untouched.
ALTER TABLE staged_pages SET UNLOGGED;
ALTER TABLE staged_connections SET UNLOGGED;
