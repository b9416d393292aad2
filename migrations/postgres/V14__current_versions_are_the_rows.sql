-- A connection's current version stores no body (issue #10: every body was stored twice, as
-- the connection's rows and as its current version's JSON, most of a first sync's database).
-- The current content is the rows of `connections` and its lists, which `export` prints; a
-- version archives its body when it stops being current (replaced or removed), so history keeps
-- every past version whole. migrations/sqlite/V14__current_versions_are_the_rows.sql makes the
-- same change in SQLite's dialect.
--
-- 1. connection_versions.body becomes NULL while current, and a CHECK keeps it so: a body
--    exactly when the version has ended.
-- 2. version_spans reads a current version's name, status, style and gateway from
--    `connections`, and an ended one's from its body, as before.

ALTER TABLE connection_versions ALTER COLUMN body DROP NOT NULL;
UPDATE connection_versions SET body = NULL WHERE to_seq IS NULL;
ALTER TABLE connection_versions ADD CONSTRAINT connection_versions_body_archived
    CHECK ((body IS NULL) = (to_seq IS NULL));

CREATE OR REPLACE VIEW version_spans AS
SELECT v.id AS version_id, v.project_id, v.connection_id,
       CASE WHEN v.body IS NULL THEN c.name
           ELSE json_text_safe(v.body)::json ->> 'name' END AS name,
       CASE WHEN v.body IS NULL THEN c.status
           ELSE json_text_safe(v.body)::json ->> 'status' END AS status,
       CASE WHEN v.body IS NULL THEN c.style
           ELSE json_text_safe(v.body)::json ->> 'style' END AS style,
       CASE WHEN v.body IS NULL THEN c.vgw_id
           ELSE json_text_safe(v.body)::json ->> 'vgw_id' END AS vgw_id,
       v.content_hash, v.observed_at, v.from_seq, v.to_seq,
       f.id AS from_run_id, f.finished_at AS valid_from,
       t.id AS to_run_id, t.finished_at AS valid_to,
       v.body
FROM connection_versions v
LEFT JOIN connections c
    ON v.body IS NULL AND c.project_id = v.project_id AND c.id = v.connection_id
LEFT JOIN sync_runs f ON f.apply_seq = v.from_seq
LEFT JOIN sync_runs t ON t.apply_seq = v.to_seq;

COMMENT ON COLUMN connection_versions.body IS 'The connection as `export` gives it (JSON text), stored when the version stops being current; NULL while current, when the connection''s rows (`connections` and its lists) are its content.';
COMMENT ON COLUMN version_spans.name IS 'The version''s `name`: as `connections.name` while current, else read from its body (on PostgreSQL a NUL or lone surrogate as text columns hold it).';
COMMENT ON COLUMN version_spans.status IS 'The version''s `status`: as `connections.status` while current, else read from its body.';
COMMENT ON COLUMN version_spans.style IS 'The version''s `style`: as `connections.style` while current, else read from its body.';
COMMENT ON COLUMN version_spans.vgw_id IS 'The version''s `vgw_id`: as `connections.vgw_id` while current, else read from its body.';
COMMENT ON COLUMN version_spans.body IS 'As `connection_versions.body`: NULL while current.';
