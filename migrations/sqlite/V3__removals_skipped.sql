-- A complete run whose sweep could not be proven whole (ties at a page boundary beyond what
-- paging can recover, fewer connections than the API's total_count) or whose removals looked
-- implausible stores what it saw but infers no removal. This says why; NULL: removals were
-- inferred as usual.
ALTER TABLE sync_runs ADD COLUMN removals_skipped TEXT;
