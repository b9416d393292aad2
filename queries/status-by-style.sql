-- name: status-by-style
-- title: How many connections are in each status, per connection style
-- A cross-tab of style (POLICY, STATIC, BGP, POLICY-TEMPLATE) and status (ACTIVE, DOWN, ...):
-- which kinds of tunnel are down, and how many.
SELECT style, status, COUNT(*) AS connections
FROM connections
GROUP BY style, status
ORDER BY COALESCE(style, ''), COALESCE(status, '');
