-- name: who-changed
-- title: Changes by who made them (Cloud Trace Service)
-- Who changed what this week? Each connection a run found added, removed or modified since
-- then, with the user whose operation made the change: one row per change and CTS trace that
-- fits it (the connection's traces between its last observation before the change and the
-- change's detection; runs made with `sync --with-traces`), grouped by user. A change no trace
-- explains is listed under (unknown), with the reason: no traces fetched, window expired (CTS
-- keeps traces for 7 days) or no matching trace. `fields` counts a modification's changed
-- fields. The adds of each scope's first run (its baseline: what was already there) are no
-- changes, and left out.
-- param: since time = 7d  Changes detected at or after this: a time ago (24h, 7d), a date or
--     an RFC 3339 time.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
-- param: include_baseline boolean = false  true: list the baseline adds too.
-- column: time time
-- column: detected_at time
WITH changes AS (
    SELECT a.run_id, a.project_id, a.connection_id, a.change, a.trace_id, a.time, a.user_name,
           a.operation, a.source_ip, a.unknown_reason, COUNT(a.field) AS fields,
           MIN(r.detected_at) AS detected_at, MIN(r.connection_name) AS connection_name
    FROM change_authors a
    JOIN change_records r ON r.id = a.record_id
    WHERE r.detected_at >= :since AND (:include_baseline OR NOT r.baseline)
        AND (:project = '*' OR r.project_id = :project)
    GROUP BY a.run_id, a.project_id, a.connection_id, a.change, a.trace_id, a.time,
             a.user_name, a.operation, a.source_ip, a.unknown_reason
)
SELECT CASE WHEN trace_id IS NULL THEN '(unknown)' ELSE COALESCE(user_name, '(no user name)')
       END AS changed_by,
       time, operation, source_ip, project_id, connection_id, connection_name, change, fields,
       run_id, detected_at, unknown_reason, trace_id
FROM changes
ORDER BY CASE WHEN trace_id IS NULL THEN 1 ELSE 0 END, changed_by, time, detected_at,
         project_id, connection_id, change;
