-- One inventory per project (see migrations/sqlite/V4__one_inventory_per_project.sql for the
-- same change in SQLite's dialect).
--
-- A connection is identified by its project and id; the endpoint is only how the API was
-- reached, so it moves from the inventory to the runs. A scope is a project narrowed by
-- filters. Databases that reached one project through several endpoints (an alias, a private
-- endpoint) held one copy of the inventory per endpoint: they are merged here, history kept.
-- Every version now knows when it was observed, so an older sweep never overwrites a newer one.

DROP VIEW connection_crypto;

-- Runs remember how they reached the API.
ALTER TABLE sync_runs ADD COLUMN endpoint TEXT, ADD COLUMN region TEXT;
UPDATE sync_runs r SET endpoint = s.endpoint, region = s.region FROM scopes s
WHERE s.id = r.scope_id;

-- Scopes that differ only by endpoint or region become the oldest of them.
CREATE TEMP TABLE v4_scope_merge ON COMMIT DROP AS
SELECT s.id AS old_id,
       (SELECT MIN(t.id) FROM scopes t
        WHERE t.project_id = s.project_id AND t.vgw_id IS NOT DISTINCT FROM s.vgw_id
            AND t.vgw_ip IS NOT DISTINCT FROM s.vgw_ip AND t.vpn_id IS NOT DISTINCT FROM s.vpn_id
            AND t.eip_id IS NOT DISTINCT FROM s.eip_id
            AND t.enterprise_project_ids IS NOT DISTINCT FROM s.enterprise_project_ids) AS new_id
FROM scopes s;
UPDATE sync_runs r SET scope_id = m.new_id FROM v4_scope_merge m
WHERE m.old_id = r.scope_id AND m.new_id <> m.old_id;

-- What each scope returned last time: the connections its removals may consider even when
-- stored fields cannot tell (a gateway's private IP as vgw_ip). Versions are the inventory's.
ALTER TABLE scope_connections DROP COLUMN version_id;
INSERT INTO scope_connections (scope_id, connection_id)
SELECT m.new_id, sc.connection_id
FROM scope_connections sc JOIN v4_scope_merge m ON m.old_id = sc.scope_id
WHERE m.new_id <> m.old_id
ON CONFLICT DO NOTHING;
DELETE FROM scopes WHERE id IN (SELECT old_id FROM v4_scope_merge WHERE new_id <> old_id);
ALTER TABLE scopes DROP COLUMN scope_key, DROP COLUMN endpoint, DROP COLUMN region;
-- What identifies a scope: its project and filters (absent and '' never both occur).
CREATE UNIQUE INDEX scopes_identity ON scopes (project_id, COALESCE(vgw_id, ''),
    COALESCE(vgw_ip, ''), COALESCE(vpn_id, ''), COALESCE(eip_id, ''),
    COALESCE(enterprise_project_ids, '[]'::jsonb));

-- Of each project's copies of a connection, the one whose current version started last stays.
CREATE TEMP TABLE v4_kept ON COMMIT DROP AS
SELECT c.pk,
       (SELECT v.id FROM connection_versions v
        WHERE v.endpoint = c.endpoint AND v.project_id = c.project_id
            AND v.connection_id = c.id AND v.to_seq IS NULL) AS version_id
FROM connections c
WHERE c.pk = (
    SELECT c2.pk FROM connections c2
    LEFT JOIN connection_versions v ON v.endpoint = c2.endpoint
        AND v.project_id = c2.project_id AND v.connection_id = c2.id AND v.to_seq IS NULL
    WHERE c2.project_id = c.project_id AND c2.id = c.id
    ORDER BY COALESCE(v.from_seq, 0) DESC, c2.pk DESC LIMIT 1);
-- The other copies go, with their child rows (ON DELETE CASCADE).
DELETE FROM connections WHERE pk NOT IN (SELECT pk FROM v4_kept);

-- When the stored content was last seen served (the page's fetch time): an apply never
-- replaces it with an older observation, nor removes it on a sweep that started earlier.
ALTER TABLE connections ADD COLUMN observed_at TIMESTAMPTZ;
UPDATE connections c SET observed_at = r.started_at FROM sync_runs r
WHERE r.id = c.last_changed_run_id;
ALTER TABLE connections DROP COLUMN endpoint;
ALTER TABLE connections ALTER COLUMN observed_at SET NOT NULL;
ALTER TABLE connections ADD CONSTRAINT connections_project_id_id_key UNIQUE (project_id, id);

-- The copies' histories become one: a version ends where the next one of the connection (from
-- whichever endpoint) begins, and the kept copy's current version stays current.
ALTER TABLE connection_versions ADD COLUMN observed_at TIMESTAMPTZ;   -- when first seen served
UPDATE connection_versions v SET observed_at = COALESCE(
    (SELECT r.started_at FROM sync_runs r WHERE r.apply_seq = v.from_seq),
    'epoch'::timestamptz);
UPDATE connection_versions v SET to_seq = CASE
        WHEN v.id IN (SELECT version_id FROM v4_kept) THEN NULL
        ELSE LEAST(v.to_seq, (
            SELECT MIN(w.from_seq) FROM connection_versions w
            WHERE w.project_id = v.project_id AND w.connection_id = v.connection_id
                AND w.from_seq > v.from_seq))
    END;
-- A copy that was current without being kept ends where the kept one began, at the latest.
UPDATE connection_versions v SET to_seq = k.from_seq
FROM connection_versions k
WHERE v.to_seq IS NULL AND v.id NOT IN (SELECT version_id FROM v4_kept)
    AND k.id IN (SELECT version_id FROM v4_kept)
    AND k.project_id = v.project_id AND k.connection_id = v.connection_id;
ALTER TABLE connection_versions DROP COLUMN endpoint;
ALTER TABLE connection_versions ALTER COLUMN observed_at SET NOT NULL;
CREATE INDEX connection_versions_connection
    ON connection_versions (project_id, connection_id, to_seq);

ALTER TABLE change_records DROP COLUMN endpoint;

CREATE VIEW connection_crypto AS
SELECT c.pk, c.project_id, c.id, c.name, c.status, c.style, c.vgw_id,
       i.ike_version,
       i.encryption_algorithm     AS ike_encryption_algorithm,
       i.authentication_algorithm AS ike_authentication_algorithm,
       i.dh_group                 AS ike_dh_group,
       i.lifetime_seconds         AS ike_lifetime_seconds,
       p.encryption_algorithm     AS ipsec_encryption_algorithm,
       p.authentication_algorithm AS ipsec_authentication_algorithm,
       p.pfs                      AS ipsec_pfs,
       p.lifetime_seconds         AS ipsec_lifetime_seconds
FROM connections c
LEFT JOIN ike_policies i ON i.connection_pk = c.pk
LEFT JOIN ipsec_policies p ON p.connection_pk = c.pk;
