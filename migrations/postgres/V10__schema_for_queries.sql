-- A schema that is pleasant to query, PostgreSQL dialect (migrations/sqlite/V9__schema_for_queries.sql
-- makes the same change in SQLite's). SCHEMA.md describes every table, view and column; the
-- same text is each one's comment here (COMMENT ON, at the end).
--
-- Times are timestamptz already: `detected_at >= now() - interval '1 day'` is right as it is.
--
-- 1. Long strings. A btree index entry holds at most about 2.7 KB, so a longer string the API
--    sent (a tag key, a gateway id) in a column with a btree index failed the whole sync.
--    Indexes on such columns that serve equality lookups only become hash indexes, which hold
--    a hash of the value whatever its length.
-- 2. version_spans read name, status, style and gateway with `body::json ->> ...`, which fails
--    for a body holding `\u0000` or a lone surrogate escape anywhere (text cannot hold them).
--    Such escapes are now read as the text columns hold them: U+FDD0 and four hex digits.
-- 3. network_ranges carries the connection's project_id and id, the keys every other table and
--    view joins a connection by, and each network as a `cidr` (`network`, host bits cleared;
--    NULL for a text that is no network), for PostgreSQL's network operators. The tables keep
--    the text the API sent, which need not be a valid cidr (host bits set, or no network at
--    all): a cidr column would refuse it and fail the sync.

DROP INDEX connections_id;
CREATE INDEX connections_id ON connections USING hash (id);
DROP INDEX connections_vgw;
CREATE INDEX connections_vgw ON connections USING hash (vgw_id);
DROP INDEX connection_versions_connection;
CREATE INDEX connection_versions_connection ON connection_versions USING hash (connection_id);
DROP INDEX scope_connections_connection;
CREATE INDEX scope_connections_connection ON scope_connections USING hash (connection_id);
DROP INDEX change_records_connection;
CREATE INDEX change_records_connection ON change_records USING hash (connection_id);
DROP INDEX tags_key;
CREATE INDEX tags_key ON tags USING hash (key);
DROP INDEX ike_policies_encryption;
CREATE INDEX ike_policies_encryption ON ike_policies USING hash (encryption_algorithm);
DROP INDEX ipsec_policies_encryption;
CREATE INDEX ipsec_policies_encryption ON ipsec_policies USING hash (encryption_algorithm);

-- The JSON text `body` with each `\u0000` and lone surrogate escape (which json's text
-- functions refuse) written as U+FDD0 and the escape's four hex digits, as text columns hold
-- them; any other JSON text as it is. An escaped backslash before `u` starts no escape.
CREATE FUNCTION json_text_safe(body TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE WHEN body !~* '\\u(0000|d[89a-f])' THEN body
    ELSE regexp_replace(body,
        '(?<!(?:^|[^\\])(?:\\\\)*\\)(?:\\u(0000)|\\u(d[89ab][0-9a-f]{2})(?!\\ud[c-f][0-9a-f]{2})'
            || '|(?<!\\ud[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2}))',
        '\\ufdd0\1\2\3', 'gi')
END
$$;

DROP VIEW version_spans;
CREATE VIEW version_spans AS
SELECT v.id AS version_id, v.project_id, v.connection_id,
       json_text_safe(v.body)::json ->> 'name'   AS name,
       json_text_safe(v.body)::json ->> 'status' AS status,
       json_text_safe(v.body)::json ->> 'style'  AS style,
       json_text_safe(v.body)::json ->> 'vgw_id' AS vgw_id,
       v.content_hash, v.observed_at, v.from_seq, v.to_seq,
       f.id AS from_run_id, f.finished_at AS valid_from,
       t.id AS to_run_id, t.finished_at AS valid_to,
       v.body
FROM connection_versions v
LEFT JOIN sync_runs f ON f.apply_seq = v.from_seq
LEFT JOIN sync_runs t ON t.apply_seq = v.to_seq;

DROP VIEW network_ranges;
CREATE VIEW network_ranges AS
SELECT c.project_id, c.id AS connection_id, n.*,
       CASE WHEN n.first_hex IS NOT NULL THEN network(n.cidr::inet) END AS network
FROM (
    SELECT s.connection_pk, s.ip_version, 'peer_subnets' AS list,
           CASE s.ip_version WHEN 6 THEN 'peer_subnets_v6' ELSE 'peer_subnets' END AS path,
           NULL::BIGINT AS rule_position, s.position, s.cidr, s.first_hex, s.last_hex
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

-- What SCHEMA.md says of each table, view and column (tests/it/queryable.rs compares them).
COMMENT ON TABLE scopes IS 'What one sync covers: a project narrowed by the API''s filters. A scope is its project and filters; runs of the same scope share one row.';
COMMENT ON COLUMN scopes.id IS 'Identity of the scope.';
COMMENT ON COLUMN scopes.project_id IS 'The Huawei Cloud project synced.';
COMMENT ON COLUMN scopes.vgw_id IS 'The `--vgw-id` filter; NULL when not filtered.';
COMMENT ON COLUMN scopes.vgw_ip IS 'The `--vgw-ip` filter; NULL when not filtered.';
COMMENT ON COLUMN scopes.vpn_id IS 'The `--vpn-id` filter (one connection id); NULL when not filtered.';
COMMENT ON COLUMN scopes.eip_id IS 'The `--eip-id` filter; NULL when not filtered.';
COMMENT ON COLUMN scopes.enterprise_project_ids IS 'The `--enterprise-project-id` filters as a sorted JSON array; NULL when not filtered.';
COMMENT ON COLUMN scopes.created_at IS 'When the scope was first synced.';
COMMENT ON COLUMN scopes.forgotten_through IS 'Set by `forget-scope`: the scope''s latest run then. `status` and the metrics leave the scope out until a later run; NULL when never forgotten.';
COMMENT ON TABLE sync_runs IS 'One row per sync run: its scope, status, counts and how it reached the API.';
COMMENT ON COLUMN sync_runs.id IS 'Identity of the run (`run_id` elsewhere).';
COMMENT ON COLUMN sync_runs.scope_id IS 'The scope the run swept (`scopes.id`).';
COMMENT ON COLUMN sync_runs.status IS '`running`, `complete` or `failed`.';
COMMENT ON COLUMN sync_runs.started_at IS 'When the run started.';
COMMENT ON COLUMN sync_runs.finished_at IS 'When the run completed or failed; NULL while running.';
COMMENT ON COLUMN sync_runs.page_size IS 'The page size the run asked the API for.';
COMMENT ON COLUMN sync_runs.pages IS 'Pages fetched.';
COMMENT ON COLUMN sync_runs.fetched IS 'Connections received, repeats included.';
COMMENT ON COLUMN sync_runs.duplicates IS 'Repeats of a connection id already received in the same run.';
COMMENT ON COLUMN sync_runs.added IS 'Connections added to the inventory; NULL until the run completes.';
COMMENT ON COLUMN sync_runs.removed IS 'Connections removed from the inventory; NULL until the run completes.';
COMMENT ON COLUMN sync_runs.modified IS 'Connections whose stored fields changed; NULL until the run completes.';
COMMENT ON COLUMN sync_runs.unchanged IS 'Connections served unchanged; NULL until the run completes.';
COMMENT ON COLUMN sync_runs.error IS 'Why the run failed; NULL otherwise.';
COMMENT ON COLUMN sync_runs.apply_seq IS 'Order in which complete runs were applied (1, 2, ...); NULL until complete. History is kept in these terms.';
COMMENT ON COLUMN sync_runs.removals_skipped IS 'Why a complete run inferred no removals (a sweep not provably whole, implausibly many); NULL when removals were inferred as usual.';
COMMENT ON COLUMN sync_runs.endpoint IS 'The API endpoint the run reached.';
COMMENT ON COLUMN sync_runs.region IS 'The region the run was given; NULL when it was given an endpoint.';
COMMENT ON COLUMN sync_runs.resumed_from IS 'The failed run whose staged pages this run took over (`sync --resume`); NULL when it swept from the first page.';
COMMENT ON TABLE staged_pages IS 'Pages of a run as they arrived, kept until the run is applied (or, for a failed run, until the scope''s next run ends, for `--resume`).';
COMMENT ON COLUMN staged_pages.run_id IS 'The run that fetched the page (`sync_runs.id`).';
COMMENT ON COLUMN staged_pages.page_no IS 'The page''s number in the run''s sweep, from 1.';
COMMENT ON COLUMN staged_pages.marker IS 'The marker the page was requested with; NULL for the first page.';
COMMENT ON COLUMN staged_pages.next_marker IS 'The marker the API gave for the next page.';
COMMENT ON COLUMN staged_pages.item_count IS 'Connections on the page.';
COMMENT ON COLUMN staged_pages.request_id IS 'The API''s request id for the page.';
COMMENT ON COLUMN staged_pages.fetched_at IS 'When the page was fetched.';
COMMENT ON TABLE staged_connections IS 'Connections of a run''s staged pages, as served, until the run is applied.';
COMMENT ON COLUMN staged_connections.run_id IS 'The run that fetched it (`sync_runs.id`).';
COMMENT ON COLUMN staged_connections.connection_id IS 'The connection''s id.';
COMMENT ON COLUMN staged_connections.page_no IS 'The staged page it came on.';
COMMENT ON COLUMN staged_connections.content_hash IS 'Hash of the connection''s content, to compare with the inventory''s.';
COMMENT ON COLUMN staged_connections.created_at IS 'The connection''s `created_at` as served, from which `sync --resume` rebuilds its markers; NULL when absent or staged before schema version 8.';
COMMENT ON COLUMN staged_connections.body IS 'The connection object as served (JSON text); NULL when the inventory already held the same content.';
COMMENT ON TABLE connections IS 'The current inventory: one row per connection of each project, every field the API sent, as the latest run that saw it changed stored it.';
COMMENT ON COLUMN connections.pk IS 'Row identity; the lists and policies below refer to it as `connection_pk`.';
COMMENT ON COLUMN connections.region IS 'The region of the run that last stored the connection; NULL when it reached an endpoint.';
COMMENT ON COLUMN connections.project_id IS 'The project the connection belongs to.';
COMMENT ON COLUMN connections.id IS 'The connection''s id (API `id`).';
COMMENT ON COLUMN connections.name IS 'API `name`.';
COMMENT ON COLUMN connections.status IS 'API `status` (`ACTIVE`, `DOWN`, `ERROR`, ...).';
COMMENT ON COLUMN connections.vgw_id IS 'API `vgw_id`: the VPN gateway.';
COMMENT ON COLUMN connections.vgw_ip IS 'API `vgw_ip`: the gateway''s EIP id.';
COMMENT ON COLUMN connections.style IS 'API `style`: `POLICY`, `STATIC`, `BGP` or `POLICY-TEMPLATE`.';
COMMENT ON COLUMN connections.cgw_id IS 'API `cgw_id`: the customer gateway.';
COMMENT ON COLUMN connections.tunnel_local_address IS 'API `tunnel_local_address`.';
COMMENT ON COLUMN connections.tunnel_peer_address IS 'API `tunnel_peer_address`.';
COMMENT ON COLUMN connections.enable_nqa IS 'API `enable_nqa` (boolean).';
COMMENT ON COLUMN connections.enable_hub IS 'API `enable_hub` (boolean).';
COMMENT ON COLUMN connections.created_at IS 'API `created_at`, the text as sent.';
COMMENT ON COLUMN connections.created_at_utc IS '`created_at` parsed as a time; NULL when it reads as none.';
COMMENT ON COLUMN connections.updated_at IS 'API `updated_at`, the text as sent.';
COMMENT ON COLUMN connections.updated_at_utc IS '`updated_at` parsed as a time; NULL when it reads as none.';
COMMENT ON COLUMN connections.enterprise_project_id IS 'API `enterprise_project_id`.';
COMMENT ON COLUMN connections.connection_monitor_id IS 'API `connection_monitor_id`.';
COMMENT ON COLUMN connections.ha_role IS 'API `ha_role`.';
COMMENT ON COLUMN connections.has_peer_subnets IS 'Whether `peer_subnets` was sent at all (absent and `[]` differ).';
COMMENT ON COLUMN connections.has_peer_subnets_v6 IS 'Whether `peer_subnets_v6` was sent at all.';
COMMENT ON COLUMN connections.has_policy_rules IS 'Whether `policy_rules` was sent at all.';
COMMENT ON COLUMN connections.has_policy_rules_v6 IS 'Whether `policy_rules_v6` was sent at all.';
COMMENT ON COLUMN connections.has_tags IS 'Whether `tags` was sent at all.';
COMMENT ON COLUMN connections.extra IS 'The fields this version does not model, as a JSON object text; NULL when there are none.';
COMMENT ON COLUMN connections.content_hash IS 'Hash of the connection''s content: equal hashes, equal content.';
COMMENT ON COLUMN connections.observed_at IS 'When the stored content was last seen served (its page''s fetch time).';
COMMENT ON COLUMN connections.first_seen_run_id IS 'The run that first added the connection (`sync_runs.id`).';
COMMENT ON COLUMN connections.last_changed_run_id IS 'The run that last stored a change to it (`sync_runs.id`).';
COMMENT ON TABLE peer_subnets IS 'API `peer_subnets` (`ip_version` 4) and `peer_subnets_v6` (`ip_version` 6) of each stored connection, in the order sent.';
COMMENT ON COLUMN peer_subnets.connection_pk IS 'The connection (`connections.pk`).';
COMMENT ON COLUMN peer_subnets.ip_version IS '4 for `peer_subnets`, 6 for `peer_subnets_v6`.';
COMMENT ON COLUMN peer_subnets.position IS 'Position in the list as sent, from 0.';
COMMENT ON COLUMN peer_subnets.cidr IS 'The subnet text as sent.';
COMMENT ON COLUMN peer_subnets.first_hex IS 'The subnet''s first address as 32 hex digits (IPv4 mapped into IPv6); NULL when the text is no network.';
COMMENT ON COLUMN peer_subnets.last_hex IS 'The subnet''s last address as 32 hex digits; NULL when the text is no network.';
COMMENT ON TABLE policy_rules IS 'API `policy_rules` (`ip_version` 4) and `policy_rules_v6` (`ip_version` 6) of each stored connection, in the order sent.';
COMMENT ON COLUMN policy_rules.connection_pk IS 'The connection (`connections.pk`).';
COMMENT ON COLUMN policy_rules.ip_version IS '4 for `policy_rules`, 6 for `policy_rules_v6`.';
COMMENT ON COLUMN policy_rules.position IS 'Position in the list as sent, from 0.';
COMMENT ON COLUMN policy_rules.rule_index IS 'API `rule_index`.';
COMMENT ON COLUMN policy_rules.source IS 'API `source`: the local network text as sent.';
COMMENT ON COLUMN policy_rules.has_destination IS 'Whether `destination` was sent at all.';
COMMENT ON COLUMN policy_rules.extra IS 'The rule''s fields this version does not model, as a JSON object text; NULL when there are none.';
COMMENT ON COLUMN policy_rules.source_first_hex IS 'The source''s first address as 32 hex digits; NULL when it is no network.';
COMMENT ON COLUMN policy_rules.source_last_hex IS 'The source''s last address as 32 hex digits; NULL when it is no network.';
COMMENT ON TABLE policy_rule_destinations IS 'API `destination` list of each policy rule, in the order sent.';
COMMENT ON COLUMN policy_rule_destinations.connection_pk IS 'The connection (`connections.pk`).';
COMMENT ON COLUMN policy_rule_destinations.ip_version IS 'The rule''s list: 4 for `policy_rules`, 6 for `policy_rules_v6`.';
COMMENT ON COLUMN policy_rule_destinations.rule_position IS 'The rule''s `position` in `policy_rules`.';
COMMENT ON COLUMN policy_rule_destinations.position IS 'Position in the destination list as sent, from 0.';
COMMENT ON COLUMN policy_rule_destinations.cidr IS 'The destination network text as sent.';
COMMENT ON COLUMN policy_rule_destinations.first_hex IS 'The network''s first address as 32 hex digits; NULL when the text is no network.';
COMMENT ON COLUMN policy_rule_destinations.last_hex IS 'The network''s last address as 32 hex digits; NULL when the text is no network.';
COMMENT ON TABLE tags IS 'API `tags` of each stored connection, in the order sent.';
COMMENT ON COLUMN tags.connection_pk IS 'The connection (`connections.pk`).';
COMMENT ON COLUMN tags.position IS 'Position in the list as sent, from 0.';
COMMENT ON COLUMN tags.key IS 'API `key`.';
COMMENT ON COLUMN tags.value IS 'API `value`.';
COMMENT ON COLUMN tags.extra IS 'The tag''s fields this version does not model, as a JSON object text; NULL when there are none.';
COMMENT ON TABLE ike_policies IS 'API `ikepolicy` of each stored connection that has one, with its `dpd` block.';
COMMENT ON COLUMN ike_policies.connection_pk IS 'The connection (`connections.pk`).';
COMMENT ON COLUMN ike_policies.ike_version IS 'API `ike_version` (`v1`, `v2`).';
COMMENT ON COLUMN ike_policies.phase1_negotiation_mode IS 'API `phase1_negotiation_mode` (`main`, `aggressive`).';
COMMENT ON COLUMN ike_policies.authentication_algorithm IS 'API `authentication_algorithm` (`sha2-256`, `md5`, ...).';
COMMENT ON COLUMN ike_policies.encryption_algorithm IS 'API `encryption_algorithm` (`aes-128`, `3des`, ...).';
COMMENT ON COLUMN ike_policies.dh_group IS 'API `dh_group` (`group14`, ...).';
COMMENT ON COLUMN ike_policies.authentication_method IS 'API `authentication_method` (`pre-share`, ...).';
COMMENT ON COLUMN ike_policies.lifetime_seconds IS 'API `lifetime_seconds`.';
COMMENT ON COLUMN ike_policies.local_id_type IS 'API `local_id_type`.';
COMMENT ON COLUMN ike_policies.local_id IS 'API `local_id`.';
COMMENT ON COLUMN ike_policies.peer_id_type IS 'API `peer_id_type`.';
COMMENT ON COLUMN ike_policies.peer_id IS 'API `peer_id`.';
COMMENT ON COLUMN ike_policies.has_dpd IS 'Whether the `dpd` block was sent (boolean).';
COMMENT ON COLUMN ike_policies.dpd_timeout IS 'API `dpd.timeout` (seconds).';
COMMENT ON COLUMN ike_policies.dpd_interval IS 'API `dpd.interval` (seconds).';
COMMENT ON COLUMN ike_policies.dpd_msg IS 'API `dpd.msg` (`seq-hash-notify`, `seq-notify-hash`).';
COMMENT ON COLUMN ike_policies.dpd_extra IS 'The `dpd` block''s fields this version does not model, as a JSON object text; NULL when there are none.';
COMMENT ON COLUMN ike_policies.extra IS 'The policy''s fields this version does not model, as a JSON object text; NULL when there are none.';
COMMENT ON TABLE ipsec_policies IS 'API `ipsecpolicy` of each stored connection that has one.';
COMMENT ON COLUMN ipsec_policies.connection_pk IS 'The connection (`connections.pk`).';
COMMENT ON COLUMN ipsec_policies.authentication_algorithm IS 'API `authentication_algorithm`.';
COMMENT ON COLUMN ipsec_policies.encryption_algorithm IS 'API `encryption_algorithm`.';
COMMENT ON COLUMN ipsec_policies.pfs IS 'API `pfs`: the DH group for perfect forward secrecy, or `disable`.';
COMMENT ON COLUMN ipsec_policies.transform_protocol IS 'API `transform_protocol` (`esp`, ...).';
COMMENT ON COLUMN ipsec_policies.lifetime_seconds IS 'API `lifetime_seconds`.';
COMMENT ON COLUMN ipsec_policies.encapsulation_mode IS 'API `encapsulation_mode` (`tunnel`, ...).';
COMMENT ON COLUMN ipsec_policies.extra IS 'The policy''s fields this version does not model, as a JSON object text; NULL when there are none.';
COMMENT ON TABLE bgp_peers IS 'API `bgp_peer` of each stored connection that has one (BGP-style connections).';
COMMENT ON COLUMN bgp_peers.connection_pk IS 'The connection (`connections.pk`).';
COMMENT ON COLUMN bgp_peers.peer_ip_address IS 'API `peer_ip_address`.';
COMMENT ON COLUMN bgp_peers.peer_asn IS 'API `peer_asn` (4-byte ASN).';
COMMENT ON COLUMN bgp_peers.state IS 'API `state` (`Established`, ...).';
COMMENT ON COLUMN bgp_peers.state_duration IS 'API `state_duration`: seconds in that state when the connection was last stored.';
COMMENT ON COLUMN bgp_peers.num_received_routes IS 'API `num_received_routes`.';
COMMENT ON COLUMN bgp_peers.num_message_received IS 'API `num_message_received`.';
COMMENT ON COLUMN bgp_peers.num_message_sent IS 'API `num_message_sent`.';
COMMENT ON COLUMN bgp_peers.extra IS 'The peer''s fields this version does not model, as a JSON object text; NULL when there are none.';
COMMENT ON TABLE connection_versions IS 'Every distinct version of every connection and the span of applied runs during which it was the inventory''s current one: `from_seq <= sync_runs.apply_seq < to_seq`. `version_spans` shows the same with run ids and times.';
COMMENT ON COLUMN connection_versions.id IS 'Identity of the version.';
COMMENT ON COLUMN connection_versions.project_id IS 'The connection''s project.';
COMMENT ON COLUMN connection_versions.connection_id IS 'The connection''s id.';
COMMENT ON COLUMN connection_versions.content_hash IS 'Hash of the version''s content.';
COMMENT ON COLUMN connection_versions.body IS 'The connection as `export` gives it (JSON text).';
COMMENT ON COLUMN connection_versions.observed_at IS 'When this content was first seen served.';
COMMENT ON COLUMN connection_versions.from_seq IS '`apply_seq` of the run that made it current.';
COMMENT ON COLUMN connection_versions.to_seq IS '`apply_seq` of the run that replaced or removed it; NULL while current.';
COMMENT ON TABLE scope_connections IS 'What each scope''s latest complete run returned: the connections its removals may consider where stored fields cannot tell.';
COMMENT ON COLUMN scope_connections.scope_id IS 'The scope (`scopes.id`).';
COMMENT ON COLUMN scope_connections.connection_id IS 'A connection id the scope returned.';
COMMENT ON TABLE change_records IS 'What each complete run found changed: one row per added or removed connection, one per changed field of a modified one.';
COMMENT ON COLUMN change_records.id IS 'Identity of the record.';
COMMENT ON COLUMN change_records.run_id IS 'The run that found the change (`sync_runs.id`).';
COMMENT ON COLUMN change_records.project_id IS 'The connection''s project.';
COMMENT ON COLUMN change_records.connection_id IS 'The connection''s id.';
COMMENT ON COLUMN change_records.connection_name IS 'The connection''s name when the change was found.';
COMMENT ON COLUMN change_records.change IS '`added`, `removed` or `modified`.';
COMMENT ON COLUMN change_records.category IS '`state` (`status`, `bgp_peer.state`) or `config` (everything else).';
COMMENT ON COLUMN change_records.field IS 'The changed field as a dotted API path (`ikepolicy.dpd.interval`, `tags.<key>`, `policy_rules[<rule_index>].destination`); NULL for added and removed.';
COMMENT ON COLUMN change_records.old_value IS 'The value before, as JSON text; NULL when absent.';
COMMENT ON COLUMN change_records.new_value IS 'The value after, as JSON text; NULL when absent.';
COMMENT ON COLUMN change_records.detected_at IS 'When the run recorded the change.';
COMMENT ON VIEW connection_summary IS 'One row per stored connection, flat: its settings, IKE and IPsec algorithms and lifetimes, DPD, BGP peer, and counts of its lists.';
COMMENT ON COLUMN connection_summary.pk IS 'As `connections.pk`.';
COMMENT ON COLUMN connection_summary.project_id IS 'The connection''s project.';
COMMENT ON COLUMN connection_summary.id IS 'The connection''s id.';
COMMENT ON COLUMN connection_summary.name IS 'As `connections.name`.';
COMMENT ON COLUMN connection_summary.status IS 'As `connections.status`.';
COMMENT ON COLUMN connection_summary.style IS 'As `connections.style`.';
COMMENT ON COLUMN connection_summary.vgw_id IS 'As `connections.vgw_id`.';
COMMENT ON COLUMN connection_summary.vgw_ip IS 'As `connections.vgw_ip`.';
COMMENT ON COLUMN connection_summary.cgw_id IS 'As `connections.cgw_id`.';
COMMENT ON COLUMN connection_summary.enterprise_project_id IS 'As `connections.enterprise_project_id`.';
COMMENT ON COLUMN connection_summary.ha_role IS 'As `connections.ha_role`.';
COMMENT ON COLUMN connection_summary.tunnel_local_address IS 'As `connections.tunnel_local_address`.';
COMMENT ON COLUMN connection_summary.tunnel_peer_address IS 'As `connections.tunnel_peer_address`.';
COMMENT ON COLUMN connection_summary.created_at IS 'As `connections.created_at` (the text as sent).';
COMMENT ON COLUMN connection_summary.updated_at IS 'As `connections.updated_at` (the text as sent).';
COMMENT ON COLUMN connection_summary.observed_at IS 'As `connections.observed_at`.';
COMMENT ON COLUMN connection_summary.first_seen_run_id IS 'As `connections.first_seen_run_id`.';
COMMENT ON COLUMN connection_summary.last_changed_run_id IS 'As `connections.last_changed_run_id`.';
COMMENT ON COLUMN connection_summary.ike_version IS 'As `ike_policies.ike_version`.';
COMMENT ON COLUMN connection_summary.phase1_negotiation_mode IS 'As `ike_policies.phase1_negotiation_mode`.';
COMMENT ON COLUMN connection_summary.ike_encryption_algorithm IS 'As `ike_policies.encryption_algorithm`.';
COMMENT ON COLUMN connection_summary.ike_authentication_algorithm IS 'As `ike_policies.authentication_algorithm`.';
COMMENT ON COLUMN connection_summary.ike_dh_group IS 'As `ike_policies.dh_group`.';
COMMENT ON COLUMN connection_summary.ike_lifetime_seconds IS 'As `ike_policies.lifetime_seconds`.';
COMMENT ON COLUMN connection_summary.has_dpd IS 'As `ike_policies.has_dpd`; NULL without an IKE policy.';
COMMENT ON COLUMN connection_summary.dpd_timeout IS 'As `ike_policies.dpd_timeout`.';
COMMENT ON COLUMN connection_summary.dpd_interval IS 'As `ike_policies.dpd_interval`.';
COMMENT ON COLUMN connection_summary.dpd_msg IS 'As `ike_policies.dpd_msg`.';
COMMENT ON COLUMN connection_summary.ipsec_encryption_algorithm IS 'As `ipsec_policies.encryption_algorithm`.';
COMMENT ON COLUMN connection_summary.ipsec_authentication_algorithm IS 'As `ipsec_policies.authentication_algorithm`.';
COMMENT ON COLUMN connection_summary.ipsec_pfs IS 'As `ipsec_policies.pfs`.';
COMMENT ON COLUMN connection_summary.ipsec_transform_protocol IS 'As `ipsec_policies.transform_protocol`.';
COMMENT ON COLUMN connection_summary.ipsec_lifetime_seconds IS 'As `ipsec_policies.lifetime_seconds`.';
COMMENT ON COLUMN connection_summary.bgp_peer_ip_address IS 'As `bgp_peers.peer_ip_address`.';
COMMENT ON COLUMN connection_summary.bgp_peer_asn IS 'As `bgp_peers.peer_asn`.';
COMMENT ON COLUMN connection_summary.bgp_state IS 'As `bgp_peers.state`.';
COMMENT ON COLUMN connection_summary.bgp_state_duration IS 'As `bgp_peers.state_duration`.';
COMMENT ON COLUMN connection_summary.bgp_received_routes IS 'As `bgp_peers.num_received_routes`.';
COMMENT ON COLUMN connection_summary.peer_subnet_count IS 'Rows in `peer_subnets` (IPv4 and IPv6).';
COMMENT ON COLUMN connection_summary.policy_rule_count IS 'Rows in `policy_rules` (IPv4 and IPv6).';
COMMENT ON COLUMN connection_summary.tag_count IS 'Rows in `tags`.';
COMMENT ON COLUMN connection_summary.tags IS 'The tags as `key=value` pairs in the order sent, joined by `, `; NULL without tags.';
COMMENT ON VIEW connection_crypto IS 'One row per stored connection with its IKE and IPsec algorithms side by side.';
COMMENT ON COLUMN connection_crypto.pk IS 'As `connections.pk`.';
COMMENT ON COLUMN connection_crypto.project_id IS 'The connection''s project.';
COMMENT ON COLUMN connection_crypto.id IS 'The connection''s id.';
COMMENT ON COLUMN connection_crypto.name IS 'As `connections.name`.';
COMMENT ON COLUMN connection_crypto.status IS 'As `connections.status`.';
COMMENT ON COLUMN connection_crypto.style IS 'As `connections.style`.';
COMMENT ON COLUMN connection_crypto.vgw_id IS 'As `connections.vgw_id`.';
COMMENT ON COLUMN connection_crypto.ike_version IS 'As `ike_policies.ike_version`.';
COMMENT ON COLUMN connection_crypto.ike_encryption_algorithm IS 'As `ike_policies.encryption_algorithm`.';
COMMENT ON COLUMN connection_crypto.ike_authentication_algorithm IS 'As `ike_policies.authentication_algorithm`.';
COMMENT ON COLUMN connection_crypto.ike_dh_group IS 'As `ike_policies.dh_group`.';
COMMENT ON COLUMN connection_crypto.ike_lifetime_seconds IS 'As `ike_policies.lifetime_seconds`.';
COMMENT ON COLUMN connection_crypto.ipsec_encryption_algorithm IS 'As `ipsec_policies.encryption_algorithm`.';
COMMENT ON COLUMN connection_crypto.ipsec_authentication_algorithm IS 'As `ipsec_policies.authentication_algorithm`.';
COMMENT ON COLUMN connection_crypto.ipsec_pfs IS 'As `ipsec_policies.pfs`.';
COMMENT ON COLUMN connection_crypto.ipsec_lifetime_seconds IS 'As `ipsec_policies.lifetime_seconds`.';
COMMENT ON VIEW version_spans IS 'Every stored version of every connection with the span during which it was the inventory''s current one, in run ids and times.';
COMMENT ON COLUMN version_spans.version_id IS 'As `connection_versions.id`.';
COMMENT ON COLUMN version_spans.project_id IS 'The connection''s project.';
COMMENT ON COLUMN version_spans.connection_id IS 'The connection''s id.';
COMMENT ON COLUMN version_spans.name IS 'The version''s `name`, read from its body (on PostgreSQL a NUL or lone surrogate as text columns hold it).';
COMMENT ON COLUMN version_spans.status IS 'The version''s `status`, read from its body.';
COMMENT ON COLUMN version_spans.style IS 'The version''s `style`, read from its body.';
COMMENT ON COLUMN version_spans.vgw_id IS 'The version''s `vgw_id`, read from its body.';
COMMENT ON COLUMN version_spans.content_hash IS 'As `connection_versions.content_hash`.';
COMMENT ON COLUMN version_spans.observed_at IS 'As `connection_versions.observed_at`.';
COMMENT ON COLUMN version_spans.from_seq IS 'As `connection_versions.from_seq`.';
COMMENT ON COLUMN version_spans.to_seq IS 'As `connection_versions.to_seq`.';
COMMENT ON COLUMN version_spans.from_run_id IS 'The run that made the version current (`sync_runs.id`).';
COMMENT ON COLUMN version_spans.valid_from IS 'When that run finished.';
COMMENT ON COLUMN version_spans.to_run_id IS 'The run that replaced or removed the version; NULL while current.';
COMMENT ON COLUMN version_spans.valid_to IS 'When that run finished; NULL while current.';
COMMENT ON COLUMN version_spans.body IS 'As `connection_versions.body`.';
COMMENT ON VIEW change_log IS 'Change records with their run''s apply order and times and the connection''s name as recorded and as it is now.';
COMMENT ON COLUMN change_log.record_id IS 'As `change_records.id`.';
COMMENT ON COLUMN change_log.run_id IS 'The run that found the change (`sync_runs.id`).';
COMMENT ON COLUMN change_log.apply_seq IS 'The run''s `apply_seq`.';
COMMENT ON COLUMN change_log.run_started_at IS 'When the run started.';
COMMENT ON COLUMN change_log.run_finished_at IS 'When the run finished.';
COMMENT ON COLUMN change_log.detected_at IS 'As `change_records.detected_at`.';
COMMENT ON COLUMN change_log.project_id IS 'The connection''s project.';
COMMENT ON COLUMN change_log.connection_id IS 'The connection''s id.';
COMMENT ON COLUMN change_log.connection_name IS 'The name when the change was found.';
COMMENT ON COLUMN change_log.current_name IS 'The name now; NULL once the connection is removed.';
COMMENT ON COLUMN change_log.change IS 'As `change_records.change`.';
COMMENT ON COLUMN change_log.category IS 'As `change_records.category`.';
COMMENT ON COLUMN change_log.field IS 'As `change_records.field`.';
COMMENT ON COLUMN change_log.old_value IS 'As `change_records.old_value`.';
COMMENT ON COLUMN change_log.new_value IS 'As `change_records.new_value`.';
COMMENT ON VIEW network_ranges IS 'Every network of every stored connection (peer subnets, policy rule sources and destinations) with its API path and bounds.';
COMMENT ON COLUMN network_ranges.project_id IS 'The connection''s project.';
COMMENT ON COLUMN network_ranges.connection_id IS 'The connection''s id.';
COMMENT ON COLUMN network_ranges.connection_pk IS 'As `connections.pk`.';
COMMENT ON COLUMN network_ranges.ip_version IS '4 or 6: which list (`peer_subnets` or `peer_subnets_v6`, ...).';
COMMENT ON COLUMN network_ranges.list IS '`peer_subnets`, `policy_rule_source` or `policy_rule_destination`.';
COMMENT ON COLUMN network_ranges.path IS 'The network''s API path (`peer_subnets_v6`, `policy_rules[3].destination`).';
COMMENT ON COLUMN network_ranges.rule_position IS 'The rule''s `position` in `policy_rules` for a rule''s source or destination; NULL for a peer subnet.';
COMMENT ON COLUMN network_ranges.position IS 'Position in its list; NULL for a rule''s source.';
COMMENT ON COLUMN network_ranges.cidr IS 'The network text as sent.';
COMMENT ON COLUMN network_ranges.first_hex IS 'The network''s first address as 32 hex digits; NULL when the text is no network.';
COMMENT ON COLUMN network_ranges.last_hex IS 'The network''s last address as 32 hex digits; NULL when the text is no network.';
COMMENT ON COLUMN network_ranges.network IS 'On PostgreSQL the network as a `cidr` (host bits cleared), for its network operators (`<<=`, `&&`); on SQLite the text as sent. NULL when the text is no network.';
