-- Leaner storage, SQLite dialect (issue #10: a first sync's file was 2.7 times the JSON it
-- stored). Nothing a query sees changes: the same tables, columns, keys and views.
--
-- 1. The lists (peer_subnets, policy_rules, policy_rule_destinations, tags) become WITHOUT ROWID
--    tables: their rows live in their primary key's b-tree, so the separate index SQLite kept
--    for that key, a second copy of every key, goes, and each insert writes one b-tree, not two.
-- 2. connections loses UNIQUE (project_id, id): connections_key (project_id, id_key), which V11
--    added, holds each id once already (id_key is the id behind a one-character prefix).
--
-- Rebuilding tables that views name means dropping those views first and making them again,
-- as they were. PostgreSQL's V13 has nothing to do: its lists are heaps with one key index,
-- and V11 already dropped its copy of (project_id, id).

DROP VIEW connection_crypto;
DROP VIEW connection_summary;
DROP VIEW change_log;
DROP VIEW network_ranges;

CREATE TABLE connections_v13 (
    pk                    INTEGER PRIMARY KEY,
    region                TEXT,
    project_id            TEXT NOT NULL,
    id                    TEXT NOT NULL,
    name                  TEXT,
    status                TEXT,
    vgw_id                TEXT,
    vgw_ip                TEXT,
    style                 TEXT,
    cgw_id                TEXT,
    tunnel_local_address  TEXT,
    tunnel_peer_address   TEXT,
    enable_nqa            INTEGER,
    enable_hub            INTEGER,
    created_at            TEXT,
    created_at_utc        TEXT,
    updated_at            TEXT,
    updated_at_utc        TEXT,
    enterprise_project_id TEXT,
    connection_monitor_id TEXT,
    ha_role               TEXT,
    has_peer_subnets      INTEGER NOT NULL,
    has_peer_subnets_v6   INTEGER NOT NULL,
    has_policy_rules      INTEGER NOT NULL,
    has_policy_rules_v6   INTEGER NOT NULL,
    has_tags              INTEGER NOT NULL,
    extra                 TEXT,
    content_hash          TEXT NOT NULL,
    -- When the stored content was last seen served (the page's fetch time): an apply never
    -- replaces it with an older observation, nor removes it on a sweep that started earlier.
    observed_at           TEXT NOT NULL,
    first_seen_run_id     INTEGER NOT NULL REFERENCES sync_runs (id),
    last_changed_run_id   INTEGER NOT NULL REFERENCES sync_runs (id),
    id_key                TEXT GENERATED ALWAYS AS (
        CASE WHEN length(CAST(id AS BLOB)) <= 2000 THEN '0' ELSE '1' END || id
    ) VIRTUAL
);
INSERT INTO connections_v13 (
    pk, region, project_id, id, name, status, vgw_id, vgw_ip, style, cgw_id,
    tunnel_local_address, tunnel_peer_address, enable_nqa, enable_hub, created_at,
    created_at_utc, updated_at, updated_at_utc, enterprise_project_id, connection_monitor_id,
    ha_role, has_peer_subnets, has_peer_subnets_v6, has_policy_rules, has_policy_rules_v6,
    has_tags, extra, content_hash, observed_at, first_seen_run_id, last_changed_run_id)
SELECT
    pk, region, project_id, id, name, status, vgw_id, vgw_ip, style, cgw_id,
    tunnel_local_address, tunnel_peer_address, enable_nqa, enable_hub, created_at,
    created_at_utc, updated_at, updated_at_utc, enterprise_project_id, connection_monitor_id,
    ha_role, has_peer_subnets, has_peer_subnets_v6, has_policy_rules, has_policy_rules_v6,
    has_tags, extra, content_hash, observed_at, first_seen_run_id, last_changed_run_id
FROM connections;
DROP TABLE connections;
ALTER TABLE connections_v13 RENAME TO connections;
CREATE UNIQUE INDEX connections_key ON connections (project_id, id_key);
CREATE INDEX connections_id ON connections (id);
CREATE INDEX connections_vgw ON connections (vgw_id);

CREATE TABLE peer_subnets_v13 (
    connection_pk INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    ip_version    INTEGER NOT NULL CHECK (ip_version IN (4, 6)),
    position      INTEGER NOT NULL,
    cidr          TEXT NOT NULL,
    first_hex     TEXT,
    last_hex      TEXT,
    PRIMARY KEY (connection_pk, ip_version, position)
) WITHOUT ROWID;
INSERT INTO peer_subnets_v13 SELECT * FROM peer_subnets;
DROP TABLE peer_subnets;
ALTER TABLE peer_subnets_v13 RENAME TO peer_subnets;
CREATE INDEX peer_subnets_first_hex ON peer_subnets (first_hex);

CREATE TABLE policy_rules_v13 (
    connection_pk    INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    ip_version       INTEGER NOT NULL CHECK (ip_version IN (4, 6)),
    position         INTEGER NOT NULL,
    rule_index       INTEGER,
    source           TEXT,
    has_destination  INTEGER NOT NULL,
    extra            TEXT,
    source_first_hex TEXT,
    source_last_hex  TEXT,
    PRIMARY KEY (connection_pk, ip_version, position)
) WITHOUT ROWID;
INSERT INTO policy_rules_v13 SELECT * FROM policy_rules;

CREATE TABLE policy_rule_destinations_v13 (
    connection_pk INTEGER NOT NULL,
    ip_version    INTEGER NOT NULL,
    rule_position INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    cidr          TEXT NOT NULL,
    first_hex     TEXT,
    last_hex      TEXT,
    PRIMARY KEY (connection_pk, ip_version, rule_position, position),
    FOREIGN KEY (connection_pk, ip_version, rule_position)
        REFERENCES policy_rules (connection_pk, ip_version, position) ON DELETE CASCADE
) WITHOUT ROWID;
INSERT INTO policy_rule_destinations_v13 SELECT * FROM policy_rule_destinations;
DROP TABLE policy_rule_destinations;
DROP TABLE policy_rules;
ALTER TABLE policy_rules_v13 RENAME TO policy_rules;
ALTER TABLE policy_rule_destinations_v13 RENAME TO policy_rule_destinations;
CREATE INDEX policy_rules_source_first_hex ON policy_rules (source_first_hex);
CREATE INDEX policy_rule_destinations_first_hex ON policy_rule_destinations (first_hex);

CREATE TABLE tags_v13 (
    connection_pk INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    key           TEXT,
    value         TEXT,
    extra         TEXT,
    PRIMARY KEY (connection_pk, position)
) WITHOUT ROWID;
INSERT INTO tags_v13 SELECT * FROM tags;
DROP TABLE tags;
ALTER TABLE tags_v13 RENAME TO tags;
CREATE INDEX tags_key ON tags (key, value);

CREATE VIEW connection_crypto AS
SELECT c.pk, c.project_id, c.id, c.name, c.status, c.style, c.vgw_id,
       i.ike_version,
       i.encryption_algorithm     AS ike_encryption_algorithm,
       i.authentication_algorithm AS ike_authentication_algorithm,
       i.dh_group                 AS ike_dh_group,
       i.lifetime_seconds         AS ike_lifetime_seconds,
       p.encryption_algorithm     AS ipsec_encryption_algorithm,
       p.authentication_algorithm AS ipsec_authentication_algorithm,
       p.pfs                      AS ipsec_pfs,
       p.lifetime_seconds         AS ipsec_lifetime_seconds
FROM connections c
LEFT JOIN ike_policies i ON i.connection_pk = c.pk
LEFT JOIN ipsec_policies p ON p.connection_pk = c.pk;

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

CREATE VIEW change_log AS
SELECT r.id AS record_id, r.run_id, s.apply_seq,
       s.started_at AS run_started_at, s.finished_at AS run_finished_at, r.detected_at,
       r.project_id, r.connection_id, r.connection_name, c.name AS current_name,
       r.change, r.category, r.field, r.old_value, r.new_value
FROM change_records r
JOIN sync_runs s ON s.id = r.run_id
LEFT JOIN connections c ON c.project_id = r.project_id AND c.id = r.connection_id;

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
