-- name: subnet-overlap-pairs
-- title: Every pair of overlapping networks, within a connection, on a gateway, across gateways
-- Which networks, exactly, does each overlap of subnet-overlap meet? Every pair of
-- overlapping networks, IPv4 and IPv6 alike, among peer subnets (remote), policy rule
-- destinations (remote) and policy rule sources (local); two sources are never a pair.
-- `network` holds `other_network` (`relation` contains) or equals it (same); `scope` says how
-- far apart they are: connection (both of one connection), gateway (two connections of one
-- gateway) or across (two gateways). Paths are the API's (peer_subnets_v6,
-- policy_rules[3].destination). Overlap is a comparison of the networks' bounds
-- (network_ranges); a text that is no network is left out.
--
-- Both networks belong to one project unless across_projects is true: two projects' networks
-- cannot route to each other. The project and scope filters apply as each network meets the
-- networks starting inside it, before anything else about the pair is read.
-- param: scope list = connection,gateway,across  Which pairs to list, by their scope.
-- param: across_projects boolean = false  true: pairs of connections of two projects too.
-- param: project text = *  Only pairs with a network of this project (--project, --target).
WITH nets AS MATERIALIZED (
    -- Every network of the project (of every project, across projects), with its
    -- connection's ids, read once. One network of each pair is of the project. `rank` is its
    -- place in the answer's order (project, gateway, connection, path, position): the pairs
    -- of one network then sort by one integer, so that sorting hundreds of thousands of wide
    -- rows compares texts only among the few pairs of one network (comparing a dozen texts
    -- per step took most of the time on PostgreSQL).
    SELECT n.project_id, n.connection_pk, c.vgw_id, c.id AS connection_id,
           c.name AS connection_name, n.list, n.path, n.cidr, n.first_hex, n.last_hex,
           COALESCE(n.rule_position, -1) AS rule_position, COALESCE(n.position, -1) AS position,
           DENSE_RANK() OVER (ORDER BY n.project_id) AS project_rank,
           ROW_NUMBER() OVER (ORDER BY n.project_id, COALESCE(c.vgw_id, ''), c.id, n.path,
                                       COALESCE(n.rule_position, -1),
                                       COALESCE(n.position, -1)) AS rank
    FROM network_ranges n
    JOIN connections c ON c.pk = n.connection_pk
    WHERE n.first_hex IS NOT NULL
        AND (:project = '*' OR :across_projects OR n.project_id = :project)
),
pairs AS (
    -- Networks nest, so `b` overlaps `a` when it starts inside `a`. First those starting where
    -- `a` does, `a`'s equals and narrower ones: most pairs (two connections claiming one
    -- network), joined on the start alone (a hash join, or SQLite's automatic index), no
    -- table read per pair. A pair of equals is kept once, from its smaller side; two sources
    -- are never a pair.
    SELECT a.project_id, a.connection_pk, a.vgw_id, a.connection_id, a.connection_name,
           a.path, a.cidr, a.first_hex, a.last_hex, a.project_rank, a.rank,
           b.project_id AS other_project_id, b.connection_pk AS b_pk, b.vgw_id AS other_vgw_id,
           b.connection_id AS other_connection_id, b.connection_name AS other_name,
           b.path AS other_path, b.cidr AS other_network, b.first_hex AS b_first,
           b.last_hex AS b_last, b.rule_position AS b_rule, b.position AS b_position
    FROM nets a
    JOIN nets b ON b.first_hex = a.first_hex AND b.last_hex <= a.last_hex
        AND (b.last_hex < a.last_hex
             OR (a.connection_pk, a.list, a.rule_position, a.position)
                < (b.connection_pk, b.list, b.rule_position, b.position))
        AND (a.list <> 'policy_rule_source' OR b.list <> 'policy_rule_source')
        AND (:across_projects OR b.project_id = a.project_id)
        AND ('across' IN (:scope) OR b.vgw_id = a.vgw_id OR b.connection_pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR b.connection_pk = a.connection_pk)
    WHERE :project = '*' OR a.project_id = :project OR b.project_id = :project
    UNION ALL
    -- Then each stored network starting inside `a` after its start, read through its table's
    -- index: peer subnets, rule destinations, rule sources. (The COALESCE keeps PostgreSQL
    -- from joining on the project, all of a project's networks with all of it, instead of
    -- following the index.)
    SELECT a.project_id, a.connection_pk, a.vgw_id, a.connection_id, a.connection_name,
           a.path, a.cidr, a.first_hex, a.last_hex, a.project_rank, a.rank,
           cb.project_id, cb.pk, cb.vgw_id, cb.id, cb.name,
           CASE b.ip_version WHEN 6 THEN 'peer_subnets_v6' ELSE 'peer_subnets' END,
           b.cidr, b.first_hex, b.last_hex, -1, b.position
    FROM nets a
    JOIN peer_subnets b ON b.first_hex > a.first_hex AND b.first_hex <= a.last_hex
    JOIN connections cb ON cb.pk = b.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
    WHERE :project = '*' OR a.project_id = :project OR cb.project_id = :project
    UNION ALL
    SELECT a.project_id, a.connection_pk, a.vgw_id, a.connection_id, a.connection_name,
           a.path, a.cidr, a.first_hex, a.last_hex, a.project_rank, a.rank,
           cb.project_id, cb.pk, cb.vgw_id, cb.id, cb.name,
           CASE b.ip_version WHEN 6 THEN 'policy_rules_v6[' ELSE 'policy_rules[' END
               || COALESCE(CAST(r.rule_index AS TEXT), '') || '].destination',
           b.cidr, b.first_hex, b.last_hex, b.rule_position, b.position
    FROM nets a
    JOIN policy_rule_destinations b ON b.first_hex > a.first_hex AND b.first_hex <= a.last_hex
    JOIN connections cb ON cb.pk = b.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
    JOIN policy_rules r ON r.connection_pk = b.connection_pk AND r.ip_version = b.ip_version
        AND r.position = b.rule_position
    WHERE :project = '*' OR a.project_id = :project OR cb.project_id = :project
    UNION ALL
    SELECT a.project_id, a.connection_pk, a.vgw_id, a.connection_id, a.connection_name,
           a.path, a.cidr, a.first_hex, a.last_hex, a.project_rank, a.rank,
           cb.project_id, cb.pk, cb.vgw_id, cb.id, cb.name,
           CASE b.ip_version WHEN 6 THEN 'policy_rules_v6[' ELSE 'policy_rules[' END
               || COALESCE(CAST(b.rule_index AS TEXT), '') || '].source',
           b.source, b.source_first_hex, b.source_last_hex, b.position, -1
    FROM nets a
    JOIN policy_rules b
        ON b.source_first_hex > a.first_hex AND b.source_first_hex <= a.last_hex
        AND a.list <> 'policy_rule_source'
    JOIN connections cb ON cb.pk = b.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
    WHERE :project = '*' OR a.project_id = :project OR cb.project_id = :project
),
classified AS (
    SELECT p.*,
           CASE WHEN connection_pk = b_pk THEN 'connection'
                WHEN vgw_id = other_vgw_id THEN 'gateway' ELSE 'across' END AS scope
    FROM pairs p
)
SELECT project_id, scope,
       CASE WHEN first_hex = b_first AND last_hex = b_last THEN 'same' ELSE 'contains' END
           AS relation,
       vgw_id, connection_id, connection_name, path, cidr AS network,
       other_project_id, other_vgw_id, other_connection_id, other_name, other_path,
       other_network
FROM classified
WHERE scope IN (:scope)
-- The project, the scope and the network (one integer), then the other network.
ORDER BY (project_rank * 4 + CASE scope WHEN 'connection' THEN 0 WHEN 'gateway' THEN 1 ELSE 2
                             END) * 4294967296 + rank,
         other_project_id, COALESCE(other_vgw_id, ''), other_connection_id, other_path, b_rule,
         b_position;
