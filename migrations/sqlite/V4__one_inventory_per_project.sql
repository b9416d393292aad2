-- One inventory per project (see migrations/postgres/V4__one_inventory_per_project.sql for the
-- same change in PostgreSQL's dialect).
--
-- A connection is identified by its project and id; the endpoint is only how the API was
-- reached, so it moves from the inventory to the runs. A scope is a project narrowed by
-- filters. Databases that reached one project through several endpoints (an alias, a private
-- endpoint) held one copy of the inventory per endpoint: they are merged here, history kept.
-- Every version now knows when it was observed, so an older sweep never overwrites a newer one.
--
-- SQLite cannot drop a column that is part of a constraint, so the tables are rebuilt: the
-- runner executes this with foreign key enforcement off and checks the keys before committing.

DROP VIEW connection_crypto;

-- Runs remember how they reached the API.
ALTER TABLE sync_runs ADD COLUMN endpoint TEXT;
ALTER TABLE sync_runs ADD COLUMN region TEXT;
UPDATE sync_runs SET
    endpoint = (SELECT s.endpoint FROM scopes s WHERE s.id = sync_runs.scope_id),
    region = (SELECT s.region FROM scopes s WHERE s.id = sync_runs.scope_id);

-- Scopes that differ only by endpoint or region become the oldest of them.
CREATE TEMP TABLE v4_scope_merge AS
SELECT s.id AS old_id,
       (SELECT MIN(t.id) FROM scopes t
        WHERE t.project_id = s.project_id AND t.vgw_id IS s.vgw_id AND t.vgw_ip IS s.vgw_ip
            AND t.vpn_id IS s.vpn_id AND t.eip_id IS s.eip_id
            AND t.enterprise_project_ids IS s.enterprise_project_ids) AS new_id
FROM scopes s;
UPDATE sync_runs SET scope_id = (SELECT new_id FROM v4_scope_merge WHERE old_id = scope_id);

CREATE TABLE scopes_v4 (
    id                     INTEGER PRIMARY KEY,
    project_id             TEXT NOT NULL,
    vgw_id                 TEXT,
    vgw_ip                 TEXT,
    vpn_id                 TEXT,
    eip_id                 TEXT,
    enterprise_project_ids TEXT,                  -- JSON array, sorted; NULL when not filtered
    created_at             TEXT NOT NULL
);
INSERT INTO scopes_v4
SELECT id, project_id, vgw_id, vgw_ip, vpn_id, eip_id, enterprise_project_ids, created_at
FROM scopes WHERE id IN (SELECT new_id FROM v4_scope_merge);
DROP TABLE scopes;
ALTER TABLE scopes_v4 RENAME TO scopes;
-- What identifies a scope: its project and filters (absent and '' never both occur).
CREATE UNIQUE INDEX scopes_identity ON scopes (project_id, COALESCE(vgw_id, ''),
    COALESCE(vgw_ip, ''), COALESCE(vpn_id, ''), COALESCE(eip_id, ''),
    COALESCE(enterprise_project_ids, '[]'));

-- Of each project's copies of a connection, the one whose current version started last stays.
CREATE TEMP TABLE v4_kept AS
SELECT c.pk,
       (SELECT v.id FROM connection_versions v
        WHERE v.endpoint = c.endpoint AND v.project_id = c.project_id
            AND v.connection_id = c.id AND v.to_seq IS NULL) AS version_id
FROM connections c
WHERE c.pk = (
    SELECT c2.pk FROM connections c2
    LEFT JOIN connection_versions v ON v.endpoint = c2.endpoint
        AND v.project_id = c2.project_id AND v.connection_id = c2.id AND v.to_seq IS NULL
    WHERE c2.project_id = c.project_id AND c2.id = c.id
    ORDER BY COALESCE(v.from_seq, 0) DESC, c2.pk DESC LIMIT 1);

CREATE TABLE connections_v4 (
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
    UNIQUE (project_id, id)
);
INSERT INTO connections_v4
SELECT c.pk, c.region, c.project_id, c.id, c.name, c.status, c.vgw_id, c.vgw_ip, c.style,
       c.cgw_id, c.tunnel_local_address, c.tunnel_peer_address, c.enable_nqa, c.enable_hub,
       c.created_at, c.created_at_utc, c.updated_at, c.updated_at_utc, c.enterprise_project_id,
       c.connection_monitor_id, c.ha_role, c.has_peer_subnets, c.has_peer_subnets_v6,
       c.has_policy_rules, c.has_policy_rules_v6, c.has_tags, c.extra, c.content_hash,
       (SELECT r.started_at FROM sync_runs r WHERE r.id = c.last_changed_run_id),
       c.first_seen_run_id, c.last_changed_run_id
FROM connections c WHERE c.pk IN (SELECT pk FROM v4_kept);
DELETE FROM peer_subnets WHERE connection_pk NOT IN (SELECT pk FROM v4_kept);
DELETE FROM policy_rule_destinations WHERE connection_pk NOT IN (SELECT pk FROM v4_kept);
DELETE FROM policy_rules WHERE connection_pk NOT IN (SELECT pk FROM v4_kept);
DELETE FROM tags WHERE connection_pk NOT IN (SELECT pk FROM v4_kept);
DELETE FROM ike_policies WHERE connection_pk NOT IN (SELECT pk FROM v4_kept);
DELETE FROM ipsec_policies WHERE connection_pk NOT IN (SELECT pk FROM v4_kept);
DELETE FROM bgp_peers WHERE connection_pk NOT IN (SELECT pk FROM v4_kept);
DROP TABLE connections;
ALTER TABLE connections_v4 RENAME TO connections;
CREATE INDEX connections_id ON connections (id);
CREATE INDEX connections_vgw ON connections (vgw_id);

-- The copies' histories become one: a version ends where the next one of the connection (from
-- whichever endpoint) begins, and the kept copy's current version stays current.
CREATE TABLE connection_versions_v4 (
    id            INTEGER PRIMARY KEY,
    project_id    TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    body          TEXT NOT NULL,
    observed_at   TEXT NOT NULL,    -- when this content was first seen served
    from_seq      INTEGER NOT NULL,
    to_seq        INTEGER           -- NULL: current
);
INSERT INTO connection_versions_v4
SELECT v.id, v.project_id, v.connection_id, v.content_hash, v.body,
       COALESCE((SELECT r.started_at FROM sync_runs r WHERE r.apply_seq = v.from_seq),
                '1970-01-01T00:00:00+00:00'),
       v.from_seq,
       CASE WHEN v.id IN (SELECT version_id FROM v4_kept) THEN NULL
            ELSE (SELECT MIN(x) FROM (
                SELECT v.to_seq AS x
                UNION ALL
                SELECT MIN(w.from_seq) FROM connection_versions w
                WHERE w.project_id = v.project_id AND w.connection_id = v.connection_id
                    AND w.from_seq > v.from_seq))
       END
FROM connection_versions v;
-- A copy that was current without being kept ends where the kept one began, at the latest.
UPDATE connection_versions_v4 SET to_seq = (
    SELECT k.from_seq FROM connection_versions_v4 k
    WHERE k.id IN (SELECT version_id FROM v4_kept) AND k.project_id = connection_versions_v4.project_id
        AND k.connection_id = connection_versions_v4.connection_id)
WHERE to_seq IS NULL AND id NOT IN (SELECT version_id FROM v4_kept);
DROP TABLE connection_versions;
ALTER TABLE connection_versions_v4 RENAME TO connection_versions;
CREATE INDEX connection_versions_connection
    ON connection_versions (project_id, connection_id, to_seq);
CREATE INDEX connection_versions_span ON connection_versions (from_seq, to_seq);

-- What each scope returned last time: the connections its removals may consider even when
-- stored fields cannot tell (a gateway's private IP as vgw_ip). Versions are the inventory's.
CREATE TABLE scope_connections_v4 (
    scope_id      INTEGER NOT NULL REFERENCES scopes (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    PRIMARY KEY (scope_id, connection_id)
);
INSERT OR IGNORE INTO scope_connections_v4 (scope_id, connection_id)
SELECT m.new_id, sc.connection_id
FROM scope_connections sc JOIN v4_scope_merge m ON m.old_id = sc.scope_id;
DROP TABLE scope_connections;
ALTER TABLE scope_connections_v4 RENAME TO scope_connections;
CREATE INDEX scope_connections_connection ON scope_connections (connection_id);

ALTER TABLE change_records DROP COLUMN endpoint;

DROP TABLE v4_scope_merge;
DROP TABLE v4_kept;

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
