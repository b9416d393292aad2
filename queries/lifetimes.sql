-- name: lifetimes
-- title: SA lifetimes outside a policy
-- Which tunnels rekey too rarely (a long-lived key protects more traffic) or too often (rekeys
-- cost and can flap)? One row per connection and side whose lifetime_seconds lies outside
-- [min, max]. The defaults follow common baselines: IKE (phase 1) SAs at most 24 h and IPsec
-- (phase 2) SAs at most 8 h, as NIST SP 800-77 rev. 1 recommends, and no shorter than 1 h and
-- 10 min. A policy that sends no lifetime is not listed.
-- param: ike_min integer = 3600  Shortest IKE SA lifetime allowed, in seconds.
-- param: ike_max integer = 86400  Longest IKE SA lifetime allowed, in seconds.
-- param: ipsec_min integer = 600  Shortest IPsec SA lifetime allowed, in seconds.
-- param: ipsec_max integer = 28800  Longest IPsec SA lifetime allowed, in seconds.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
SELECT project_id, id, name, status, vgw_id, policy, lifetime_seconds, allowed_min, allowed_max,
       CASE WHEN lifetime_seconds < allowed_min THEN 'too short' ELSE 'too long' END AS finding
FROM (
    SELECT project_id, id, name, status, vgw_id, 'ikepolicy' AS policy,
           ike_lifetime_seconds AS lifetime_seconds,
           :ike_min AS allowed_min, :ike_max AS allowed_max
    FROM connection_summary
    WHERE :project = '*' OR project_id = :project
    UNION ALL
    SELECT project_id, id, name, status, vgw_id, 'ipsecpolicy', ipsec_lifetime_seconds,
           :ipsec_min, :ipsec_max
    FROM connection_summary
    WHERE :project = '*' OR project_id = :project
) l
WHERE lifetime_seconds < allowed_min OR lifetime_seconds > allowed_max
ORDER BY COALESCE(name, ''), id, project_id, policy;
