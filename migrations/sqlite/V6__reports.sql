-- What the reports (queries/) need, SQLite dialect; migrations/postgres/V6__reports.sql makes
-- the same columns and views with the same values.
--
-- 1. Network bounds. Every network the API sends (peer subnets, policy rule sources and
--    destinations) gets its first and last address as 32 lowercase hex digits, IPv4 mapped into
--    IPv6, so that overlap is a text range comparison on every backend and an index serves it:
--    `a.first_hex <= b.last_hex AND b.first_hex <= a.last_hex`. NULL: the text is no network.
--    The store computes them as it writes (src/net.rs, which states the grammar); rows stored
--    before this migration get them here, by the same rules.
-- 2. Views for the common shapes: connection_summary (a connection, flat), version_spans
--    (history with validity in runs and times), change_log (change records with names and
--    run times) and network_ranges (every network of every connection).
--
-- Views use nothing newer than SQLite 3.35, so an older sqlite3 shell can still read them.

ALTER TABLE peer_subnets ADD COLUMN first_hex TEXT;
ALTER TABLE peer_subnets ADD COLUMN last_hex TEXT;
ALTER TABLE policy_rule_destinations ADD COLUMN first_hex TEXT;
ALTER TABLE policy_rule_destinations ADD COLUMN last_hex TEXT;
ALTER TABLE policy_rules ADD COLUMN source_first_hex TEXT;
ALTER TABLE policy_rules ADD COLUMN source_last_hex TEXT;

-- Every network text stored so far, split into address and prefix length.
CREATE TEMP TABLE v7_text (text TEXT PRIMARY KEY, address TEXT, prefix TEXT);
INSERT INTO v7_text (text)
SELECT cidr FROM peer_subnets
UNION SELECT cidr FROM policy_rule_destinations
UNION SELECT source FROM policy_rules WHERE source IS NOT NULL;
UPDATE v7_text SET
    address = lower(CASE WHEN instr(text, '/') > 0 THEN substr(text, 1, instr(text, '/') - 1)
                    ELSE text END),
    prefix = CASE WHEN instr(text, '/') > 0 THEN substr(text, instr(text, '/') + 1) END;

-- The address as 32 hex digits and its family's width; NULL where it breaks the grammar.
CREATE TEMP TABLE v7_address (text TEXT PRIMARY KEY, hex TEXT, width INTEGER);
-- IPv4: four decimal octets without leading zeros.
INSERT INTO v7_address
WITH RECURSIVE octets (text, rest, hex, n, ok) AS (
    SELECT text, address || '.', '', 0, 1 FROM v7_text WHERE instr(address, ':') = 0
    UNION ALL
    SELECT text, substr(rest, instr(rest, '.') + 1),
           hex || printf('%02x', CAST(substr(rest, 1, instr(rest, '.') - 1) AS INTEGER)), n + 1,
           ok AND instr(rest, '.') BETWEEN 2 AND 4
               AND substr(rest, 1, instr(rest, '.') - 1) NOT GLOB '*[^0-9]*'
               AND NOT (instr(rest, '.') > 2 AND rest LIKE '0%')
               AND CAST(substr(rest, 1, instr(rest, '.') - 1) AS INTEGER) <= 255
    FROM octets WHERE rest <> '' AND n < 5
)
SELECT text, CASE WHEN ok AND n = 4 THEN '00000000000000000000ffff' || hex END, 32
FROM octets WHERE rest = '';
-- IPv6: hex groups of one to four digits, at most one `::` standing for the missing groups.
-- Each side of the `::` is read group by group; the whole address must make eight groups.
INSERT INTO v7_address
WITH RECURSIVE sides (text, side, rest) AS (
    SELECT text, 'left',
           CASE WHEN instr(address, '::') > 0 THEN substr(address, 1, instr(address, '::') - 1)
                ELSE address END
    FROM v7_text WHERE instr(address, ':') > 0
    UNION ALL
    SELECT text, 'right', substr(address, instr(address, '::') + 2)
    FROM v7_text WHERE instr(address, '::') > 0
),
groups (text, side, rest, hex, n, ok) AS (
    SELECT text, side, CASE WHEN rest = '' THEN '' ELSE rest || ':' END, '', 0, 1 FROM sides
    UNION ALL
    SELECT text, side, substr(rest, instr(rest, ':') + 1),
           hex || substr('0000' || substr(rest, 1, instr(rest, ':') - 1), -4), n + 1,
           ok AND instr(rest, ':') BETWEEN 2 AND 5
               AND substr(rest, 1, instr(rest, ':') - 1) NOT GLOB '*[^0-9a-f]*'
    FROM groups WHERE rest <> '' AND n < 9
),
done (text, side, hex, n, ok) AS (
    SELECT text, side, hex, n, ok FROM groups WHERE rest = ''
)
SELECT t.text,
       CASE
           WHEN instr(t.address, '.') > 0 OR instr(t.address, '%') > 0 OR NOT l.ok THEN NULL
           WHEN r.text IS NULL AND l.n = 8 THEN l.hex
           WHEN r.text IS NOT NULL AND r.ok AND l.n + r.n <= 7
               THEN l.hex || substr('00000000000000000000000000000000', 1, 4 * (8 - l.n - r.n))
                   || r.hex
       END,
       128
FROM v7_text t
JOIN done l ON l.text = t.text AND l.side = 'left'
LEFT JOIN done r ON r.text = t.text AND r.side = 'right';

-- The bounds: the address with its host bits cleared (first) or set (last). A prefix length is
-- decimal without leading zeros; none means the single address.
CREATE TEMP TABLE v7_bounds (text TEXT PRIMARY KEY, first_hex TEXT, last_hex TEXT);
INSERT INTO v7_bounds
SELECT text,
       substr(hex, 1, p / 4)
           || CASE WHEN p % 4 > 0 THEN substr('0123456789abcdef',
                  (nibble & (15 - ((1 << (4 - p % 4)) - 1))) + 1, 1) ELSE '' END
           || substr('00000000000000000000000000000000', 1, 32 - p / 4 - (p % 4 > 0)),
       substr(hex, 1, p / 4)
           || CASE WHEN p % 4 > 0 THEN substr('0123456789abcdef',
                  (nibble | ((1 << (4 - p % 4)) - 1)) + 1, 1) ELSE '' END
           || substr('ffffffffffffffffffffffffffffffff', 1, 32 - p / 4 - (p % 4 > 0))
FROM (
    SELECT a.text, a.hex, 128 - a.width + CAST(COALESCE(t.prefix, a.width) AS INTEGER) AS p,
           instr('0123456789abcdef',
                 substr(a.hex, (128 - a.width + CAST(COALESCE(t.prefix, a.width) AS INTEGER)) / 4
                     + 1, 1)) - 1 AS nibble
    FROM v7_address a JOIN v7_text t ON t.text = a.text
    WHERE a.hex IS NOT NULL
        AND (t.prefix IS NULL
             OR (t.prefix <> '' AND length(t.prefix) <= 3 AND t.prefix NOT GLOB '*[^0-9]*'
                 AND NOT (length(t.prefix) > 1 AND t.prefix LIKE '0%')
                 AND CAST(t.prefix AS INTEGER) <= a.width))
);

UPDATE peer_subnets SET
    first_hex = (SELECT b.first_hex FROM v7_bounds b WHERE b.text = peer_subnets.cidr),
    last_hex = (SELECT b.last_hex FROM v7_bounds b WHERE b.text = peer_subnets.cidr);
UPDATE policy_rule_destinations SET
    first_hex = (SELECT b.first_hex FROM v7_bounds b WHERE b.text = policy_rule_destinations.cidr),
    last_hex = (SELECT b.last_hex FROM v7_bounds b WHERE b.text = policy_rule_destinations.cidr);
UPDATE policy_rules SET
    source_first_hex = (SELECT b.first_hex FROM v7_bounds b WHERE b.text = policy_rules.source),
    source_last_hex = (SELECT b.last_hex FROM v7_bounds b WHERE b.text = policy_rules.source);
DROP TABLE v7_bounds;
DROP TABLE v7_address;
DROP TABLE v7_text;

CREATE INDEX peer_subnets_first_hex ON peer_subnets (first_hex);
CREATE INDEX policy_rule_destinations_first_hex ON policy_rule_destinations (first_hex);
CREATE INDEX policy_rules_source_first_hex ON policy_rules (source_first_hex);

-- connection_summary: one row per stored connection, flat: its settings, IKE and IPsec
-- algorithms and lifetimes, DPD, BGP peer, and counts of its lists. `tags` is `key=value`
-- pairs in the order sent, joined by ', ' (NULL without tags); `has_dpd` is NULL without an
-- IKE policy. Booleans read portably as `WHERE has_dpd` / `WHERE NOT has_dpd`.
CREATE VIEW connection_summary AS
SELECT c.pk, c.project_id, c.id, c.name, c.status, c.style, c.vgw_id, c.vgw_ip, c.cgw_id,
       c.enterprise_project_id, c.ha_role, c.tunnel_local_address, c.tunnel_peer_address,
       c.created_at, c.updated_at, c.observed_at, c.first_seen_run_id, c.last_changed_run_id,
       i.ike_version,
       i.phase1_negotiation_mode,
       i.encryption_algorithm     AS ike_encryption_algorithm,
       i.authentication_algorithm AS ike_authentication_algorithm,
       i.dh_group                 AS ike_dh_group,
       i.lifetime_seconds         AS ike_lifetime_seconds,
       i.has_dpd,
       i.dpd_timeout,
       i.dpd_interval,
       i.dpd_msg,
       p.encryption_algorithm     AS ipsec_encryption_algorithm,
       p.authentication_algorithm AS ipsec_authentication_algorithm,
       p.pfs                      AS ipsec_pfs,
       p.transform_protocol       AS ipsec_transform_protocol,
       p.lifetime_seconds         AS ipsec_lifetime_seconds,
       b.peer_ip_address          AS bgp_peer_ip_address,
       b.peer_asn                 AS bgp_peer_asn,
       b.state                    AS bgp_state,
       b.state_duration           AS bgp_state_duration,
       b.num_received_routes      AS bgp_received_routes,
       (SELECT COUNT(*) FROM peer_subnets s WHERE s.connection_pk = c.pk) AS peer_subnet_count,
       (SELECT COUNT(*) FROM policy_rules r WHERE r.connection_pk = c.pk) AS policy_rule_count,
       (SELECT COUNT(*) FROM tags t WHERE t.connection_pk = c.pk) AS tag_count,
       (SELECT group_concat(pair, ', ') FROM (
            SELECT COALESCE(t.key, '') || '=' || COALESCE(t.value, '') AS pair
            FROM tags t WHERE t.connection_pk = c.pk ORDER BY t.position)) AS tags
FROM connections c
LEFT JOIN ike_policies i ON i.connection_pk = c.pk
LEFT JOIN ipsec_policies p ON p.connection_pk = c.pk
LEFT JOIN bgp_peers b ON b.connection_pk = c.pk;

-- version_spans: every stored version of every connection with the span during which it was
-- the inventory's current one, in runs and times: from the run that applied it (from_run_id,
-- valid_from: when that run finished) up to the run that replaced or removed it (to_run_id,
-- valid_to; NULL while current). In apply order: from_seq <= apply_seq < to_seq. Name, status,
-- style and gateway are read from the stored body (the export shape).
CREATE VIEW version_spans AS
SELECT v.id AS version_id, v.project_id, v.connection_id,
       json_extract(v.body, '$.name')   AS name,
       json_extract(v.body, '$.status') AS status,
       json_extract(v.body, '$.style')  AS style,
       json_extract(v.body, '$.vgw_id') AS vgw_id,
       v.content_hash, v.observed_at, v.from_seq, v.to_seq,
       f.id AS from_run_id, f.finished_at AS valid_from,
       t.id AS to_run_id, t.finished_at AS valid_to,
       v.body
FROM connection_versions v
LEFT JOIN sync_runs f ON f.apply_seq = v.from_seq
LEFT JOIN sync_runs t ON t.apply_seq = v.to_seq;

-- change_log: change records with their run (apply order, start and finish) and the
-- connection's name as recorded and as it is now (NULL once removed).
CREATE VIEW change_log AS
SELECT r.id AS record_id, r.run_id, s.apply_seq,
       s.started_at AS run_started_at, s.finished_at AS run_finished_at, r.detected_at,
       r.project_id, r.connection_id, r.connection_name, c.name AS current_name,
       r.change, r.category, r.field, r.old_value, r.new_value
FROM change_records r
JOIN sync_runs s ON s.id = r.run_id
LEFT JOIN connections c ON c.project_id = r.project_id AND c.id = r.connection_id;

-- network_ranges: every network of every stored connection with its bounds: peer subnets,
-- policy rule sources and destinations, each with its API path (`peer_subnets_v6`,
-- `policy_rules[3].destination`).
CREATE VIEW network_ranges AS
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
    AND r.position = d.rule_position;
