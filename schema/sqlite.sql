-- Generated: the schema the migrations in migrations/sqlite/ leave, read back from a
-- database they created. Do not edit: regenerate with schema/regenerate.sh
-- (UPDATE_SCHEMA=1 cargo test --test it schema::snapshot); a test fails while it differs.
-- Up to the migration V26__created_at_index.

CREATE TABLE bgp_peers (
    connection_pk        INTEGER PRIMARY KEY REFERENCES connections (pk) ON DELETE CASCADE,
    peer_ip_address      TEXT,
    peer_asn             INTEGER,  -- 4-byte ASN: up to 4294967295
    state                TEXT,
    state_duration       INTEGER,
    num_received_routes  INTEGER,
    num_message_received INTEGER,
    num_message_sent     INTEGER,
    extra                TEXT
);

CREATE TABLE change_records (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES sync_runs (id),
    project_id      TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    connection_name TEXT,
    change          TEXT NOT NULL CHECK (change IN ('added', 'removed', 'modified')),
    category        TEXT NOT NULL CHECK (category IN ('config', 'state')),
    field           TEXT,
    old_value       TEXT,
    new_value       TEXT,
    detected_at     TEXT NOT NULL
, baseline INTEGER NOT NULL DEFAULT 0
    CHECK (baseline IN (0, 1)), changed_after TEXT);
CREATE INDEX change_records_connection ON change_records (connection_id, id);
CREATE INDEX change_records_detected ON change_records (detected_at);
CREATE INDEX change_records_run ON change_records (run_id);

CREATE TABLE connection_versions (
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
CREATE INDEX connection_versions_connection
    ON connection_versions (project_id, connection_id, to_seq);
CREATE INDEX connection_versions_span ON connection_versions (from_seq, to_seq);

CREATE TABLE connections (
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
, served_hash TEXT);
CREATE INDEX connections_created_at ON connections (project_id, substr(created_at, 1, 64));
CREATE INDEX connections_id ON connections (id);
CREATE UNIQUE INDEX connections_key ON connections (project_id, id_key);
CREATE INDEX connections_vgw ON connections (vgw_id);

CREATE TABLE ike_policies (
    connection_pk            INTEGER PRIMARY KEY REFERENCES connections (pk) ON DELETE CASCADE,
    ike_version              TEXT,
    phase1_negotiation_mode  TEXT,
    authentication_algorithm TEXT,
    encryption_algorithm     TEXT,
    dh_group                 TEXT,
    authentication_method    TEXT,
    lifetime_seconds         INTEGER,
    local_id_type            TEXT,
    local_id                 TEXT,
    peer_id_type             TEXT,
    peer_id                  TEXT,
    has_dpd                  INTEGER NOT NULL,
    dpd_timeout              INTEGER,
    dpd_interval             INTEGER,
    dpd_msg                  TEXT,
    dpd_extra                TEXT,
    extra                    TEXT
);

CREATE TABLE ipsec_policies (
    connection_pk            INTEGER PRIMARY KEY REFERENCES connections (pk) ON DELETE CASCADE,
    authentication_algorithm TEXT,
    encryption_algorithm     TEXT,
    pfs                      TEXT,
    transform_protocol       TEXT,
    lifetime_seconds         INTEGER,
    encapsulation_mode       TEXT,
    extra                    TEXT
);

CREATE TABLE peer_subnets (
    connection_pk INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    ip_version    INTEGER NOT NULL CHECK (ip_version IN (4, 6)),
    position      INTEGER NOT NULL,
    cidr          TEXT NOT NULL,
    first_hex     TEXT,
    last_hex      TEXT,
    PRIMARY KEY (connection_pk, ip_version, position)
) WITHOUT ROWID;
CREATE INDEX peer_subnets_first_hex ON peer_subnets (first_hex);

CREATE TABLE policy_rule_destinations (
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
CREATE INDEX policy_rule_destinations_first_hex ON policy_rule_destinations (first_hex);

CREATE TABLE policy_rules (
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
CREATE INDEX policy_rules_source_first_hex ON policy_rules (source_first_hex);

CREATE TABLE scope_connections (
    scope_id       INTEGER NOT NULL REFERENCES scopes (id) ON DELETE CASCADE,
    connection_id  TEXT NOT NULL,
    connection_key TEXT GENERATED ALWAYS AS (
        CASE WHEN length(CAST(connection_id AS BLOB)) <= 2000 THEN '0' ELSE '1' END
        || connection_id
    ) VIRTUAL
);
CREATE INDEX scope_connections_connection ON scope_connections (connection_id);
CREATE UNIQUE INDEX scope_connections_key ON scope_connections (scope_id, connection_key);

CREATE TABLE scopes (
    id                     INTEGER PRIMARY KEY,
    project_id             TEXT NOT NULL,
    vgw_id                 TEXT,
    vgw_ip                 TEXT,
    vpn_id                 TEXT,
    eip_id                 TEXT,
    enterprise_project_ids TEXT,                  -- JSON array, sorted; NULL when not filtered
    created_at             TEXT NOT NULL,
    forgotten_through      INTEGER                -- `forget-scope`: the last run it forgot
);
CREATE UNIQUE INDEX scopes_identity ON scopes (project_id, COALESCE(vgw_id, ''),
    COALESCE(vgw_ip, ''), COALESCE(vpn_id, ''), COALESCE(eip_id, ''),
    COALESCE(enterprise_project_ids, '[]'));

CREATE TABLE "staged_connections" (
    run_id         INTEGER NOT NULL,
    connection_id  TEXT NOT NULL,
    page_no        INTEGER NOT NULL,
    content_hash   TEXT NOT NULL,
    created_at     TEXT,
    body           TEXT,
    connection_key TEXT GENERATED ALWAYS AS (
        CASE WHEN length(CAST(connection_id AS BLOB)) <= 2000 THEN '0' ELSE '1' END
        || connection_id
    ) VIRTUAL,
    served_hash    TEXT
);
CREATE UNIQUE INDEX staged_connections_key ON staged_connections (run_id, connection_key);

CREATE TABLE staged_pages (
    run_id      INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    page_no     INTEGER NOT NULL,
    marker      TEXT,            -- the marker this page was requested with (NULL: first page)
    next_marker TEXT,
    item_count  INTEGER NOT NULL,
    request_id  TEXT,
    fetched_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, page_no)
);

CREATE TABLE sync_runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_id         INTEGER NOT NULL REFERENCES scopes (id),
    status           TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    page_size        INTEGER NOT NULL,
    pages            INTEGER NOT NULL DEFAULT 0,
    fetched          INTEGER NOT NULL DEFAULT 0,  -- connections received, duplicates included
    duplicates       INTEGER NOT NULL DEFAULT 0,  -- repeats of an id already received
    added            INTEGER,                     -- NULL until the run completes
    removed          INTEGER,
    modified         INTEGER,
    unchanged        INTEGER,
    error            TEXT,
    -- Order in which complete runs were applied (1, 2, ...); NULL until complete. History
    -- (connection_versions) is kept in these terms, so `export --as-of` is exact even when
    -- runs of different scopes finish out of start order.
    apply_seq        INTEGER UNIQUE,
    removals_skipped TEXT,                        -- why no removals were inferred, if so
    endpoint         TEXT,
    region           TEXT,
    resumed_from     INTEGER REFERENCES sync_runs (id)  -- `sync --resume`: the run taken over
, sync_id INTEGER REFERENCES syncs (id), target TEXT);
CREATE INDEX sync_runs_resumed_from ON sync_runs (resumed_from);
CREATE INDEX sync_runs_scope ON sync_runs (scope_id, id);
CREATE INDEX sync_runs_sync ON sync_runs (sync_id, id);

CREATE TABLE syncs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,                  -- NULL while running, or when the process died
    host        TEXT                   -- the host name of the machine that ran it
);

CREATE TABLE tags (
    connection_pk INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    key           TEXT,
    value         TEXT,
    extra         TEXT,
    PRIMARY KEY (connection_pk, position)
) WITHOUT ROWID;

CREATE TABLE trace_fetches (
    run_id       INTEGER PRIMARY KEY REFERENCES sync_runs (id),
    window_from  TEXT NOT NULL,        -- the traces asked for: after this ...
    window_to    TEXT NOT NULL,        -- ... up to this
    covered_from TEXT,                 -- what CTS still kept: from here; NULL unless fetched
    outcome      TEXT NOT NULL CHECK (outcome IN ('fetched', 'expired', 'forbidden', 'failed')),
    traces       INTEGER NOT NULL DEFAULT 0,
    pages        INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);

CREATE TABLE traces (
    project_id    TEXT NOT NULL,
    trace_id      TEXT NOT NULL,
    time          TEXT NOT NULL,       -- when the operation happened
    trace_name    TEXT,                -- the operation, e.g. updateVpnConnection
    trace_type    TEXT,                -- ConsoleAction, ApiCall or SystemAction
    trace_rating  TEXT,                -- normal, warning or incident
    resource_type TEXT,
    resource_id   TEXT,                -- the connection's id
    resource_name TEXT,
    user_name     TEXT,
    user_id       TEXT,
    domain_name   TEXT,
    source_ip     TEXT,
    code          TEXT,                -- the HTTP status of the operation
    request_id    TEXT,
    body          TEXT NOT NULL,       -- the trace as CTS sent it (JSON)
    run_id        INTEGER NOT NULL REFERENCES sync_runs (id),  -- the run that stored it first
    PRIMARY KEY (project_id, trace_id)
);
CREATE INDEX traces_resource ON traces (project_id, resource_id, time);
CREATE INDEX traces_time ON traces (time);

CREATE VIEW change_authors AS
SELECT r.id AS record_id, r.run_id, r.project_id, r.connection_id, r.change, r.field,
       COALESCE(r.changed_after, f.window_from) AS window_from, r.detected_at AS window_to,
       t.trace_id, t.time, t.user_name, t.trace_name AS operation, t.source_ip,
       t.trace_type, t.domain_name,
       CASE WHEN t.trace_id IS NOT NULL THEN NULL
            WHEN f.outcome IS NULL THEN 'no traces fetched'
            WHEN f.outcome = 'forbidden' THEN 'no traces fetched: missing CTS permission'
            WHEN f.outcome = 'failed' THEN 'no traces fetched: fetching them failed'
            WHEN f.covered_from > COALESCE(r.changed_after, f.window_from)
                THEN 'window expired'
            ELSE 'no matching trace' END AS unknown_reason
FROM change_records r
LEFT JOIN trace_fetches f ON f.run_id = r.run_id
LEFT JOIN traces t ON t.project_id = r.project_id AND t.resource_id = r.connection_id
    AND t.time > COALESCE(r.changed_after, f.window_from) AND t.time <= r.detected_at
    AND (t.code IS NULL OR SUBSTR(t.code, 1, 1) NOT IN ('4', '5'));

CREATE VIEW change_log AS
SELECT r.id AS record_id, r.run_id, s.apply_seq,
       s.started_at AS run_started_at, s.finished_at AS run_finished_at, r.detected_at,
       r.project_id, r.connection_id, r.connection_name, c.name AS current_name,
       r.change, r.category, r.field, r.old_value, r.new_value,
       s.sync_id, s.target, s.region, r.baseline
FROM change_records r
JOIN sync_runs s ON s.id = r.run_id
LEFT JOIN connections c ON c.project_id = r.project_id AND c.id = r.connection_id;

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
