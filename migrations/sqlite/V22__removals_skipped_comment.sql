-- PostgreSQL's V22 updates the comment on sync_runs.removals_skipped, which SQLite does not
-- keep. This version keeps both dialects at one schema version.
SELECT 1;
