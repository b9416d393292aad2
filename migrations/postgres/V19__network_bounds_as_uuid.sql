-- The networks' bounds in 16 bytes (issue #10): `first_hex`/`last_hex` and the policy rules'
-- `source_first_hex`/`source_last_hex` become `uuid`, where they were 32 hex digits of text (33
-- bytes, and as much again in each bound's index). A first sync of 100,000 connections holds
-- about 700,000 networks, and the bounds and their indexes took about 30 MiB less (measured on
-- a copy). A uuid holds the same 32 hex digits and compares bytewise, so bounds order exactly
-- as the text did and the overlap comparisons are unchanged; PostgreSQL reads a literal of the
-- 32 digits as a uuid (`first_hex <= '00000000000000000000ffff0a000000'`), but prints one with
-- dashes. vpn-inventory's reports print the digits without them, as SQLite holds them
-- (src/store/cells.rs). migrations/sqlite/V19 changes nothing.
--
-- network_ranges reads these columns, so it is dropped and created again as it was, with its
-- comments.
CREATE TEMP TABLE v19_views ON COMMIT DROP AS
SELECT c.relname AS name, pg_get_viewdef(c.oid) AS definition,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c
WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace
    AND c.relname = 'network_ranges';
CREATE TEMP TABLE v19_columns ON COMMIT DROP AS
SELECT c.relname AS name, a.attname AS column_name, col_description(c.oid, a.attnum) AS comment
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace
    AND c.relname = 'network_ranges';

DROP VIEW network_ranges;

ALTER TABLE peer_subnets ALTER COLUMN first_hex TYPE UUID USING first_hex::UUID,
    ALTER COLUMN last_hex TYPE UUID USING last_hex::UUID;
ALTER TABLE policy_rule_destinations ALTER COLUMN first_hex TYPE UUID USING first_hex::UUID,
    ALTER COLUMN last_hex TYPE UUID USING last_hex::UUID;
ALTER TABLE policy_rules ALTER COLUMN source_first_hex TYPE UUID USING source_first_hex::UUID,
    ALTER COLUMN source_last_hex TYPE UUID USING source_last_hex::UUID;

DO $$
DECLARE
    v RECORD;
BEGIN
    FOR v IN SELECT * FROM v19_views LOOP
        EXECUTE format('CREATE VIEW %I AS %s', v.name, v.definition);
        EXECUTE format('COMMENT ON VIEW %I IS %L', v.name, v.comment);
    END LOOP;
    FOR v IN SELECT * FROM v19_columns WHERE comment IS NOT NULL LOOP
        EXECUTE format('COMMENT ON COLUMN %I.%I IS %L', v.name, v.column_name, v.comment);
    END LOOP;
END
$$;
