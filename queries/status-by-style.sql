-- status-by-style: how many connections are in each status, per connection style.
-- Columns: style, status, connections. Runs on SQLite and PostgreSQL.
SELECT style, status, COUNT(*) AS connections
FROM connections
GROUP BY style, status
ORDER BY style, status;
