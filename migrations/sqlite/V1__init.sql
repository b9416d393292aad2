-- vpn-inventory schema, SQLite dialect. migrations/postgres/V1__init.sql holds the same tables
-- and columns with the same meaning; keep the two in step.
--
-- Timestamps we create are UTC text as sqlx writes chrono values; timestamps the API sent are
-- kept verbatim in *_at (text) and parsed into *_at_utc for ordering and queries.
-- Booleans are 0/1. Every table that mirrors an API object has `extra`: a JSON object text of the
-- fields this version does not model (NULL when there are none), so nothing the API sends is lost.

-- What one sync covers: a project at an endpoint, narrowed by the API's filters.
CREATE TABLE scopes (
    id                     INTEGER PRIMARY KEY,
    scope_key              TEXT NOT NULL UNIQUE,  -- canonical JSON of all the columns below
    endpoint               TEXT NOT NULL,
    region                 TEXT,
    project_id             TEXT NOT NULL,
    vgw_id                 TEXT,
    vgw_ip                 TEXT,
    vpn_id                 TEXT,
    eip_id                 TEXT,
    enterprise_project_ids TEXT,                  -- JSON array, sorted; NULL when not filtered
    created_at             TEXT NOT NULL
);

CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_id    INTEGER NOT NULL REFERENCES scopes (id),
    status      TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    page_size   INTEGER NOT NULL,
    pages       INTEGER NOT NULL DEFAULT 0,
    fetched     INTEGER NOT NULL DEFAULT 0,  -- connections received, duplicates included
    duplicates  INTEGER NOT NULL DEFAULT 0,  -- repeats of an id already received in this run
    added       INTEGER,                     -- NULL until the run completes
    removed     INTEGER,
    modified    INTEGER,
    unchanged   INTEGER,
    error       TEXT,
    -- Order in which complete runs were applied (1, 2, ...); NULL until complete. History
    -- (connection_versions) is kept in these terms, so `export --as-of` is exact even when
    -- runs of different scopes finish out of start order.
    apply_seq   INTEGER UNIQUE
);
CREATE INDEX sync_runs_scope ON sync_runs (scope_id, id);

-- Pages of a run as they arrived, one transaction each; applied when the sweep completes.
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

CREATE TABLE staged_connections (
    run_id        INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    page_no       INTEGER NOT NULL,
    content_hash  TEXT NOT NULL,
    body          TEXT NOT NULL,   -- the connection object exactly as served
    PRIMARY KEY (run_id, connection_id)
);

CREATE TABLE connections (
    pk                    INTEGER PRIMARY KEY,
    endpoint              TEXT NOT NULL,
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
    -- Whether each list was sent at all: absent and [] are different answers.
    has_peer_subnets      INTEGER NOT NULL,
    has_peer_subnets_v6   INTEGER NOT NULL,
    has_policy_rules      INTEGER NOT NULL,
    has_policy_rules_v6   INTEGER NOT NULL,
    has_tags              INTEGER NOT NULL,
    extra                 TEXT,
    content_hash          TEXT NOT NULL,
    first_seen_run_id     INTEGER NOT NULL REFERENCES sync_runs (id),
    last_changed_run_id   INTEGER NOT NULL REFERENCES sync_runs (id),
    UNIQUE (endpoint, project_id, id)
);
CREATE INDEX connections_id ON connections (id);
CREATE INDEX connections_vgw ON connections (vgw_id);

-- Every distinct version of every connection, as stored (the export shape), and the span of
-- applied runs during which it was the inventory's current one: from_seq <= seq < to_seq.
CREATE TABLE connection_versions (
    id            INTEGER PRIMARY KEY,
    endpoint      TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    body          TEXT NOT NULL,
    from_seq      INTEGER NOT NULL,
    to_seq        INTEGER           -- NULL: current
);
CREATE INDEX connection_versions_connection ON connection_versions (endpoint, project_id, connection_id, to_seq);
CREATE INDEX connection_versions_span ON connection_versions (from_seq, to_seq);

-- The snapshot of each scope: which connection versions its latest complete run saw.
-- A run is judged against this, never against what another scope saw.
CREATE TABLE scope_connections (
    scope_id      INTEGER NOT NULL REFERENCES scopes (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    version_id    INTEGER NOT NULL REFERENCES connection_versions (id),
    PRIMARY KEY (scope_id, connection_id)
);
CREATE INDEX scope_connections_connection ON scope_connections (connection_id);

-- What each complete run found changed in its scope: one row per added or removed connection,
-- one per changed field of a modified one. Values are JSON text; NULL means absent.
CREATE TABLE change_records (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES sync_runs (id),
    endpoint        TEXT NOT NULL,
    project_id      TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    connection_name TEXT,
    change          TEXT NOT NULL CHECK (change IN ('added', 'removed', 'modified')),
    category        TEXT NOT NULL CHECK (category IN ('config', 'state')),
    field           TEXT,
    old_value       TEXT,
    new_value       TEXT,
    detected_at     TEXT NOT NULL
);
CREATE INDEX change_records_run ON change_records (run_id);
CREATE INDEX change_records_connection ON change_records (connection_id, id);
CREATE INDEX change_records_detected ON change_records (detected_at);

-- peer_subnets (ip_version 4) and peer_subnets_v6 (ip_version 6), in the order sent.
CREATE TABLE peer_subnets (
    connection_pk INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    ip_version    INTEGER NOT NULL CHECK (ip_version IN (4, 6)),
    position      INTEGER NOT NULL,
    cidr          TEXT NOT NULL,
    PRIMARY KEY (connection_pk, ip_version, position)
);

-- policy_rules (ip_version 4) and policy_rules_v6 (ip_version 6).
CREATE TABLE policy_rules (
    connection_pk   INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    ip_version      INTEGER NOT NULL CHECK (ip_version IN (4, 6)),
    position        INTEGER NOT NULL,
    rule_index      INTEGER,
    source          TEXT,
    has_destination INTEGER NOT NULL,
    extra           TEXT,
    PRIMARY KEY (connection_pk, ip_version, position)
);

CREATE TABLE policy_rule_destinations (
    connection_pk INTEGER NOT NULL,
    ip_version    INTEGER NOT NULL,
    rule_position INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    cidr          TEXT NOT NULL,
    PRIMARY KEY (connection_pk, ip_version, rule_position, position),
    FOREIGN KEY (connection_pk, ip_version, rule_position)
        REFERENCES policy_rules (connection_pk, ip_version, position) ON DELETE CASCADE
);

CREATE TABLE tags (
    connection_pk INTEGER NOT NULL REFERENCES connections (pk) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    key           TEXT,
    value         TEXT,
    extra         TEXT,
    PRIMARY KEY (connection_pk, position)
);
CREATE INDEX tags_key ON tags (key, value);

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
