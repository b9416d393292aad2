-- `forget-scope`: a scope forgotten after its run N (the latest it had then) is no longer
-- shown by `status` or the metrics, and counts only its runs after N once it is synced again.
-- Its runs stay (change records name them); its staging and membership rows are deleted.
-- NULL: never forgotten.
ALTER TABLE scopes ADD COLUMN forgotten_through INTEGER;
