-- Content hashes of 128 bits (issue #10): the first 32 of the SHA-256's 64 hex digits, which
-- src/api/model.rs `content_hash` now computes. Every connection and every version stores one,
-- and two contents share 128 bits with odds near 2^-64 even among 2^32 of them. A first sync
-- of 100,000 connections takes 6 MiB less on PostgreSQL. The stored hashes are cut to the
-- same prefix, so an unchanged connection still hashes as stored (a staged run resumed after
-- the upgrade too).
UPDATE connections SET content_hash = substr(content_hash, 1, 32)
    WHERE length(content_hash) > 32;
UPDATE connection_versions SET content_hash = substr(content_hash, 1, 32)
    WHERE length(content_hash) > 32;
UPDATE staged_connections SET content_hash = substr(content_hash, 1, 32)
    WHERE length(content_hash) > 32;
