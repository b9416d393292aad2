-- name: inventory-at
-- title: The inventory as it was after a run, or at a time
-- What did the inventory hold back then? Every connection current right after the run (or,
-- given a time, the latest run applied by then), with the run and time since which that
-- version was current. `export --as-of` gives the same versions in full.
-- param: at run = latest  A run id, latest, or a time (a time ago such as 7d, a date or an
--     RFC 3339 time) meaning the latest run applied by then.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
-- column: since time
SELECT v.project_id, v.connection_id AS id, v.name, v.status, v.style, v.vgw_id,
       v.from_run_id AS since_run, v.valid_from AS since
FROM version_spans v
JOIN sync_runs r ON r.id = :at
WHERE v.from_seq <= r.apply_seq AND (v.to_seq IS NULL OR v.to_seq > r.apply_seq)
    AND (:project = '*' OR v.project_id = :project)
ORDER BY COALESCE(v.name, ''), v.connection_id, v.project_id;
