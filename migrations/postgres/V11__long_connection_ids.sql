-- Connection ids of any length, PostgreSQL dialect (migrations/sqlite/V11__long_connection_ids.sql
-- adds the same columns in SQLite's).
--
-- A btree index entry holds at most about 2.7 KB, so an id the API sent longer than that failed
-- the whole sync at staging. The ids' unique keys are also the writes' ON CONFLICT targets and
-- the apply's keyset order, which a hash index cannot serve, so each table keying rows by a
-- connection id gets a key column that a btree holds whatever the id's length: `0` and the id
-- when the id takes at most 2,000 bytes (every id a real service sends), else `1` and the
-- SHA-256 of the id's bytes as 64 hex digits. The unique key, the conflict target, the keyset
-- order and the store's lookups by id use it (the store computes the same key for the ids it
-- looks up, src/store/sql.rs `IdKey`), so every lookup uses the unique index whole. The key is
-- in the "C" collation: ids sort by their bytes, as SQLite sorts them, whatever the database's
-- collation.
--
-- `decode(replace(id, '\', '\\'), 'escape')` is the id's bytes as stored (no text holds a NUL,
-- and a doubled backslash is the escape format's one backslash): unlike `convert_to` or
-- `textsend` it does not depend on the client's encoding, so the key is immutable. The digest
-- is computed only for ids over 2,000 bytes.

-- The key of a connection id (src/store/sql.rs `IdKey` computes the same).
CREATE FUNCTION connection_id_key(id TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN octet_length(id) <= 2000 THEN '0' || id
        ELSE '1' || encode(sha256(decode(replace(id, '\', '\\'), 'escape')), 'hex') END
$$;

ALTER TABLE staged_connections ADD COLUMN connection_key TEXT COLLATE "C"
    GENERATED ALWAYS AS (connection_id_key(connection_id)) STORED;
ALTER TABLE staged_connections DROP CONSTRAINT staged_connections_pkey;
CREATE UNIQUE INDEX staged_connections_key ON staged_connections (run_id, connection_key);

ALTER TABLE scope_connections ADD COLUMN connection_key TEXT COLLATE "C"
    GENERATED ALWAYS AS (connection_id_key(connection_id)) STORED;
ALTER TABLE scope_connections DROP CONSTRAINT scope_connections_pkey;
CREATE UNIQUE INDEX scope_connections_key ON scope_connections (scope_id, connection_key);

ALTER TABLE connections ADD COLUMN id_key TEXT COLLATE "C"
    GENERATED ALWAYS AS (connection_id_key(id)) STORED;
ALTER TABLE connections DROP CONSTRAINT connections_project_id_id_key;
CREATE UNIQUE INDEX connections_key ON connections (project_id, id_key);

COMMENT ON COLUMN staged_connections.connection_key IS 'The key a run stages each connection once by, in the order the apply reads them: `0` and `connection_id` when the id takes at most 2,000 bytes, else `1` and (PostgreSQL) the SHA-256 of the id as 64 hex digits or (SQLite) the id. A btree index holds it whatever the id''s length.';
COMMENT ON COLUMN scope_connections.connection_key IS 'The key a scope holds each connection once by: `0` and `connection_id` when the id takes at most 2,000 bytes, else `1` and (PostgreSQL) the SHA-256 of the id as 64 hex digits or (SQLite) the id. A btree index holds it whatever the id''s length.';
COMMENT ON COLUMN connections.id_key IS 'The key a project holds each connection once by: `0` and `id` when the id takes at most 2,000 bytes, else `1` and (PostgreSQL) the SHA-256 of the id as 64 hex digits or (SQLite) the id. A btree index holds it whatever the id''s length.';
