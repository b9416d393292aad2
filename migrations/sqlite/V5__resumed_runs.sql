-- A run started by `sync --resume` takes over the staged pages of the scope's latest failed
-- run and continues its sweep: this names that run. The failed run stays failed; the chain of
-- runs one sweep went through gives the sweep's start (no connection another run observed
-- after it is removed) and the smallest page size its staged pages were fetched with. NULL:
-- the run swept from the first page.
ALTER TABLE sync_runs ADD COLUMN resumed_from INTEGER REFERENCES sync_runs (id);
-- Which run continued a failed one (`runs` shows it for every run).
CREATE INDEX sync_runs_resumed_from ON sync_runs (resumed_from);
