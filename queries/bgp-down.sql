-- name: bgp-down
-- title: BGP sessions that are not Established, and for how long
-- Which BGP tunnels have lost their routing session, and since when? One row per connection
-- whose bgp_peer.state is not Established, with how long it has been in that state: the API's
-- state_duration (seconds, also as days, hours and minutes) as of `reported_at`, when the
-- inventory last stored the connection. Longest first.
SELECT c.id, c.name, c.status, c.vgw_id, b.peer_ip_address, b.peer_asn, b.state,
       b.state_duration AS state_seconds,
       CAST(b.state_duration / 86400 AS TEXT) || 'd '
           || CAST((b.state_duration % 86400) / 3600 AS TEXT) || 'h '
           || CAST((b.state_duration % 3600) / 60 AS TEXT) || 'm' AS state_for,
       c.observed_at AS reported_at
FROM bgp_peers b
JOIN connections c ON c.pk = b.connection_pk
WHERE b.state IS NULL OR b.state <> 'Established'
ORDER BY COALESCE(b.state_duration, -1) DESC, COALESCE(c.name, ''), c.id;
