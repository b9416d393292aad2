-- PostgreSQL's V19 stores the networks' bounds as `uuid` (16 bytes) instead of 32 hex digits of
-- text. SQLite has no such type; its bounds stay the text, which compares the same. This
-- version keeps both dialects at one schema version.
SELECT 1;
