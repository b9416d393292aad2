-- PostgreSQL's V20 replaces three lists' primary keys with an index on `connection_pk` and
-- fills its hash indexes' pages. SQLite's lists are WITHOUT ROWID tables clustered on those
-- keys, which cost nothing, and it has no hash indexes: nothing to do here. This version keeps
-- both dialects at one schema version.
SELECT 1;
