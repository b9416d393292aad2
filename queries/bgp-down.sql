-- name: bgp-down
-- title: BGP sessions that are not Established, and for how long
-- Which BGP tunnels have lost their routing session, and since when? One row per connection
-- whose bgp_peer.state is not Established, with how long it has been in that state until
-- `at` (now): the API's state_duration as of `reported_at`, when the inventory last stored
-- the connection, plus the time since then (seconds, also as days, hours and minutes).
-- Longest first.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
-- param: at time = now  The time ages are measured to: now, a time ago, a date or an
--     RFC 3339 time.
-- column: reported_at time
SELECT project_id, id, name, status, vgw_id, peer_ip_address, peer_asn, state, state_seconds,
       CAST(state_seconds / 86400 AS TEXT) || 'd '
           || CAST((state_seconds % 86400) / 3600 AS TEXT) || 'h '
           || CAST((state_seconds % 3600) / 60 AS TEXT) || 'm' AS state_for,
       reported_at
FROM (
    SELECT c.project_id, c.id, c.name, c.status, c.vgw_id, b.peer_ip_address, b.peer_asn,
           b.state, c.observed_at AS reported_at,
           b.state_duration
               + CAST(ROUND((julianday(:at) - julianday(c.observed_at)) * 86400) AS BIGINT)
               AS state_seconds
    FROM bgp_peers b
    JOIN connections c ON c.pk = b.connection_pk
    WHERE (b.state IS NULL OR b.state <> 'Established')
        AND (:project = '*' OR c.project_id = :project)
) down
ORDER BY COALESCE(state_seconds, -1) DESC, COALESCE(name, ''), id, project_id;
