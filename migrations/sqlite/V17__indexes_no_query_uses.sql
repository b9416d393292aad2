-- Indexes no query uses (issue #10), dropped: on `ike_policies.encryption_algorithm`,
-- `ipsec_policies.encryption_algorithm` and `tags.key`. The weak-crypto report compares
-- `lower(encryption_algorithm)`, which such an index cannot serve; missing-tags reaches tags by
-- `connection_pk`; and a handful of algorithm names or tag keys select too large a share of the
-- rows for a planner to prefer an index over a scan. On PostgreSQL they were hash indexes of a
-- few values each (19 MiB of its 351 MiB after a first sync of 100,000 connections), written
-- on every apply for nothing. migrations/postgres/V17__indexes_no_query_uses.sql does the same.
DROP INDEX ike_policies_encryption;
DROP INDEX ipsec_policies_encryption;
DROP INDEX tags_key;
