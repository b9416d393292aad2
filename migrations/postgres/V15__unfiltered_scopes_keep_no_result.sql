-- An unfiltered scope keeps no result (issue #10): its removals select the project's whole
-- inventory from `connections` and never read `scope_connections`, which held a copy of every
-- connection id of the project. A filtered scope keeps its result as before.
-- migrations/sqlite/V15__unfiltered_scopes_keep_no_result.sql does the same in SQLite.
DELETE FROM scope_connections WHERE scope_id IN (
    SELECT id FROM scopes
    WHERE vgw_id IS NULL AND vgw_ip IS NULL AND vpn_id IS NULL AND eip_id IS NULL
        AND enterprise_project_ids IS NULL
);

COMMENT ON TABLE scope_connections IS 'What each filtered scope''s latest complete run returned: the connections its removals may consider where stored fields cannot tell. An unfiltered scope keeps none: it selects the project''s whole inventory.';
