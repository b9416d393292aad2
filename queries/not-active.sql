-- name: not-active
-- title: Connections that are not ACTIVE, and since when
-- Which tunnels are down, pending, frozen or in error, and for how long? `status_since` is
-- when a run recorded the status change (the latest change record of the connection's
-- status); `since_source` says "first seen" when no run saw it change: the connection was
-- already so when the inventory first stored it, at `status_since` or earlier. Longest first.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
-- column: status_since time
SELECT c.project_id, c.id, c.name, c.status, c.style, c.vgw_id,
       COALESCE(s.changed_at, f.started_at) AS status_since,
       CASE WHEN s.changed_at IS NULL THEN 'first seen' ELSE 'status change' END
           AS since_source
FROM connections c
LEFT JOIN (
    SELECT project_id, connection_id, MAX(detected_at) AS changed_at
    FROM change_records
    WHERE field = 'status'
    GROUP BY project_id, connection_id
) s ON s.project_id = c.project_id AND s.connection_id = c.id
LEFT JOIN sync_runs f ON f.id = c.first_seen_run_id
WHERE (c.status IS NULL OR c.status <> 'ACTIVE') AND (:project = '*' OR c.project_id = :project)
ORDER BY status_since, COALESCE(c.name, ''), c.id, c.project_id;
