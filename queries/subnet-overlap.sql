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
-- parameters. The counts never pair networks either: equal ones are counted by value, and
-- nested ones through each value's few enclosing values (one per prefix length in use), so
-- a 0.0.0.0/0 on every connection costs no more than any other network. Networks of one
-- project only, unless across_projects is true: two projects' networks cannot route to
-- each other.
-- param: scope list = connection,gateway,across  Which overlaps to count, by how near.
-- param: across_projects boolean = false  true: count networks of other projects too.
-- param: project text = *  Only networks of this project (--project, --target).
WITH nets AS MATERIALIZED (
    -- Every network of the project (of every project, across projects) with its connection,
    -- read once. `realm` is what two overlapping networks must share; `gateway` is the
    -- connection's where it names none, and `at_gateway` and `at_connection` the realm with
    -- them; `bits` is the prefix length in the 128 bits the bounds span (an IPv4 network's
    -- plus 96; the text is `address[/length]`, or it has no bounds); `rank` is the network's
    -- place in the answer's order (project, gateway, connection, path, position).
    SELECT n.project_id, n.connection_pk, c.vgw_id, c.id AS connection_id,
           c.name AS connection_name, n.list, n.ip_version, n.path, n.cidr, n.first_hex,
           n.last_hex, COALESCE(n.rule_position, -1) AS rule_position,
           COALESCE(n.position, -1) AS position,
           CASE WHEN :across_projects THEN '' ELSE n.project_id END AS realm,
           COALESCE(c.vgw_id, '#' || CAST(c.pk AS TEXT)) AS gateway,
           CASE WHEN :across_projects THEN '' ELSE n.project_id END || ' '
               || COALESCE(c.vgw_id, '#' || CAST(c.pk AS TEXT)) AS at_gateway,
           CASE WHEN :across_projects THEN '' ELSE n.project_id END || ' '
               || CAST(c.pk AS TEXT) AS at_connection,
           CASE WHEN ltrim(n.cidr, '0123456789abcdefABCDEF.:') = '' THEN 128
                ELSE CAST(substr(ltrim(n.cidr, '0123456789abcdefABCDEF.:'), 2) AS INTEGER)
                     + CASE WHEN replace(n.cidr, ':', '') = n.cidr THEN 96 ELSE 0 END
           END AS bits,
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
vals AS MATERIALIZED (
    -- Each network value (its bounds) as often as it is claimed, in three parts: level 0
    -- counts the realm's claims, 1 a gateway's, 2 a connection's; each in all and the remote
    -- ones. `stem` is the whole hex digits of its prefix: a network strictly around it has
    -- a shorter prefix, and shares its digits to that prefix's length.
    SELECT level, part, first_hex, last_hex, MIN(bits) AS bits, COUNT(*) AS n_all,
           SUM(remote) AS n_remote,
           substr(replace(CAST(first_hex AS TEXT), '-', ''), 1, MIN(bits) / 4) AS stem
    FROM (
        SELECT 0 AS level, realm AS part, first_hex, last_hex, bits, remote FROM nets
        UNION ALL
        SELECT 1, at_gateway, first_hex, last_hex, bits, remote FROM nets
        UNION ALL
        SELECT 2, at_connection, first_hex, last_hex, bits, remote FROM nets
    ) keyed
    GROUP BY level, part, first_hex, last_hex
),
lengths AS (
    SELECT DISTINCT bits FROM vals
),
sought AS MATERIALIZED (
    -- Each value with each shorter prefix length in use, and its digits to that length: the
    -- stem of any value of that length around it.
    SELECT v.level, v.part, v.first_hex, v.last_hex, v.n_all, v.n_remote, q.bits AS around_bits,
           substr(replace(CAST(v.first_hex AS TEXT), '-', ''), 1, q.bits / 4) AS around_stem
    FROM vals v
    JOIN lengths q ON q.bits < v.bits
),
around AS MATERIALIZED (
    -- Each value, and each value of its part strictly around it: of each shorter length, the
    -- values with the stem sought (a few at most, told apart by their bounds). So the pairs
    -- of values are at most the values times the lengths in use, however many networks one
    -- value holds: joined on all four keys, never on the part alone.
    SELECT s.level, s.part, s.first_hex, s.last_hex, s.n_all, s.n_remote,
           w.first_hex AS w_first, w.last_hex AS w_last, w.n_all AS w_all,
           w.n_remote AS w_remote
    FROM sought s
    JOIN vals w ON w.level = s.level AND w.part = s.part AND w.bits = s.around_bits
        AND w.stem = s.around_stem
    WHERE w.first_hex <= s.first_hex AND w.last_hex >= s.last_hex
),
nested AS (
    -- For each value of each part, the networks of that part strictly inside it or around
    -- it, in all and the remote ones.
    SELECT level, part, first_hex, last_hex, SUM(o_all) AS o_all, SUM(o_remote) AS o_remote
    FROM (
        SELECT level, part, first_hex, last_hex, w_all AS o_all, w_remote AS o_remote
        FROM around
        UNION ALL
        SELECT level, part, w_first, w_last, n_all, n_remote FROM around
    ) sides
    GROUP BY level, part, first_hex, last_hex
),
counts AS (
    -- Each network's overlaps by how near: its equals, then the networks nested with it,
    -- those of its connection, of its gateway less those, of its realm less those of its
    -- gateway. A remote network overlaps all of them, a source only the remote ones. (The
    -- equals also count as `same_`.)
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
        SELECT n.rank, 0, 0, CASE WHEN n.remote = 1 THEN t.o_all ELSE t.o_remote END, 0, 0, 0
        FROM nested t
        JOIN nets n ON t.level = 0 AND n.realm = t.part AND n.first_hex = t.first_hex
            AND n.last_hex = t.last_hex
        UNION ALL
        SELECT n.rank, 0, CASE WHEN n.remote = 1 THEN t.o_all ELSE t.o_remote END,
               -CASE WHEN n.remote = 1 THEN t.o_all ELSE t.o_remote END, 0, 0, 0
        FROM nested t
        JOIN nets n ON t.level = 1 AND n.at_gateway = t.part AND n.first_hex = t.first_hex
            AND n.last_hex = t.last_hex
        UNION ALL
        SELECT n.rank, CASE WHEN n.remote = 1 THEN t.o_all ELSE t.o_remote END,
               -CASE WHEN n.remote = 1 THEN t.o_all ELSE t.o_remote END, 0, 0, 0, 0
        FROM nested t
        JOIN nets n ON t.level = 2 AND n.at_connection = t.part AND n.first_hex = t.first_hex
            AND n.last_hex = t.last_hex
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
