-- Staging keeps only what differs from the inventory: a connection whose content hash equals
-- the stored one is staged without its body (NULL), and every staged connection keeps the
-- `created_at` it was served with, from which `sync --resume` rebuilds its markers.
CREATE TABLE staged_connections_v8 (
    run_id        INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    page_no       INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,
    created_at    TEXT,            -- as served (NULL: staged before this version, or absent)
    body          TEXT,            -- the object as served; NULL when the inventory held it
    PRIMARY KEY (run_id, connection_id)
);
INSERT INTO staged_connections_v8 (run_id, connection_id, page_no, content_hash, body)
    SELECT run_id, connection_id, page_no, content_hash, body FROM staged_connections;
DROP TABLE staged_connections;
ALTER TABLE staged_connections_v8 RENAME TO staged_connections;
