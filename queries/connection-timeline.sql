-- name: connection-timeline
-- title: Every version and change of one connection, oldest first
-- What happened to this connection, and when? Each run that changed it, in apply order: the
-- change records it wrote (added, modified field by field, removed), then the version of the
-- connection it stored (`version`: its name, status and content hash; a version without
-- records changed only what never counts as a change, such as BGP telemetry). Works for
-- removed connections too. Several connections may answer to one name.
-- param: connection text  The connection's id, or its name (in any version).
-- param: project text = *  Only this project's connections (--project, --target); * for all.
-- column: at time
-- column: old_value json
-- column: new_value json
WITH target AS (
    SELECT project_id, connection_id FROM (
        SELECT project_id, connection_id FROM version_spans
        WHERE connection_id = :connection OR name = :connection
        UNION
        SELECT project_id, connection_id FROM change_records
        WHERE connection_id = :connection OR connection_name = :connection
    ) named
    WHERE :project = '*' OR project_id = :project
),
events AS (
    SELECT project_id, connection_id, apply_seq, 0 AS event_order, run_id,
           detected_at AS at, change AS event, category, field, old_value, new_value,
           connection_name AS name, NULL AS status, NULL AS content_hash, record_id AS event_id
    FROM change_log
    UNION ALL
    SELECT project_id, connection_id, from_seq, 1, from_run_id,
           valid_from, 'version', NULL, NULL, NULL, NULL,
           name, status, content_hash, version_id
    FROM version_spans
)
SELECT e.project_id, e.connection_id, e.apply_seq, e.run_id, e.at, e.event, e.category, e.field,
       e.old_value, e.new_value, e.name, e.status, e.content_hash
FROM events e
JOIN target t ON t.project_id = e.project_id AND t.connection_id = e.connection_id
ORDER BY e.project_id, e.connection_id, e.apply_seq, e.event_order, e.event_id;
