-- name: churn
-- title: Connections changed most often in a period
-- Which connections keep changing (a flapping tunnel, a fought-over setting)? Per connection,
-- how many runs recorded a change to it in the period and how many change records they wrote
-- (configuration and state apart), with the first and last; most runs first. The adds of
-- each scope's first run (its baseline: what was already there) are no changes, and left out.
-- param: since time = 7d  Start of the period: a time ago (7d, 24h), a date or an RFC 3339
--     time.
-- param: until time = now  End of the period (included), written the same ways.
-- param: limit integer = 20  How many connections to list.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
-- param: include_baseline boolean = false  true: count the baseline adds too.
-- column: first_change time
-- column: last_change time
SELECT project_id, connection_id, MAX(connection_name) AS name,
       COUNT(DISTINCT run_id) AS runs_with_changes, COUNT(*) AS changes,
       SUM(CASE WHEN category = 'config' THEN 1 ELSE 0 END) AS config_changes,
       SUM(CASE WHEN category = 'state' THEN 1 ELSE 0 END) AS state_changes,
       MIN(detected_at) AS first_change, MAX(detected_at) AS last_change
FROM change_log
WHERE detected_at >= :since AND detected_at <= :until
    AND (:include_baseline OR NOT baseline) AND (:project = '*' OR project_id = :project)
GROUP BY project_id, connection_id
ORDER BY runs_with_changes DESC, changes DESC, connection_id, project_id
LIMIT :limit;
