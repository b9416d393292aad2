-- name: dpd-off
-- title: Connections without dead peer detection settings
-- Which tunnels does the inventory hold no DPD settings for? The API has no DPD on/off switch:
-- the cloud side always runs DPD and it cannot be disabled (Huawei Cloud's VPN FAQ); what the
-- API reports is whether the connection's ikepolicy carries a `dpd` object (timeout,
-- interval, msg). So "off" here means: no dpd object (the cloud's defaults apply, unseen by
-- the inventory), a dpd object lacking its timeout or interval, or no ikepolicy at all.
-- param: project text = *  Only this project's connections (--project, --target); * for all.
SELECT project_id, id, name, status, style, vgw_id,
       CASE
           WHEN has_dpd IS NULL THEN 'no ikepolicy'
           WHEN NOT has_dpd THEN 'no dpd object'
           ELSE 'dpd object without timeout or interval'
       END AS finding,
       dpd_timeout, dpd_interval, dpd_msg
FROM connection_summary
WHERE (has_dpd IS NULL OR NOT has_dpd OR dpd_timeout IS NULL OR dpd_interval IS NULL)
    AND (:project = '*' OR project_id = :project)
ORDER BY COALESCE(name, ''), id, project_id;
