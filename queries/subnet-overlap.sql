-- name: subnet-overlap
-- title: Networks that overlap others: how many, and how near
-- Which remote networks are claimed twice, and which local networks collide with a remote
-- one? One row per network that overlaps another, among peer subnets (remote), policy rule
-- destinations (remote) and policy rule sources (local), IPv4 and IPv6 alike; two sources
-- never overlap. `overlaps` counts the networks it overlaps (equal to it, inside it or around
-- it), `same` how many of those equal it, and `in_connection`, `on_gateway` and
-- `across_gateways` how near they are: of its own connection, of another connection of its
-- gateway, or of another gateway (a connection of no gateway is a gateway of its own). A
-- scope left out of `scope` is not counted (NULL). Paths are the API's (peer_subnets_v6,
-- policy_rules[3].destination). Overlap is a comparison of the networks' bounds
-- (network_ranges); a text that is no network is left out.
--
-- A network that many connections claim is one row with a large count here, where it would
-- be a pair for every two of them: subnet-overlap-pairs lists the pairs, with the same
-- parameters. Networks of one project only, unless across_projects is true: two projects'
-- networks cannot route to each other.
-- param: scope list = connection,gateway,across  Which overlaps to count, by how near.
-- param: across_projects boolean = false  true: count networks of other projects too.
-- param: project text = *  Only networks of this project (--project, --target).
WITH nets AS MATERIALIZED (
    -- Every network of the project (of every project, across projects) with its connection,
    -- read once. `realm` is what two overlapping networks must share; `gateway` is the
    -- connection's where it names none; `rank` is the network's place in the answer's order
    -- (project, gateway, connection, path, position).
    SELECT n.project_id, n.connection_pk, c.vgw_id, c.id AS connection_id,
           c.name AS connection_name, n.list, n.ip_version, n.path, n.cidr, n.first_hex,
           n.last_hex, COALESCE(n.rule_position, -1) AS rule_position,
           COALESCE(n.position, -1) AS position,
           CASE WHEN :across_projects THEN '' ELSE n.project_id END AS realm,
           COALESCE(c.vgw_id, '#' || CAST(c.pk AS TEXT)) AS gateway,
           CASE WHEN n.list = 'policy_rule_source' THEN 0 ELSE 1 END AS remote,
           ROW_NUMBER() OVER (ORDER BY n.project_id, COALESCE(c.vgw_id, ''), c.id, n.path,
                                       COALESCE(n.rule_position, -1),
                                       COALESCE(n.position, -1)) AS rank
    FROM network_ranges n
    JOIN connections c ON c.pk = n.connection_pk
    WHERE n.first_hex IS NOT NULL
        AND (:project = '*' OR :across_projects OR n.project_id = :project)
),
claims AS (
    -- How many networks equal each one, counted without pairing them: of its realm, of its
    -- gateway and of its connection, each in all and the remote ones. A remote network
    -- overlaps every other one of its value, a source only the remote ones.
    SELECT nets.*,
           COUNT(*) OVER (PARTITION BY realm, first_hex, last_hex) AS realm_all,
           SUM(remote) OVER (PARTITION BY realm, first_hex, last_hex) AS realm_remote,
           COUNT(*) OVER (PARTITION BY realm, first_hex, last_hex, gateway) AS gateway_all,
           SUM(remote) OVER (PARTITION BY realm, first_hex, last_hex, gateway)
               AS gateway_remote,
           COUNT(*) OVER (PARTITION BY realm, first_hex, last_hex, connection_pk)
               AS connection_all,
           SUM(remote) OVER (PARTITION BY realm, first_hex, last_hex, connection_pk)
               AS connection_remote
    FROM nets
),
equal AS (
    SELECT claims.*,
           CASE WHEN remote = 1 THEN connection_all - 1 ELSE connection_remote END
               AS equal_connection,
           CASE WHEN remote = 1 THEN gateway_all - 1 ELSE gateway_remote END AS equal_gateway,
           CASE WHEN remote = 1 THEN realm_all - 1 ELSE realm_remote END AS equal_realm
    FROM claims
),
nested AS (
    -- Each network and one strictly inside it, the narrower one named by its place in its
    -- list. Networks nest, so the narrower one starts inside the wider: where it does (joined
    -- on the start), or after its start, read through its table's index (then its connection
    -- by key: the COALESCE keeps PostgreSQL from joining on the project instead). The scope
    -- filters apply here.
    SELECT a.rank AS a_rank, a.connection_pk AS a_pk, a.gateway AS a_gateway,
           b.connection_pk AS b_pk, b.list AS b_list, b.ip_version AS b_ip_version,
           b.rule_position AS b_rule, b.position AS b_position, b.gateway AS b_gateway
    FROM nets a
    JOIN nets b ON b.first_hex = a.first_hex AND b.last_hex < a.last_hex AND b.realm = a.realm
        AND (a.remote = 1 OR b.remote = 1)
        AND ('across' IN (:scope) OR b.gateway = a.gateway)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR b.connection_pk = a.connection_pk)
    UNION ALL
    SELECT a.rank, a.connection_pk, a.gateway, s.connection_pk, 'peer_subnets', s.ip_version,
           -1, s.position, COALESCE(cb.vgw_id, '#' || CAST(cb.pk AS TEXT))
    FROM nets a
    JOIN peer_subnets s ON s.first_hex > a.first_hex AND s.first_hex <= a.last_hex
    JOIN connections cb ON cb.pk = s.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
    UNION ALL
    SELECT a.rank, a.connection_pk, a.gateway, d.connection_pk, 'policy_rule_destination',
           d.ip_version, d.rule_position, d.position,
           COALESCE(cb.vgw_id, '#' || CAST(cb.pk AS TEXT))
    FROM nets a
    JOIN policy_rule_destinations d ON d.first_hex > a.first_hex AND d.first_hex <= a.last_hex
    JOIN connections cb ON cb.pk = d.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
    UNION ALL
    SELECT a.rank, a.connection_pk, a.gateway, r.connection_pk, 'policy_rule_source',
           r.ip_version, r.position, -1, COALESCE(cb.vgw_id, '#' || CAST(cb.pk AS TEXT))
    FROM nets a
    JOIN policy_rules r
        ON r.source_first_hex > a.first_hex AND r.source_first_hex <= a.last_hex
        AND a.list <> 'policy_rule_source'
    JOIN connections cb ON cb.pk = r.connection_pk
        AND (:across_projects OR COALESCE(cb.project_id = a.project_id, FALSE))
        AND ('across' IN (:scope) OR cb.vgw_id = a.vgw_id OR cb.pk = a.connection_pk)
        AND ('gateway' IN (:scope) OR 'across' IN (:scope) OR cb.pk = a.connection_pk)
),
near AS (
    SELECT nested.*, CASE WHEN a_pk = b_pk THEN 1 ELSE 0 END AS near_connection,
           CASE WHEN a_pk <> b_pk AND a_gateway = b_gateway THEN 1 ELSE 0 END AS near_gateway
    FROM nested
),
counts AS (
    -- Each network's equals, then each nested pair for both its networks, summed by how near
    -- they are (the equals also as `same_`).
    SELECT rank, SUM(in_connection) AS in_connection, SUM(on_gateway) AS on_gateway,
           SUM(across_gateways) AS across_gateways, SUM(same_connection) AS same_connection,
           SUM(same_gateway) AS same_gateway, SUM(same_across) AS same_across
    FROM (
        SELECT rank, equal_connection AS in_connection,
               equal_gateway - equal_connection AS on_gateway,
               equal_realm - equal_gateway AS across_gateways,
               equal_connection AS same_connection,
               equal_gateway - equal_connection AS same_gateway,
               equal_realm - equal_gateway AS same_across
        FROM equal
        UNION ALL
        SELECT a_rank, near_connection, near_gateway, 1 - near_connection - near_gateway,
               0, 0, 0
        FROM near
        UNION ALL
        SELECT b.rank, near.near_connection, near.near_gateway,
               1 - near.near_connection - near.near_gateway, 0, 0, 0
        FROM near
        JOIN nets b ON b.connection_pk = near.b_pk AND b.list = near.b_list
            AND b.ip_version = near.b_ip_version AND b.rule_position = near.b_rule
            AND b.position = near.b_position
    ) sides
    GROUP BY rank
),
counted AS (
    -- The counts of the scopes asked for; NULL for the others.
    SELECT c.rank,
           CASE WHEN 'connection' IN (:scope) THEN c.in_connection END AS in_connection,
           CASE WHEN 'gateway' IN (:scope) THEN c.on_gateway END AS on_gateway,
           CASE WHEN 'across' IN (:scope) THEN c.across_gateways END AS across_gateways,
           CASE WHEN 'connection' IN (:scope) THEN c.same_connection ELSE 0 END
               + CASE WHEN 'gateway' IN (:scope) THEN c.same_gateway ELSE 0 END
               + CASE WHEN 'across' IN (:scope) THEN c.same_across ELSE 0 END AS same
    FROM counts c
)
SELECT n.project_id, n.vgw_id, n.connection_id, n.connection_name, n.path, n.cidr AS network,
       COALESCE(c.in_connection, 0) + COALESCE(c.on_gateway, 0)
           + COALESCE(c.across_gateways, 0) AS overlaps,
       c.same, c.in_connection, c.on_gateway, c.across_gateways
FROM counted c
JOIN nets n ON n.rank = c.rank
WHERE (:project = '*' OR n.project_id = :project)
    AND COALESCE(c.in_connection, 0) + COALESCE(c.on_gateway, 0)
        + COALESCE(c.across_gateways, 0) > 0
ORDER BY c.rank;
