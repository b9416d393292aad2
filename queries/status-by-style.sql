-- name: status-by-style
-- title: How many connections are in each status, per connection style
-- A cross-tab of style (POLICY, STATIC, BGP, POLICY-TEMPLATE) and status (ACTIVE, DOWN, ...):
-- which kinds of tunnel are down, and how many, per project.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
SELECT project_id, style, status, COUNT(*) AS connections
FROM connections
WHERE :project = '*' OR project_id = :project
GROUP BY project_id, style, status
ORDER BY project_id, COALESCE(style, ''), COALESCE(status, '');
