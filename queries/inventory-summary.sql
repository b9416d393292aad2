-- name: inventory-summary
-- title: How many connections, by status, style, gateway, enterprise project and HA role
-- The inventory at a glance: one row per dimension and value with its number of connections,
-- e.g. (status, DOWN, 12). The first row is the total. Dimensions come in the order of the
-- title (gateway: vgw_id); within each, the most common value first. A field the API did not
-- send counts as (none).
SELECT dimension, value, connections
FROM (
    SELECT 0 AS dimension_order, 'total' AS dimension, 'all' AS value, COUNT(*) AS connections
    FROM connections
    UNION ALL
    SELECT 1, 'status', COALESCE(status, '(none)'), COUNT(*)
    FROM connections GROUP BY status
    UNION ALL
    SELECT 2, 'style', COALESCE(style, '(none)'), COUNT(*)
    FROM connections GROUP BY style
    UNION ALL
    SELECT 3, 'gateway', COALESCE(vgw_id, '(none)'), COUNT(*)
    FROM connections GROUP BY vgw_id
    UNION ALL
    SELECT 4, 'enterprise_project', COALESCE(enterprise_project_id, '(none)'), COUNT(*)
    FROM connections GROUP BY enterprise_project_id
    UNION ALL
    SELECT 5, 'ha_role', COALESCE(ha_role, '(none)'), COUNT(*)
    FROM connections GROUP BY ha_role
) counts
ORDER BY dimension_order, connections DESC, value;
