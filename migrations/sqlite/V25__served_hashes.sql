-- The bytes each connection was served as, hashed: a sync parses only the connections whose
-- bytes differ from those the inventory last saw them as (an unchanged re-sync parses none).

ALTER TABLE connections ADD COLUMN served_hash TEXT;

-- Staging gets the same column and loses its foreign key to sync_runs (every run's staging is
-- deleted before the run, by `prune` and `forget`): SQLite deletes every row of a table no
-- foreign key names by freeing its pages (its truncate optimization), which an apply does
-- when its run's staging is all the table holds. Row by row, 100,000 staged connections took
-- a second of an unchanged re-sync.
CREATE TABLE staged_connections_v25 (
    run_id         INTEGER NOT NULL,
    connection_id  TEXT NOT NULL,
    page_no        INTEGER NOT NULL,
    content_hash   TEXT NOT NULL,
    created_at     TEXT,
    body           TEXT,
    connection_key TEXT GENERATED ALWAYS AS (
        CASE WHEN length(CAST(connection_id AS BLOB)) <= 2000 THEN '0' ELSE '1' END
        || connection_id
    ) VIRTUAL,
    served_hash    TEXT
);
INSERT INTO staged_connections_v25 (run_id, connection_id, page_no, content_hash, created_at,
                                    body)
SELECT run_id, connection_id, page_no, content_hash, created_at, body FROM staged_connections;
DROP TABLE staged_connections;
ALTER TABLE staged_connections_v25 RENAME TO staged_connections;
CREATE UNIQUE INDEX staged_connections_key ON staged_connections (run_id, connection_key);
