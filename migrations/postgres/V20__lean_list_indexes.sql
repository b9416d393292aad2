-- Smaller indexes for the lists and the hashed ids (issue #10), PostgreSQL only.
--
-- 1. peer_subnets, policy_rule_destinations and tags lose their primary keys: each was a
--    second copy of every row's connection, list and position (14, 6.9 and 4.5 MiB after a
--    first sync of 100,000 connections). Their rows are only ever read, written and deleted
--    by connection, a whole list at a time, so an index on `connection_pk` alone serves every
--    use, and PostgreSQL stores each connection's entries once in it with their row addresses
--    (btree deduplication): 3.2, 3.4 and 2.3 MiB. The store writes each list's positions
--    0, 1, 2, ... itself. SQLite's lists are tables WITHOUT ROWID clustered on those keys,
--    which cost nothing there: they stay. policy_rules keeps its key, which the destinations'
--    foreign key references.
-- 2. The hash indexes fill their pages (fillfactor 100 instead of 75): a lookup by id or
--    gateway reads one bucket either way, and each index is about a third smaller.
ALTER TABLE peer_subnets DROP CONSTRAINT peer_subnets_pkey;
CREATE INDEX peer_subnets_connection ON peer_subnets (connection_pk);
ALTER TABLE policy_rule_destinations DROP CONSTRAINT policy_rule_destinations_pkey;
CREATE INDEX policy_rule_destinations_connection ON policy_rule_destinations (connection_pk);
ALTER TABLE tags DROP CONSTRAINT tags_pkey;
CREATE INDEX tags_connection ON tags (connection_pk);

ALTER INDEX connections_id SET (fillfactor = 100);
ALTER INDEX connections_vgw SET (fillfactor = 100);
ALTER INDEX connection_versions_connection SET (fillfactor = 100);
ALTER INDEX change_records_connection SET (fillfactor = 100);
ALTER INDEX scope_connections_connection SET (fillfactor = 100);
REINDEX INDEX connections_id;
REINDEX INDEX connections_vgw;
REINDEX INDEX connection_versions_connection;
REINDEX INDEX change_records_connection;
REINDEX INDEX scope_connections_connection;
