-- Each project's connections in the order the list API serves them (newest first): a re-sync
-- foresees the markers of the pages to come from what the inventory holds, and asks for them
-- before the pages before them arrive (`sync --fetch-concurrency`). The first 64 characters
-- only, so that no text the API sends can make an index entry too large (a btree entry holds
-- at most 2,704 bytes).
CREATE INDEX connections_created_at ON connections (project_id, substr(created_at, 1, 64));
