-- Who changed what: the Cloud Trace Service's management traces of VPN connections, fetched by
-- `sync --with-traces` in the run's apply, and joined to each change record by connection and
-- time in the view change_authors.

CREATE TABLE traces (
    project_id    TEXT NOT NULL,
    trace_id      TEXT NOT NULL,
    time          TEXT NOT NULL,       -- when the operation happened
    trace_name    TEXT,                -- the operation, e.g. updateVpnConnection
    trace_type    TEXT,                -- ConsoleAction, ApiCall or SystemAction
    trace_rating  TEXT,                -- normal, warning or incident
    resource_type TEXT,
    resource_id   TEXT,                -- the connection's id
    resource_name TEXT,
    user_name     TEXT,
    user_id       TEXT,
    domain_name   TEXT,
    source_ip     TEXT,
    code          TEXT,                -- the HTTP status of the operation
    request_id    TEXT,
    body          TEXT NOT NULL,       -- the trace as CTS sent it (JSON)
    run_id        INTEGER NOT NULL REFERENCES sync_runs (id),  -- the run that stored it first
    PRIMARY KEY (project_id, trace_id)
);
CREATE INDEX traces_resource ON traces (project_id, resource_id, time);
CREATE INDEX traces_time ON traces (time);

CREATE TABLE trace_fetches (
    run_id       INTEGER PRIMARY KEY REFERENCES sync_runs (id),
    window_from  TEXT NOT NULL,        -- the traces asked for: after this ...
    window_to    TEXT NOT NULL,        -- ... up to this
    covered_from TEXT,                 -- what CTS still kept: from here; NULL unless fetched
    outcome      TEXT NOT NULL CHECK (outcome IN ('fetched', 'expired', 'forbidden', 'failed')),
    traces       INTEGER NOT NULL DEFAULT 0,
    pages        INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);

-- The last time the connection was seen as it was before the change: the change, and the
-- trace of it, came after. NULL for an added connection and for records from before schema 24.
ALTER TABLE change_records ADD COLUMN changed_after TEXT;

CREATE VIEW change_authors AS
SELECT r.id AS record_id, r.run_id, r.project_id, r.connection_id, r.change, r.field,
       COALESCE(r.changed_after, f.window_from) AS window_from, r.detected_at AS window_to,
       t.trace_id, t.time, t.user_name, t.trace_name AS operation, t.source_ip,
       t.trace_type, t.domain_name,
       CASE WHEN t.trace_id IS NOT NULL THEN NULL
            WHEN f.outcome IS NULL THEN 'no traces fetched'
            WHEN f.outcome = 'forbidden' THEN 'no traces fetched: missing CTS permission'
            WHEN f.outcome = 'failed' THEN 'no traces fetched: fetching them failed'
            WHEN f.covered_from > COALESCE(r.changed_after, f.window_from)
                THEN 'window expired'
            ELSE 'no matching trace' END AS unknown_reason
FROM change_records r
LEFT JOIN trace_fetches f ON f.run_id = r.run_id
LEFT JOIN traces t ON t.project_id = r.project_id AND t.resource_id = r.connection_id
    AND t.time > COALESCE(r.changed_after, f.window_from) AND t.time <= r.detected_at
    AND (t.code IS NULL OR SUBSTR(t.code, 1, 1) NOT IN ('4', '5'));
