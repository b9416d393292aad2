-- A connection's current version stores no body (issue #10: every body was stored twice, as
-- the connection's rows and as its current version's JSON, most of a first sync's file). The
-- current content is the rows of `connections` and its lists, which `export` prints; a version
-- archives its body when it stops being current (replaced or removed), so history keeps every
-- past version whole. migrations/postgres/V14__current_versions_are_the_rows.sql makes the same
-- change in PostgreSQL's dialect.
--
-- 1. connection_versions.body becomes NULL while current, and a CHECK keeps it so: a body
--    exactly when the version has ended.
-- 2. version_spans reads a current version's name, status, style and gateway from
--    `connections`, and an ended one's from its body, as before.
--
-- SQLite cannot drop a NOT NULL in place: the table is rebuilt, its view dropped and made again.

DROP VIEW version_spans;

CREATE TABLE connection_versions_v14 (
    id            INTEGER PRIMARY KEY,
    project_id    TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    body          TEXT,             -- NULL while current: the connection's rows are its content
    observed_at   TEXT NOT NULL,    -- when this content was first seen served
    from_seq      INTEGER NOT NULL,
    to_seq        INTEGER,          -- NULL: current
    from_run_id   INTEGER REFERENCES sync_runs (id),
    to_run_id     INTEGER REFERENCES sync_runs (id),
    CONSTRAINT connection_versions_body_archived CHECK ((body IS NULL) = (to_seq IS NULL))
);
INSERT INTO connection_versions_v14 (id, project_id, connection_id, content_hash, body,
    observed_at, from_seq, to_seq, from_run_id, to_run_id)
SELECT id, project_id, connection_id, content_hash, CASE WHEN to_seq IS NOT NULL THEN body END,
       observed_at, from_seq, to_seq, from_run_id, to_run_id
FROM connection_versions;
DROP TABLE connection_versions;
ALTER TABLE connection_versions_v14 RENAME TO connection_versions;
CREATE INDEX connection_versions_connection
    ON connection_versions (project_id, connection_id, to_seq);
CREATE INDEX connection_versions_span ON connection_versions (from_seq, to_seq);

-- version_spans: every stored version of every connection with the span during which it was
-- the inventory's current one, in runs and times: from the run that applied it (from_run_id,
-- valid_from: when that run finished) up to the run that replaced or removed it (to_run_id,
-- valid_to; NULL while current). In apply order: from_seq <= apply_seq < to_seq. Name, status,
-- style and gateway are the connection's stored ones while current, else read from the body.
CREATE VIEW version_spans AS
SELECT v.id AS version_id, v.project_id, v.connection_id,
       CASE WHEN v.body IS NULL THEN c.name ELSE json_extract(v.body, '$.name') END AS name,
       CASE WHEN v.body IS NULL THEN c.status ELSE json_extract(v.body, '$.status') END
           AS status,
       CASE WHEN v.body IS NULL THEN c.style ELSE json_extract(v.body, '$.style') END AS style,
       CASE WHEN v.body IS NULL THEN c.vgw_id ELSE json_extract(v.body, '$.vgw_id') END
           AS vgw_id,
       v.content_hash, v.observed_at, v.from_seq, v.to_seq,
       f.id AS from_run_id, f.finished_at AS valid_from,
       t.id AS to_run_id, t.finished_at AS valid_to,
       v.body
FROM connection_versions v
LEFT JOIN connections c
    ON v.body IS NULL AND c.project_id = v.project_id AND c.id = v.connection_id
LEFT JOIN sync_runs f ON f.apply_seq = v.from_seq
LEFT JOIN sync_runs t ON t.apply_seq = v.to_seq;
