-- Connection ids of any length, SQLite dialect (migrations/postgres/V11__long_connection_ids.sql
-- makes the change in PostgreSQL's, where it matters: a btree index entry there holds at most
-- about 2.7 KB, so a longer id failed the sync).
--
-- Each table keying rows by a connection id gets a key column, which its unique key, the
-- writes' ON CONFLICT target, the apply's keyset order and the store's lookups by id use, so
-- that the same statements run on both databases: `0` and the id when the id takes at most
-- 2,000 bytes, else `1` and (on PostgreSQL) the id's SHA-256 or (here) the id. Both databases
-- then apply ids in the same order: by their bytes, those over 2,000 bytes last. Virtual
-- columns: they take no space in the rows, only in their index.
--
-- The staging and scope tables are rebuilt so that the key replaces their primary key.
-- `connections` keeps its UNIQUE (project_id, id) beside the key's index: dropping it would
-- mean rebuilding the table its lists and policies refer to.

CREATE TABLE staged_connections_v11 (
    run_id         INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    connection_id  TEXT NOT NULL,
    page_no        INTEGER NOT NULL,
    content_hash   TEXT NOT NULL,
    created_at     TEXT,
    body           TEXT,
    connection_key TEXT GENERATED ALWAYS AS (
        CASE WHEN length(CAST(connection_id AS BLOB)) <= 2000 THEN '0' ELSE '1' END
        || connection_id
    ) VIRTUAL
);
INSERT INTO staged_connections_v11 (run_id, connection_id, page_no, content_hash, created_at,
        body)
    SELECT run_id, connection_id, page_no, content_hash, created_at, body
    FROM staged_connections;
DROP TABLE staged_connections;
ALTER TABLE staged_connections_v11 RENAME TO staged_connections;
CREATE UNIQUE INDEX staged_connections_key ON staged_connections (run_id, connection_key);

CREATE TABLE scope_connections_v11 (
    scope_id       INTEGER NOT NULL REFERENCES scopes (id) ON DELETE CASCADE,
    connection_id  TEXT NOT NULL,
    connection_key TEXT GENERATED ALWAYS AS (
        CASE WHEN length(CAST(connection_id AS BLOB)) <= 2000 THEN '0' ELSE '1' END
        || connection_id
    ) VIRTUAL
);
INSERT INTO scope_connections_v11 (scope_id, connection_id)
    SELECT scope_id, connection_id FROM scope_connections;
DROP TABLE scope_connections;
ALTER TABLE scope_connections_v11 RENAME TO scope_connections;
CREATE UNIQUE INDEX scope_connections_key ON scope_connections (scope_id, connection_key);
CREATE INDEX scope_connections_connection ON scope_connections (connection_id);

ALTER TABLE connections ADD COLUMN id_key TEXT GENERATED ALWAYS AS (
    CASE WHEN length(CAST(id AS BLOB)) <= 2000 THEN '0' ELSE '1' END || id
) VIRTUAL;
CREATE UNIQUE INDEX connections_key ON connections (project_id, id_key);
