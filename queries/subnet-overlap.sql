-- name: subnet-overlap
-- title: Overlapping networks within a connection, on a gateway, and across gateways
-- Which remote networks are claimed twice, and which local networks collide with a remote
-- one? Every pair of overlapping networks, IPv4 and IPv6 alike, among peer subnets (remote),
-- policy rule destinations (remote) and policy rule sources (local); two sources are never a
-- pair. `network` holds `other_network` (`relation` contains) or equals it (same); `scope`
-- says how far apart they are: connection (both of one connection), gateway (two connections
-- of one gateway) or across (two gateways). Paths are the API's (peer_subnets_v6,
-- policy_rules[3].destination). Overlap is a comparison of the networks' bounds
-- (network_ranges); a text that is no network is left out.
-- param: scope list = connection,gateway,across  Which pairs to list, by their scope.
WITH nets AS (
    SELECT connection_pk, list, path, cidr, first_hex, last_hex,
           COALESCE(rule_position, -1) AS rule_position, COALESCE(position, -1) AS position
    FROM network_ranges
    WHERE first_hex IS NOT NULL
),
-- Each network `a` with every stored network `b` starting inside it (networks nest, so that
-- is every overlap); the inner side reads each table through its index.
hits AS (
    SELECT a.connection_pk AS a_pk, a.list AS a_list, a.path AS a_path, a.cidr AS a_cidr,
           a.first_hex AS a_first, a.last_hex AS a_last,
           a.rule_position AS a_rule, a.position AS a_position,
           b.connection_pk AS b_pk, 'peer_subnets' AS b_list,
           CASE b.ip_version WHEN 6 THEN 'peer_subnets_v6' ELSE 'peer_subnets' END AS b_path,
           b.cidr AS b_cidr, b.first_hex AS b_first, b.last_hex AS b_last,
           -1 AS b_rule, b.position AS b_position
    FROM nets a
    JOIN peer_subnets b ON b.first_hex >= a.first_hex AND b.first_hex <= a.last_hex
    UNION ALL
    SELECT a.connection_pk, a.list, a.path, a.cidr, a.first_hex, a.last_hex,
           a.rule_position, a.position,
           b.connection_pk, 'policy_rule_destination',
           CASE b.ip_version WHEN 6 THEN 'policy_rules_v6[' ELSE 'policy_rules[' END
               || COALESCE(CAST(r.rule_index AS TEXT), '') || '].destination',
           b.cidr, b.first_hex, b.last_hex, b.rule_position, b.position
    FROM nets a
    JOIN policy_rule_destinations b
        ON b.first_hex >= a.first_hex AND b.first_hex <= a.last_hex
    JOIN policy_rules r ON r.connection_pk = b.connection_pk AND r.ip_version = b.ip_version
        AND r.position = b.rule_position
    UNION ALL
    SELECT a.connection_pk, a.list, a.path, a.cidr, a.first_hex, a.last_hex,
           a.rule_position, a.position,
           b.connection_pk, 'policy_rule_source',
           CASE b.ip_version WHEN 6 THEN 'policy_rules_v6[' ELSE 'policy_rules[' END
               || COALESCE(CAST(b.rule_index AS TEXT), '') || '].source',
           b.source, b.source_first_hex, b.source_last_hex, b.position, -1
    FROM nets a
    JOIN policy_rules b
        ON b.source_first_hex >= a.first_hex AND b.source_first_hex <= a.last_hex
),
pairs AS (
    SELECT CASE
               WHEN h.a_pk = h.b_pk THEN 'connection'
               WHEN ca.vgw_id = cb.vgw_id THEN 'gateway'
               ELSE 'across'
           END AS scope,
           CASE WHEN h.a_first = h.b_first AND h.a_last = h.b_last THEN 'same' ELSE 'contains' END
               AS relation,
           ca.vgw_id, ca.id AS connection_id, ca.name AS connection_name, h.a_path AS path,
           h.a_cidr AS network,
           cb.vgw_id AS other_vgw_id, cb.id AS other_connection_id, cb.name AS other_name,
           h.b_path AS other_path, h.b_cidr AS other_network,
           h.a_rule, h.a_position, h.b_rule, h.b_position
    FROM hits h
    JOIN connections ca ON ca.pk = h.a_pk
    JOIN connections cb ON cb.pk = h.b_pk
    WHERE NOT (h.a_list = 'policy_rule_source' AND h.b_list = 'policy_rule_source')
        -- `a` holds `b`; a network starting where `a` does but narrower meets `a` twice, and
        -- equal networks meet twice too: keep each pair once, never a network with itself.
        AND (h.a_first < h.b_first OR h.a_last > h.b_last
             OR (h.a_last = h.b_last
                 AND (ca.id, h.a_path, h.a_rule, h.a_position)
                     < (cb.id, h.b_path, h.b_rule, h.b_position)))
)
SELECT scope, relation, vgw_id, connection_id, connection_name, path, network,
       other_vgw_id, other_connection_id, other_name, other_path, other_network
FROM pairs
WHERE scope IN (:scope)
ORDER BY CASE scope WHEN 'connection' THEN 0 WHEN 'gateway' THEN 1 ELSE 2 END,
         COALESCE(vgw_id, ''), connection_id, path, a_rule, a_position,
         COALESCE(other_vgw_id, ''), other_connection_id, other_path, b_rule, b_position;
