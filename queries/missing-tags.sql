-- name: missing-tags
-- title: Connections lacking required tags
-- Which connections lack a tag every connection must carry (an owner to call, an environment)?
-- One row per connection and missing key: `absent` when no tag has the key, `empty` when its
-- value is empty. Keys match exactly (case matters).
-- param: keys list = owner,env  The tag keys every connection must carry, comma-separated.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
WITH required (tag_key) AS (VALUES :keys)
SELECT c.project_id, c.id, c.name, c.status, c.vgw_id, r.tag_key AS missing_key,
       CASE WHEN t.connection_pk IS NULL THEN 'absent' ELSE 'empty' END AS problem
FROM connections c
CROSS JOIN required r
LEFT JOIN tags t ON t.connection_pk = c.pk AND t.key = r.tag_key
WHERE (t.connection_pk IS NULL OR COALESCE(t.value, '') = '')
    AND (:project = '*' OR c.project_id = :project)
ORDER BY COALESCE(c.name, ''), c.id, c.project_id, r.tag_key;
