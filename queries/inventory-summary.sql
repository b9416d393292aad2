-- name: inventory-summary
-- title: Connections per project by status, style, gateway, enterprise project and HA role
-- The inventory at a glance, project by project: one row per project, dimension and value with
-- its number of connections, e.g. (<project>, status, DOWN, 12). Each project's first row is
-- its total. Dimensions come in the order of the title (gateway: vgw_id); within each, the
-- most common value first. A field the API did not send counts as (none).
-- param: project text = *  Only this project's connections (--project, --target); * for all.
WITH c AS (
    SELECT project_id, status, style, vgw_id, enterprise_project_id, ha_role
    FROM connections
    WHERE :project = '*' OR project_id = :project
)
SELECT project_id, dimension, value, connections
FROM (
    SELECT project_id, 0 AS dimension_order, 'total' AS dimension, 'all' AS value,
           COUNT(*) AS connections
    FROM c GROUP BY project_id
    UNION ALL
    SELECT project_id, 1, 'status', COALESCE(status, '(none)'), COUNT(*)
    FROM c GROUP BY project_id, status
    UNION ALL
    SELECT project_id, 2, 'style', COALESCE(style, '(none)'), COUNT(*)
    FROM c GROUP BY project_id, style
    UNION ALL
    SELECT project_id, 3, 'gateway', COALESCE(vgw_id, '(none)'), COUNT(*)
    FROM c GROUP BY project_id, vgw_id
    UNION ALL
    SELECT project_id, 4, 'enterprise_project', COALESCE(enterprise_project_id, '(none)'),
           COUNT(*)
    FROM c GROUP BY project_id, enterprise_project_id
    UNION ALL
    SELECT project_id, 5, 'ha_role', COALESCE(ha_role, '(none)'), COUNT(*)
    FROM c GROUP BY project_id, ha_role
) counts
ORDER BY project_id, dimension_order, connections DESC, value;
