-- name: recent-changes
-- title: Changes detected recently, configuration and state apart
-- What changed since yesterday (or any time)? Every change record detected since then, one
-- row per added or removed connection and per changed field: configuration changes first
-- (what operators set), then state changes (status, BGP state), each oldest first. Values are
-- JSON; an empty cell means absent. The adds of each scope's first run (its baseline: what
-- was already there) are no changes, and left out.
-- param: since time = 24h  Changes detected at or after this: a time ago (24h, 7d), a date
--     or an RFC 3339 time.
-- param: category list = config,state  Which categories to list: config, state or both.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
-- param: include_baseline boolean = false  true: list the baseline adds too.
-- column: detected_at time
-- column: old_value json
-- column: new_value json
SELECT category, detected_at, run_id, project_id, connection_id, connection_name, change, field,
       old_value, new_value
FROM change_log
WHERE detected_at >= :since AND category IN (:category)
    AND (:include_baseline OR NOT baseline) AND (:project = '*' OR project_id = :project)
ORDER BY CASE category WHEN 'config' THEN 0 ELSE 1 END, detected_at, record_id;
