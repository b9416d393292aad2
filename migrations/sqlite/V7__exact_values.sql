-- Every value exactly as the API sent it (see migrations/postgres/V7__exact_values.sql for the
-- same change in PostgreSQL's dialect, where the JSON columns also change from jsonb to text).
--
-- Text columns hold the API's strings as vpn_inventory's `json` module holds them: a code unit
-- no text can hold (a NUL, which PostgreSQL refuses, or a lone UTF-16 surrogate) is U+FDD0
-- followed by its four hex digits, and a U+FDD0 the API sent is doubled; the same text on both
-- backends, so a query answers the same on either. Strings SQLite stored before as they were
-- are brought to that form: each U+FDD0 (char(64976)) doubled, then each NUL replaced. SQLite's
-- replace() cannot look for a NUL, so that goes through the string as a JSON literal:
-- json_quote writes a NUL as \u0000 (and never a raw char(1), which keeps escaped backslashes
-- out of the way meanwhile), which becomes \ufdd0 and 0000, and json_extract reads it back.
-- JSON columns (`extra`, bodies, change values) need nothing: a NUL there was always \u0000.
UPDATE connections SET id = replace(id, char(64976), char(64976, 64976))
    WHERE instr(id, char(64976)) > 0;
UPDATE connections SET name = replace(name, char(64976), char(64976, 64976))
    WHERE instr(name, char(64976)) > 0;
UPDATE connections SET status = replace(status, char(64976), char(64976, 64976))
    WHERE instr(status, char(64976)) > 0;
UPDATE connections SET vgw_id = replace(vgw_id, char(64976), char(64976, 64976))
    WHERE instr(vgw_id, char(64976)) > 0;
UPDATE connections SET vgw_ip = replace(vgw_ip, char(64976), char(64976, 64976))
    WHERE instr(vgw_ip, char(64976)) > 0;
UPDATE connections SET style = replace(style, char(64976), char(64976, 64976))
    WHERE instr(style, char(64976)) > 0;
UPDATE connections SET cgw_id = replace(cgw_id, char(64976), char(64976, 64976))
    WHERE instr(cgw_id, char(64976)) > 0;
UPDATE connections SET tunnel_local_address = replace(tunnel_local_address, char(64976), char(64976, 64976))
    WHERE instr(tunnel_local_address, char(64976)) > 0;
UPDATE connections SET tunnel_peer_address = replace(tunnel_peer_address, char(64976), char(64976, 64976))
    WHERE instr(tunnel_peer_address, char(64976)) > 0;
UPDATE connections SET created_at = replace(created_at, char(64976), char(64976, 64976))
    WHERE instr(created_at, char(64976)) > 0;
UPDATE connections SET updated_at = replace(updated_at, char(64976), char(64976, 64976))
    WHERE instr(updated_at, char(64976)) > 0;
UPDATE connections SET enterprise_project_id = replace(enterprise_project_id, char(64976), char(64976, 64976))
    WHERE instr(enterprise_project_id, char(64976)) > 0;
UPDATE connections SET connection_monitor_id = replace(connection_monitor_id, char(64976), char(64976, 64976))
    WHERE instr(connection_monitor_id, char(64976)) > 0;
UPDATE connections SET ha_role = replace(ha_role, char(64976), char(64976, 64976))
    WHERE instr(ha_role, char(64976)) > 0;
UPDATE peer_subnets SET cidr = replace(cidr, char(64976), char(64976, 64976))
    WHERE instr(cidr, char(64976)) > 0;
UPDATE policy_rules SET source = replace(source, char(64976), char(64976, 64976))
    WHERE instr(source, char(64976)) > 0;
UPDATE policy_rule_destinations SET cidr = replace(cidr, char(64976), char(64976, 64976))
    WHERE instr(cidr, char(64976)) > 0;
UPDATE tags SET key = replace(key, char(64976), char(64976, 64976))
    WHERE instr(key, char(64976)) > 0;
UPDATE tags SET value = replace(value, char(64976), char(64976, 64976))
    WHERE instr(value, char(64976)) > 0;
UPDATE ike_policies SET ike_version = replace(ike_version, char(64976), char(64976, 64976))
    WHERE instr(ike_version, char(64976)) > 0;
UPDATE ike_policies SET phase1_negotiation_mode = replace(phase1_negotiation_mode, char(64976), char(64976, 64976))
    WHERE instr(phase1_negotiation_mode, char(64976)) > 0;
UPDATE ike_policies SET authentication_algorithm = replace(authentication_algorithm, char(64976), char(64976, 64976))
    WHERE instr(authentication_algorithm, char(64976)) > 0;
UPDATE ike_policies SET encryption_algorithm = replace(encryption_algorithm, char(64976), char(64976, 64976))
    WHERE instr(encryption_algorithm, char(64976)) > 0;
UPDATE ike_policies SET dh_group = replace(dh_group, char(64976), char(64976, 64976))
    WHERE instr(dh_group, char(64976)) > 0;
UPDATE ike_policies SET authentication_method = replace(authentication_method, char(64976), char(64976, 64976))
    WHERE instr(authentication_method, char(64976)) > 0;
UPDATE ike_policies SET local_id_type = replace(local_id_type, char(64976), char(64976, 64976))
    WHERE instr(local_id_type, char(64976)) > 0;
UPDATE ike_policies SET local_id = replace(local_id, char(64976), char(64976, 64976))
    WHERE instr(local_id, char(64976)) > 0;
UPDATE ike_policies SET peer_id_type = replace(peer_id_type, char(64976), char(64976, 64976))
    WHERE instr(peer_id_type, char(64976)) > 0;
UPDATE ike_policies SET peer_id = replace(peer_id, char(64976), char(64976, 64976))
    WHERE instr(peer_id, char(64976)) > 0;
UPDATE ike_policies SET dpd_msg = replace(dpd_msg, char(64976), char(64976, 64976))
    WHERE instr(dpd_msg, char(64976)) > 0;
UPDATE ipsec_policies SET authentication_algorithm = replace(authentication_algorithm, char(64976), char(64976, 64976))
    WHERE instr(authentication_algorithm, char(64976)) > 0;
UPDATE ipsec_policies SET encryption_algorithm = replace(encryption_algorithm, char(64976), char(64976, 64976))
    WHERE instr(encryption_algorithm, char(64976)) > 0;
UPDATE ipsec_policies SET pfs = replace(pfs, char(64976), char(64976, 64976))
    WHERE instr(pfs, char(64976)) > 0;
UPDATE ipsec_policies SET transform_protocol = replace(transform_protocol, char(64976), char(64976, 64976))
    WHERE instr(transform_protocol, char(64976)) > 0;
UPDATE ipsec_policies SET encapsulation_mode = replace(encapsulation_mode, char(64976), char(64976, 64976))
    WHERE instr(encapsulation_mode, char(64976)) > 0;
UPDATE bgp_peers SET peer_ip_address = replace(peer_ip_address, char(64976), char(64976, 64976))
    WHERE instr(peer_ip_address, char(64976)) > 0;
UPDATE bgp_peers SET state = replace(state, char(64976), char(64976, 64976))
    WHERE instr(state, char(64976)) > 0;
UPDATE staged_connections SET connection_id = replace(connection_id, char(64976), char(64976, 64976))
    WHERE instr(connection_id, char(64976)) > 0;
UPDATE scope_connections SET connection_id = replace(connection_id, char(64976), char(64976, 64976))
    WHERE instr(connection_id, char(64976)) > 0;
UPDATE connection_versions SET connection_id = replace(connection_id, char(64976), char(64976, 64976))
    WHERE instr(connection_id, char(64976)) > 0;
UPDATE change_records SET connection_id = replace(connection_id, char(64976), char(64976, 64976))
    WHERE instr(connection_id, char(64976)) > 0;
UPDATE change_records SET connection_name = replace(connection_name, char(64976), char(64976, 64976))
    WHERE instr(connection_name, char(64976)) > 0;
UPDATE change_records SET field = replace(field, char(64976), char(64976, 64976))
    WHERE instr(field, char(64976)) > 0;
UPDATE connections SET id = json_extract(replace(replace(replace(json_quote(id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(id, char(0)) > 0;
UPDATE connections SET name = json_extract(replace(replace(replace(json_quote(name),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(name, char(0)) > 0;
UPDATE connections SET status = json_extract(replace(replace(replace(json_quote(status),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(status, char(0)) > 0;
UPDATE connections SET vgw_id = json_extract(replace(replace(replace(json_quote(vgw_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(vgw_id, char(0)) > 0;
UPDATE connections SET vgw_ip = json_extract(replace(replace(replace(json_quote(vgw_ip),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(vgw_ip, char(0)) > 0;
UPDATE connections SET style = json_extract(replace(replace(replace(json_quote(style),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(style, char(0)) > 0;
UPDATE connections SET cgw_id = json_extract(replace(replace(replace(json_quote(cgw_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(cgw_id, char(0)) > 0;
UPDATE connections SET tunnel_local_address = json_extract(replace(replace(replace(json_quote(tunnel_local_address),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(tunnel_local_address, char(0)) > 0;
UPDATE connections SET tunnel_peer_address = json_extract(replace(replace(replace(json_quote(tunnel_peer_address),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(tunnel_peer_address, char(0)) > 0;
UPDATE connections SET created_at = json_extract(replace(replace(replace(json_quote(created_at),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(created_at, char(0)) > 0;
UPDATE connections SET updated_at = json_extract(replace(replace(replace(json_quote(updated_at),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(updated_at, char(0)) > 0;
UPDATE connections SET enterprise_project_id = json_extract(replace(replace(replace(json_quote(enterprise_project_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(enterprise_project_id, char(0)) > 0;
UPDATE connections SET connection_monitor_id = json_extract(replace(replace(replace(json_quote(connection_monitor_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(connection_monitor_id, char(0)) > 0;
UPDATE connections SET ha_role = json_extract(replace(replace(replace(json_quote(ha_role),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(ha_role, char(0)) > 0;
UPDATE peer_subnets SET cidr = json_extract(replace(replace(replace(json_quote(cidr),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(cidr, char(0)) > 0;
UPDATE policy_rules SET source = json_extract(replace(replace(replace(json_quote(source),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(source, char(0)) > 0;
UPDATE policy_rule_destinations SET cidr = json_extract(replace(replace(replace(json_quote(cidr),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(cidr, char(0)) > 0;
UPDATE tags SET key = json_extract(replace(replace(replace(json_quote(key),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(key, char(0)) > 0;
UPDATE tags SET value = json_extract(replace(replace(replace(json_quote(value),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(value, char(0)) > 0;
UPDATE ike_policies SET ike_version = json_extract(replace(replace(replace(json_quote(ike_version),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(ike_version, char(0)) > 0;
UPDATE ike_policies SET phase1_negotiation_mode = json_extract(replace(replace(replace(json_quote(phase1_negotiation_mode),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(phase1_negotiation_mode, char(0)) > 0;
UPDATE ike_policies SET authentication_algorithm = json_extract(replace(replace(replace(json_quote(authentication_algorithm),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(authentication_algorithm, char(0)) > 0;
UPDATE ike_policies SET encryption_algorithm = json_extract(replace(replace(replace(json_quote(encryption_algorithm),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(encryption_algorithm, char(0)) > 0;
UPDATE ike_policies SET dh_group = json_extract(replace(replace(replace(json_quote(dh_group),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(dh_group, char(0)) > 0;
UPDATE ike_policies SET authentication_method = json_extract(replace(replace(replace(json_quote(authentication_method),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(authentication_method, char(0)) > 0;
UPDATE ike_policies SET local_id_type = json_extract(replace(replace(replace(json_quote(local_id_type),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(local_id_type, char(0)) > 0;
UPDATE ike_policies SET local_id = json_extract(replace(replace(replace(json_quote(local_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(local_id, char(0)) > 0;
UPDATE ike_policies SET peer_id_type = json_extract(replace(replace(replace(json_quote(peer_id_type),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(peer_id_type, char(0)) > 0;
UPDATE ike_policies SET peer_id = json_extract(replace(replace(replace(json_quote(peer_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(peer_id, char(0)) > 0;
UPDATE ike_policies SET dpd_msg = json_extract(replace(replace(replace(json_quote(dpd_msg),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(dpd_msg, char(0)) > 0;
UPDATE ipsec_policies SET authentication_algorithm = json_extract(replace(replace(replace(json_quote(authentication_algorithm),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(authentication_algorithm, char(0)) > 0;
UPDATE ipsec_policies SET encryption_algorithm = json_extract(replace(replace(replace(json_quote(encryption_algorithm),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(encryption_algorithm, char(0)) > 0;
UPDATE ipsec_policies SET pfs = json_extract(replace(replace(replace(json_quote(pfs),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(pfs, char(0)) > 0;
UPDATE ipsec_policies SET transform_protocol = json_extract(replace(replace(replace(json_quote(transform_protocol),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(transform_protocol, char(0)) > 0;
UPDATE ipsec_policies SET encapsulation_mode = json_extract(replace(replace(replace(json_quote(encapsulation_mode),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(encapsulation_mode, char(0)) > 0;
UPDATE bgp_peers SET peer_ip_address = json_extract(replace(replace(replace(json_quote(peer_ip_address),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(peer_ip_address, char(0)) > 0;
UPDATE bgp_peers SET state = json_extract(replace(replace(replace(json_quote(state),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(state, char(0)) > 0;
UPDATE staged_connections SET connection_id = json_extract(replace(replace(replace(json_quote(connection_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(connection_id, char(0)) > 0;
UPDATE scope_connections SET connection_id = json_extract(replace(replace(replace(json_quote(connection_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(connection_id, char(0)) > 0;
UPDATE connection_versions SET connection_id = json_extract(replace(replace(replace(json_quote(connection_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(connection_id, char(0)) > 0;
UPDATE change_records SET connection_id = json_extract(replace(replace(replace(json_quote(connection_id),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(connection_id, char(0)) > 0;
UPDATE change_records SET connection_name = json_extract(replace(replace(replace(json_quote(connection_name),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(connection_name, char(0)) > 0;
UPDATE change_records SET field = json_extract(replace(replace(replace(json_quote(field),
        '\\', char(1)), '\u0000', '\ufdd00000'), char(1), '\\'), '$')
    WHERE instr(field, char(0)) > 0;
