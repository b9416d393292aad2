-- sync_runs.removals_skipped also says why a filtered run made no removals: one it would make
-- could not be confirmed with the API (src/confirm.rs). SCHEMA.md describes the column so; this
-- is its PostgreSQL comment. migrations/sqlite/V22 changes nothing.
COMMENT ON COLUMN sync_runs.removals_skipped IS 'Why a complete run inferred no removals (a sweep not provably whole, implausibly many, or a filtered run whose removals the API could not confirm); NULL when removals were inferred as usual.';
