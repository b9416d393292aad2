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
--
-- Both networks belong to one project unless across_projects is true: two projects' networks
-- cannot route to each other. The project and scope filters apply as each network meets the
-- networks starting inside it, before anything else about the pair is read.
-- param: scope list = connection,gateway,across  Which pairs to list, by their scope.
-- param: across_projects boolean = false  true: pairs of connections of two projects too.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
WITH nets AS (
    SELECT n.project_id, n.connection_pk, c.vgw_id, n.list, n.path, n.cidr, n.first_hex,
           n.last_hex,
           COALESCE(n.rule_position, -1) AS rule_position, COALESCE(n.position, -1) AS position
    FROM network_ranges n
    JOIN connections c ON c.pk = n.connection_pk
    WHERE n.first_hex IS NOT NULL AND (:project = '*' OR n.project_id = :project)
),
-- Each network `a` with every stored network `b` starting inside it (networks nest, so that
-- is every overlap) in a connection `cb` the filters keep; the inner side reads each table
-- through its index. What a pair shows besides its networks is read once it is kept. (The
-- COALESCE keeps PostgreSQL from joining on the project, all of a project's networks with all
-- of it, instead of following the index.)
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
    JOIN connections cb ON cb.pk = b.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
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
    JOIN connections cb ON cb.pk = b.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
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
        AND a.list <> 'policy_rule_source'
    JOIN connections cb ON cb.pk = b.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
),
pairs AS (
    SELECT CASE
               WHEN h.a_pk = h.b_pk THEN 'connection'
               WHEN ca.vgw_id = cb.vgw_id THEN 'gateway'
               ELSE 'across'
           END AS scope,
           CASE WHEN h.a_first = h.b_first AND h.a_last = h.b_last THEN 'same' ELSE 'contains' END
               AS relation,
           ca.project_id, ca.vgw_id, ca.id AS connection_id, ca.name AS connection_name,
           h.a_path AS path, h.a_cidr AS network,
           cb.project_id AS other_project_id, cb.vgw_id AS other_vgw_id,
           cb.id AS other_connection_id, cb.name AS other_name,
           h.b_path AS other_path, h.b_cidr AS other_network,
           h.a_rule, h.a_position, h.b_rule, h.b_position
    FROM hits h
    JOIN connections ca ON ca.pk = h.a_pk
    JOIN connections cb ON cb.pk = h.b_pk
    -- `a` holds `b`; a network starting where `a` does but narrower meets `a` twice, and
    -- equal networks meet twice too: keep each pair once, never a network with itself.
    WHERE h.a_first < h.b_first OR h.a_last > h.b_last
        OR (h.a_last = h.b_last AND (h.a_pk, h.a_list, h.a_rule, h.a_position)
                                    < (h.b_pk, h.b_list, h.b_rule, h.b_position))
)
SELECT project_id, scope, relation, vgw_id, connection_id, connection_name, path, network,
       other_project_id, other_vgw_id, other_connection_id, other_name, other_path,
       other_network
FROM pairs
WHERE scope IN (:scope)
ORDER BY project_id, CASE scope WHEN 'connection' THEN 0 WHEN 'gateway' THEN 1 ELSE 2 END,
         COALESCE(vgw_id, ''), connection_id, path, a_rule, a_position,
         other_project_id, COALESCE(other_vgw_id, ''), other_connection_id, other_path, b_rule,
         b_position;
