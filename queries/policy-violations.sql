-- name: policy-violations
-- title: Connections that break the policy, one row per connection and rule
-- Which tunnels break our policy, and since when? Every stored connection checked against
-- the policy the parameters state (`vpn-inventory check` sets them from policy.toml): one row
-- per connection and broken rule, naming the rule, the field (the API's path) and its value
-- (empty: absent). The defaults are the built-in policy: no 3DES or DES encryption, no MD5 or
-- SHA-1 integrity, no Diffie-Hellman group below 14 (IKE dh_group, IPsec pfs). `since_run`
-- and `change` name the latest change record touching the field (or adding the connection):
-- since when it is so; `changed_by`, who made that change (the user of the CTS trace that fits
-- it, `sync --with-traces`; `+N` more when several do), empty where unknown. Lists are lower
-- case; `*` allows anything, `-` lists nothing.
-- param: encryption_allowed list = *  Encryption algorithms allowed (IKE and IPsec).
-- param: encryption_disallowed list = 3des,des  Encryption algorithms disallowed.
-- param: authentication_allowed list = *  Integrity algorithms allowed (IKE and IPsec).
-- param: authentication_disallowed list = md5,sha1  Integrity algorithms disallowed.
-- param: dh_groups_disallowed list = group1,group2,group5  Diffie-Hellman groups disallowed:
--     IKE dh_group and IPsec pfs (the API's groups below 14).
-- param: ike_versions list = *  IKE versions allowed (v1, v2).
-- param: pfs_required boolean = false  true: IPsec pfs = disable breaks the policy.
-- param: ike_lifetime_min integer = 0  Shortest IKE SA lifetime allowed, in seconds.
-- param: ike_lifetime_max integer = 0  Longest IKE SA lifetime allowed (0: no bound).
-- param: ipsec_lifetime_min integer = 0  Shortest IPsec SA lifetime allowed, in seconds.
-- param: ipsec_lifetime_max integer = 0  Longest IPsec SA lifetime allowed (0: no bound).
-- param: dpd_required boolean = false  true: an ikepolicy without a dpd object breaks it.
-- param: tags_required list = -  Tag keys every connection must carry (exact keys).
-- param: healthy_status list = *  Connection statuses considered healthy (ACTIVE, ...).
-- param: new_since run = latest  With only_new: the run (a run id, sync:ID, or a time) after
--     which a violation's change must come.
-- param: only_new boolean = false  true: only violations a change after new_since made (a
--     scope's first run, its baseline, changed nothing).
-- param: project text = *  Only this project's connections (--project, --target); * for all.
WITH algorithms AS (
    SELECT connection_pk, 'ikepolicy' AS policy, encryption_algorithm, authentication_algorithm
    FROM ike_policies
    UNION ALL
    SELECT connection_pk, 'ipsecpolicy', encryption_algorithm, authentication_algorithm
    FROM ipsec_policies
),
violations AS (
    SELECT connection_pk, 'encryption' AS rule, policy || '.encryption_algorithm' AS field,
           encryption_algorithm AS value
    FROM algorithms
    WHERE lower(encryption_algorithm) IN (:encryption_disallowed)
        OR NOT ('*' IN (:encryption_allowed)
                OR lower(encryption_algorithm) IN (:encryption_allowed))
    UNION ALL
    SELECT connection_pk, 'authentication', policy || '.authentication_algorithm',
           authentication_algorithm
    FROM algorithms
    WHERE lower(authentication_algorithm) IN (:authentication_disallowed)
        OR NOT ('*' IN (:authentication_allowed)
                OR lower(authentication_algorithm) IN (:authentication_allowed))
    UNION ALL
    SELECT connection_pk, 'dh_group', 'ikepolicy.dh_group', dh_group
    FROM ike_policies WHERE lower(dh_group) IN (:dh_groups_disallowed)
    UNION ALL
    SELECT connection_pk, 'dh_group', 'ipsecpolicy.pfs', pfs
    FROM ipsec_policies WHERE lower(pfs) IN (:dh_groups_disallowed)
    UNION ALL
    SELECT connection_pk, 'pfs', 'ipsecpolicy.pfs', pfs
    FROM ipsec_policies WHERE :pfs_required AND lower(pfs) = 'disable'
    UNION ALL
    SELECT connection_pk, 'ike_version', 'ikepolicy.ike_version', ike_version
    FROM ike_policies
    WHERE NOT ('*' IN (:ike_versions) OR lower(ike_version) IN (:ike_versions))
    UNION ALL
    SELECT connection_pk, 'lifetime', 'ikepolicy.lifetime_seconds',
           CAST(lifetime_seconds AS TEXT)
    FROM ike_policies
    WHERE lifetime_seconds < :ike_lifetime_min
        OR (:ike_lifetime_max > 0 AND lifetime_seconds > :ike_lifetime_max)
    UNION ALL
    SELECT connection_pk, 'lifetime', 'ipsecpolicy.lifetime_seconds',
           CAST(lifetime_seconds AS TEXT)
    FROM ipsec_policies
    WHERE lifetime_seconds < :ipsec_lifetime_min
        OR (:ipsec_lifetime_max > 0 AND lifetime_seconds > :ipsec_lifetime_max)
    UNION ALL
    -- No ikepolicy at all carries no dpd object either.
    SELECT c.pk, 'dpd', 'ikepolicy.dpd', NULL
    FROM connections c
    LEFT JOIN ike_policies i ON i.connection_pk = c.pk
    WHERE :dpd_required AND (i.connection_pk IS NULL OR NOT i.has_dpd)
    UNION ALL
    SELECT c.pk, 'tags', 'tags.' || k.column1, NULL
    FROM connections c
    CROSS JOIN (VALUES :tags_required) k
    WHERE k.column1 <> '-'
        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.connection_pk = c.pk AND t.key = k.column1)
    UNION ALL
    SELECT pk, 'status', 'status', status
    FROM connections
    WHERE NOT ('*' IN (:healthy_status) OR status IN (:healthy_status))
),
found AS (
    -- The latest change record that touched the field (itself, an object holding it, or a
    -- field inside it) or added the connection: since when the violation stands.
    SELECT v.rule, v.field, v.value, c.project_id, c.id, c.name, c.status, c.vgw_id,
           (SELECT MAX(r.id) FROM change_records r
            WHERE r.connection_id = c.id AND r.project_id = c.project_id
                AND (r.change = 'added' OR r.field = v.field
                     OR substr(v.field, 1, length(r.field) + 1) = r.field || '.'
                     OR substr(r.field, 1, length(v.field) + 1) = v.field || '.')) AS record_id
    FROM violations v
    JOIN connections c ON c.pk = v.connection_pk
    WHERE :project = '*' OR c.project_id = :project
)
SELECT f.project_id, f.id AS connection_id, f.name, f.status, f.vgw_id, f.rule, f.field,
       f.value, r.run_id AS since_run, r.change,
       (SELECT MIN(a.user_name) || CASE WHEN COUNT(DISTINCT a.user_name) > 1
                   THEN ' +' || CAST(COUNT(DISTINCT a.user_name) - 1 AS TEXT) ELSE '' END
        FROM change_authors a WHERE a.record_id = f.record_id) AS changed_by
FROM found f
LEFT JOIN change_records r ON r.id = f.record_id
LEFT JOIN sync_runs s ON s.id = r.run_id
WHERE NOT :only_new
    OR (NOT r.baseline
        AND s.apply_seq > (SELECT n.apply_seq FROM sync_runs n WHERE n.id = :new_since))
ORDER BY f.project_id, COALESCE(f.name, ''), f.id, f.rule, f.field;
