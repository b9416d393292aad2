-- The lists' small numbers in narrower integers (issue #10): `ip_version` (4 or 6) becomes
-- `smallint` and positions `integer`, where every column was `bigint`. A first sync of 100,000
-- connections holds about 860,000 list rows, and their heaps and primary keys took 14 MiB less
-- (measured on a VACUUM FULL copy). The values are the same; vpn-inventory reads either width.
-- SQLite keeps every integer in as few bytes as its value needs: migrations/sqlite/V18 changes
-- nothing.
--
-- network_ranges and connection_summary read these columns, so they are dropped and created
-- again as they were, with their comments.
CREATE TEMP TABLE v18_views ON COMMIT DROP AS
SELECT c.relname AS name, pg_get_viewdef(c.oid) AS definition,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace
    AND c.relname IN ('network_ranges', 'connection_summary');
CREATE TEMP TABLE v18_columns ON COMMIT DROP AS
SELECT c.relname AS name, a.attname AS column_name, col_description(c.oid, a.attnum) AS comment
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace
    AND c.relname IN ('network_ranges', 'connection_summary');

DROP VIEW network_ranges;
DROP VIEW connection_summary;

ALTER TABLE peer_subnets ALTER COLUMN ip_version TYPE SMALLINT,
    ALTER COLUMN position TYPE INTEGER;
ALTER TABLE policy_rules ALTER COLUMN ip_version TYPE SMALLINT,
    ALTER COLUMN position TYPE INTEGER;
ALTER TABLE policy_rule_destinations ALTER COLUMN ip_version TYPE SMALLINT,
    ALTER COLUMN rule_position TYPE INTEGER, ALTER COLUMN position TYPE INTEGER;
ALTER TABLE tags ALTER COLUMN position TYPE INTEGER;

DO $$
DECLARE
    v RECORD;
BEGIN
    FOR v IN SELECT * FROM v18_views LOOP
        EXECUTE format('CREATE VIEW %I AS %s', v.name, v.definition);
        EXECUTE format('COMMENT ON VIEW %I IS %L', v.name, v.comment);
    END LOOP;
    FOR v IN SELECT * FROM v18_columns WHERE comment IS NOT NULL LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', v.name, v.column_name, v.comment);
    END LOOP;
END
$$;
