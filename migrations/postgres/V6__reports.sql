-- What the reports (queries/) need, PostgreSQL dialect; migrations/sqlite/V6__reports.sql makes
-- the same columns and views with the same values.
--
-- 1. Network bounds. Every network the API sends (peer subnets, policy rule sources and
--    destinations) gets its first and last address as 32 lowercase hex digits, IPv4 mapped into
--    IPv6, so that overlap is a text range comparison on every backend and an index serves it:
--    `a.first_hex <= b.last_hex AND b.first_hex <= a.last_hex`. NULL: the text is no network.
--    The columns compare bytewise (COLLATE "C") whatever the database's collation. The store
--    computes them as it writes (src/net.rs, which states the grammar); rows stored before
--    this migration get them here, by the same rules.
-- 2. Views for the common shapes: connection_summary (a connection, flat), version_spans
--    (history with validity in runs and times), change_log (change records with names and
--    run times) and network_ranges (every network of every connection).

ALTER TABLE peer_subnets
    ADD COLUMN first_hex TEXT COLLATE "C", ADD COLUMN last_hex TEXT COLLATE "C";
ALTER TABLE policy_rule_destinations
    ADD COLUMN first_hex TEXT COLLATE "C", ADD COLUMN last_hex TEXT COLLATE "C";
ALTER TABLE policy_rules
    ADD COLUMN source_first_hex TEXT COLLATE "C", ADD COLUMN source_last_hex TEXT COLLATE "C";

-- One bound ('first' or 'last') of a network text; NULL where it breaks the grammar.
CREATE FUNCTION pg_temp.v7_bound(network TEXT, side TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    address TEXT := split_part(network, '/', 1);
    prefix TEXT := CASE WHEN strpos(network, '/') > 0
                        THEN substr(network, strpos(network, '/') + 1) END;
    net inet;
BEGIN
    IF prefix IS NOT NULL AND prefix !~ '^(0|[1-9][0-9]{0,2})$' THEN
        RETURN NULL;
    END IF;
    IF strpos(address, ':') = 0 THEN
        -- Four decimal octets without leading zeros (inet rejects those above 255).
        IF address !~ '^(0|[1-9][0-9]{0,2})([.](0|[1-9][0-9]{0,2})){3}$' THEN
            RETURN NULL;
        END IF;
    ELSIF address !~* '^[0-9a-f:]+$' THEN
        -- No embedded IPv4, no zone.
        RETURN NULL;
    END IF;
    net := (address || COALESCE('/' || prefix, ''))::inet;
    RETURN CASE family(net) WHEN 4 THEN '00000000000000000000ffff' ELSE '' END
        || encode(substring(inet_send(CASE side WHEN 'first' THEN network(net)::inet
                                          ELSE broadcast(net) END) FROM 5), 'hex');
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

UPDATE peer_subnets SET
    first_hex = pg_temp.v7_bound(cidr::text, 'first'),
    last_hex = pg_temp.v7_bound(cidr::text, 'last');
UPDATE policy_rule_destinations SET
    first_hex = pg_temp.v7_bound(cidr::text, 'first'),
    last_hex = pg_temp.v7_bound(cidr::text, 'last');
UPDATE policy_rules SET
    source_first_hex = pg_temp.v7_bound(source::text, 'first'),
    source_last_hex = pg_temp.v7_bound(source::text, 'last')
WHERE source IS NOT NULL;
DROP FUNCTION pg_temp.v7_bound(TEXT, TEXT);

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
       (SELECT string_agg(COALESCE(t.key, '') || '=' || COALESCE(t.value, ''), ', '
                           ORDER BY t.position)
        FROM tags t WHERE t.connection_pk = c.pk) AS tags
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
       v.body::json ->> 'name'   AS name,
       v.body::json ->> 'status' AS status,
       v.body::json ->> 'style'  AS style,
       v.body::json ->> 'vgw_id' AS vgw_id,
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
