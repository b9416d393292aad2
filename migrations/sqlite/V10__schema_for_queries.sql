-- A schema that is pleasant to query, SQLite dialect (migrations/postgres/V9__schema_for_queries.sql
-- makes the same change in PostgreSQL's). SCHEMA.md describes every table, view and column.
--
-- 1. Times. Every time this program records (scopes.created_at, sync_runs.started_at and
--    finished_at, staged_pages.fetched_at, observed_at, detected_at) and every parsed API time
--    (created_at_utc, updated_at_utc) is UTC text `YYYY-MM-DD HH:MM:SS.ffffff`: always six
--    fraction digits, so times compare as text in time order and with what SQLite's own date
--    functions give (`detected_at >= datetime('now', '-1 day')`). They were RFC 3339 text
--    (`2026-11-28T15:38:53.839686+00:00`), whose `T` sorts after datetime()'s space, so such a
--    condition held for every row. The API's own texts (created_at, updated_at) stay as sent.
-- 2. network_ranges carries the connection's project_id and id, the keys every other table and
--    view joins a connection by, and `network`: on PostgreSQL a cidr, here the text as sent
--    when it is a network (SQLite has no network type; the bounds serve for comparisons).

-- Every recorded time, old text to new. Times written by this program were UTC (`+00:00`);
-- one with another offset, should any exist, goes through datetime(), which applies it.
CREATE TEMP TABLE v9_times (old TEXT PRIMARY KEY, new TEXT);
INSERT INTO v9_times (old)
SELECT created_at FROM scopes
UNION SELECT started_at FROM sync_runs
UNION SELECT finished_at FROM sync_runs WHERE finished_at IS NOT NULL
UNION SELECT fetched_at FROM staged_pages
UNION SELECT created_at_utc FROM connections WHERE created_at_utc IS NOT NULL
UNION SELECT updated_at_utc FROM connections WHERE updated_at_utc IS NOT NULL
UNION SELECT observed_at FROM connections
UNION SELECT observed_at FROM connection_versions
UNION SELECT detected_at FROM change_records;
-- Split each into its date and time, fraction digits and zone.
CREATE TEMP TABLE v9_parts AS
SELECT old, substr(old, 1, 10) AS date, substr(old, 12, 8) AS clock, rest,
       CASE WHEN rest LIKE '%Z' THEN 'Z'
            WHEN length(rest) >= 6 AND substr(rest, -6, 1) IN ('+', '-')
                AND substr(rest, -3, 1) = ':' THEN substr(rest, -6)
            ELSE '' END AS zone
FROM (SELECT old, substr(old, 20) AS rest FROM v9_times
      WHERE old GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*');
UPDATE v9_times SET new = (
    SELECT CASE
        WHEN p.zone NOT IN ('', 'Z', '+00:00', '-00:00')
            THEN strftime('%Y-%m-%d %H:%M:%f', p.old) || '000'
        WHEN p.rest = p.zone THEN p.date || ' ' || p.clock || '.000000'
        WHEN substr(p.rest, 1, 1) = '.'
            AND substr(p.rest, 2, length(p.rest) - 1 - length(p.zone)) NOT GLOB '*[^0-9]*'
            THEN p.date || ' ' || p.clock || '.'
                || substr(substr(p.rest, 2, length(p.rest) - 1 - length(p.zone)) || '000000', 1, 6)
    END
    FROM v9_parts p WHERE p.old = v9_times.old);
-- A text that reads as no time is left as it was.
DELETE FROM v9_times WHERE new IS NULL OR new = old;

UPDATE scopes SET created_at = (SELECT new FROM v9_times WHERE old = created_at)
    WHERE created_at IN (SELECT old FROM v9_times);
UPDATE sync_runs SET started_at = (SELECT new FROM v9_times WHERE old = started_at)
    WHERE started_at IN (SELECT old FROM v9_times);
UPDATE sync_runs SET finished_at = (SELECT new FROM v9_times WHERE old = finished_at)
    WHERE finished_at IN (SELECT old FROM v9_times);
UPDATE staged_pages SET fetched_at = (SELECT new FROM v9_times WHERE old = fetched_at)
    WHERE fetched_at IN (SELECT old FROM v9_times);
UPDATE connections SET created_at_utc = (SELECT new FROM v9_times WHERE old = created_at_utc)
    WHERE created_at_utc IN (SELECT old FROM v9_times);
UPDATE connections SET updated_at_utc = (SELECT new FROM v9_times WHERE old = updated_at_utc)
    WHERE updated_at_utc IN (SELECT old FROM v9_times);
UPDATE connections SET observed_at = (SELECT new FROM v9_times WHERE old = observed_at)
    WHERE observed_at IN (SELECT old FROM v9_times);
UPDATE connection_versions SET observed_at = (SELECT new FROM v9_times WHERE old = observed_at)
    WHERE observed_at IN (SELECT old FROM v9_times);
UPDATE change_records SET detected_at = (SELECT new FROM v9_times WHERE old = detected_at)
    WHERE detected_at IN (SELECT old FROM v9_times);
DROP TABLE v9_parts;
DROP TABLE v9_times;

DROP VIEW network_ranges;
CREATE VIEW network_ranges AS
SELECT c.project_id, c.id AS connection_id, n.*,
       CASE WHEN n.first_hex IS NOT NULL THEN n.cidr END AS network
FROM (
    SELECT s.connection_pk, s.ip_version, 'peer_subnets' AS list,
           CASE s.ip_version WHEN 6 THEN 'peer_subnets_v6' ELSE 'peer_subnets' END AS path,
           NULL AS rule_position, s.position, s.cidr, s.first_hex, s.last_hex
    FROM peer_subnets s
    UNION ALL
    SELECT r.connection_pk, r.ip_version, 'policy_rule_source',
           CASE r.ip_version WHEN 6 THEN 'policy_rules_v6[' ELSE 'policy_rules[' END
               || COALESCE(CAST(r.rule_index AS TEXT), '') || '].source',
           r.position, NULL, r.source, r.source_first_hex, r.source_last_hex
    FROM policy_rules r WHERE r.source IS NOT NULL
    UNION ALL
    SELECT d.connection_pk, d.ip_version, 'policy_rule_destination',
           CASE d.ip_version WHEN 6 THEN 'policy_rules_v6[' ELSE 'policy_rules[' END
               || COALESCE(CAST(r.rule_index AS TEXT), '') || '].destination',
           d.rule_position, d.position, d.cidr, d.first_hex, d.last_hex
    FROM policy_rule_destinations d
    JOIN policy_rules r ON r.connection_pk = d.connection_pk AND r.ip_version = d.ip_version
        AND r.position = d.rule_position
) n
JOIN connections c ON c.pk = n.connection_pk;
