-- A scope's identity held its filters in a btree index, whose entry holds at most about 2.7 KB:
-- a longer filter value (`--vgw-id`, `--enterprise-project-id`, ...) failed every run of the
-- scope with "index row requires N bytes". The identity is now an MD5 digest of the project and
-- filters, each part length-prefixed (NULL as `-`) so that no two scopes spell the same text.
-- SQLite's indexes take entries of any length: migrations/sqlite/V16 changes nothing.
DROP INDEX scopes_identity;
CREATE UNIQUE INDEX scopes_identity ON scopes (md5(
    octet_length(project_id)::text || ':' || project_id
    || COALESCE(octet_length(vgw_id)::text || ':' || vgw_id, '-')
    || COALESCE(octet_length(vgw_ip)::text || ':' || vgw_ip, '-')
    || COALESCE(octet_length(vpn_id)::text || ':' || vpn_id, '-')
    || COALESCE(octet_length(eip_id)::text || ':' || eip_id, '-')
    || COALESCE(enterprise_project_ids::text, '-')));
