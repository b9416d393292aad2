-- Every value exactly as the API sent it (see migrations/sqlite/V7__exact_values.sql for the
-- same change in SQLite's dialect).
--
-- jsonb rewrote numbers (1e400 became 401 digits, and a number past 2^64 or 1e-400 never
-- came back as sent) and refused a string holding \u0000, which failed the whole sync. The
-- columns holding what the API sent as JSON become text: JSON as vpn_inventory's `json` module
-- writes it, every number and string as sent. Query them cast to json, never jsonb:
-- `extra::json ->> 'field'`.
ALTER TABLE connections ALTER COLUMN extra TYPE TEXT USING extra::text;
ALTER TABLE policy_rules ALTER COLUMN extra TYPE TEXT USING extra::text;
ALTER TABLE tags ALTER COLUMN extra TYPE TEXT USING extra::text;
ALTER TABLE ike_policies ALTER COLUMN dpd_extra TYPE TEXT USING dpd_extra::text,
    ALTER COLUMN extra TYPE TEXT USING extra::text;
ALTER TABLE ipsec_policies ALTER COLUMN extra TYPE TEXT USING extra::text;
ALTER TABLE bgp_peers ALTER COLUMN extra TYPE TEXT USING extra::text;
-- change_log (V6) shows these two: it is recreated as it was, now over text.
DROP VIEW change_log;
ALTER TABLE change_records ALTER COLUMN old_value TYPE TEXT USING old_value::text,
    ALTER COLUMN new_value TYPE TEXT USING new_value::text;
CREATE VIEW change_log AS
SELECT r.id AS record_id, r.run_id, s.apply_seq,
       s.started_at AS run_started_at, s.finished_at AS run_finished_at, r.detected_at,
       r.project_id, r.connection_id, r.connection_name, c.name AS current_name,
       r.change, r.category, r.field, r.old_value, r.new_value
FROM change_records r
JOIN sync_runs s ON s.id = r.run_id
LEFT JOIN connections c ON c.project_id = r.project_id AND c.id = r.connection_id;

-- Text columns hold the API's strings as vpn_inventory's `json` module holds them: a code unit
-- no text can hold (a NUL, a lone UTF-16 surrogate) is U+FDD0 followed by its four hex digits,
-- and a U+FDD0 the API sent is doubled. No NUL or lone surrogate could be stored before; a
-- U+FDD0 (chr(64976), a noncharacter: no API should send one) is doubled here.
UPDATE connections SET id = replace(id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(id, chr(64976)) > 0;
UPDATE connections SET name = replace(name, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(name, chr(64976)) > 0;
UPDATE connections SET status = replace(status, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(status, chr(64976)) > 0;
UPDATE connections SET vgw_id = replace(vgw_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(vgw_id, chr(64976)) > 0;
UPDATE connections SET vgw_ip = replace(vgw_ip, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(vgw_ip, chr(64976)) > 0;
UPDATE connections SET style = replace(style, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(style, chr(64976)) > 0;
UPDATE connections SET cgw_id = replace(cgw_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(cgw_id, chr(64976)) > 0;
UPDATE connections SET tunnel_local_address = replace(tunnel_local_address, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(tunnel_local_address, chr(64976)) > 0;
UPDATE connections SET tunnel_peer_address = replace(tunnel_peer_address, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(tunnel_peer_address, chr(64976)) > 0;
UPDATE connections SET created_at = replace(created_at, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(created_at, chr(64976)) > 0;
UPDATE connections SET updated_at = replace(updated_at, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(updated_at, chr(64976)) > 0;
UPDATE connections SET enterprise_project_id = replace(enterprise_project_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(enterprise_project_id, chr(64976)) > 0;
UPDATE connections SET connection_monitor_id = replace(connection_monitor_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(connection_monitor_id, chr(64976)) > 0;
UPDATE connections SET ha_role = replace(ha_role, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(ha_role, chr(64976)) > 0;
UPDATE peer_subnets SET cidr = replace(cidr, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(cidr, chr(64976)) > 0;
UPDATE policy_rules SET source = replace(source, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(source, chr(64976)) > 0;
UPDATE policy_rule_destinations SET cidr = replace(cidr, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(cidr, chr(64976)) > 0;
UPDATE tags SET key = replace(key, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(key, chr(64976)) > 0;
UPDATE tags SET value = replace(value, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(value, chr(64976)) > 0;
UPDATE ike_policies SET ike_version = replace(ike_version, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(ike_version, chr(64976)) > 0;
UPDATE ike_policies SET phase1_negotiation_mode = replace(phase1_negotiation_mode, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(phase1_negotiation_mode, chr(64976)) > 0;
UPDATE ike_policies SET authentication_algorithm = replace(authentication_algorithm, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(authentication_algorithm, chr(64976)) > 0;
UPDATE ike_policies SET encryption_algorithm = replace(encryption_algorithm, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(encryption_algorithm, chr(64976)) > 0;
UPDATE ike_policies SET dh_group = replace(dh_group, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(dh_group, chr(64976)) > 0;
UPDATE ike_policies SET authentication_method = replace(authentication_method, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(authentication_method, chr(64976)) > 0;
UPDATE ike_policies SET local_id_type = replace(local_id_type, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(local_id_type, chr(64976)) > 0;
UPDATE ike_policies SET local_id = replace(local_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(local_id, chr(64976)) > 0;
UPDATE ike_policies SET peer_id_type = replace(peer_id_type, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(peer_id_type, chr(64976)) > 0;
UPDATE ike_policies SET peer_id = replace(peer_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(peer_id, chr(64976)) > 0;
UPDATE ike_policies SET dpd_msg = replace(dpd_msg, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(dpd_msg, chr(64976)) > 0;
UPDATE ipsec_policies SET authentication_algorithm = replace(authentication_algorithm, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(authentication_algorithm, chr(64976)) > 0;
UPDATE ipsec_policies SET encryption_algorithm = replace(encryption_algorithm, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(encryption_algorithm, chr(64976)) > 0;
UPDATE ipsec_policies SET pfs = replace(pfs, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(pfs, chr(64976)) > 0;
UPDATE ipsec_policies SET transform_protocol = replace(transform_protocol, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(transform_protocol, chr(64976)) > 0;
UPDATE ipsec_policies SET encapsulation_mode = replace(encapsulation_mode, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(encapsulation_mode, chr(64976)) > 0;
UPDATE bgp_peers SET peer_ip_address = replace(peer_ip_address, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(peer_ip_address, chr(64976)) > 0;
UPDATE bgp_peers SET state = replace(state, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(state, chr(64976)) > 0;
UPDATE staged_connections SET connection_id = replace(connection_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(connection_id, chr(64976)) > 0;
UPDATE scope_connections SET connection_id = replace(connection_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(connection_id, chr(64976)) > 0;
UPDATE connection_versions SET connection_id = replace(connection_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(connection_id, chr(64976)) > 0;
UPDATE change_records SET connection_id = replace(connection_id, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(connection_id, chr(64976)) > 0;
UPDATE change_records SET connection_name = replace(connection_name, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(connection_name, chr(64976)) > 0;
UPDATE change_records SET field = replace(field, chr(64976), repeat(chr(64976), 2))
    WHERE strpos(field, chr(64976)) > 0;
