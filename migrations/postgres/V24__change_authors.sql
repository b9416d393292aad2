-- Who changed what: the Cloud Trace Service's management traces of VPN connections, fetched by
-- `sync --with-traces` in the run's apply, and joined to each change record by connection and
-- time in the view change_authors.

CREATE TABLE traces (
    project_id    TEXT NOT NULL,
    trace_id      TEXT NOT NULL,
    time          TIMESTAMPTZ NOT NULL,
    trace_name    TEXT,
    trace_type    TEXT,
    trace_rating  TEXT,
    resource_type TEXT,
    resource_id   TEXT,
    resource_name TEXT,
    user_name     TEXT,
    user_id       TEXT,
    domain_name   TEXT,
    source_ip     TEXT,
    code          TEXT,
    request_id    TEXT,
    body          TEXT NOT NULL,
    run_id        BIGINT NOT NULL REFERENCES sync_runs (id),
    PRIMARY KEY (project_id, trace_id)
);
-- A hash index: an id the API sends may be longer than a btree entry holds.
CREATE INDEX traces_resource ON traces USING hash (resource_id);
CREATE INDEX traces_time ON traces (time);

CREATE TABLE trace_fetches (
    run_id       BIGINT PRIMARY KEY REFERENCES sync_runs (id),
    window_from  TIMESTAMPTZ NOT NULL,
    window_to    TIMESTAMPTZ NOT NULL,
    covered_from TIMESTAMPTZ,
    outcome      TEXT NOT NULL CHECK (outcome IN ('fetched', 'expired', 'forbidden', 'failed')),
    traces       BIGINT NOT NULL DEFAULT 0,
    pages        BIGINT NOT NULL DEFAULT 0,
    error        TEXT
);

-- The last time the connection was seen as it was before the change: the change, and the
-- trace of it, came after. NULL for an added connection and for records from before schema 24.
ALTER TABLE change_records ADD COLUMN changed_after TIMESTAMPTZ;

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

COMMENT ON TABLE traces IS 'The Cloud Trace Service''s management traces of VPN connections (who called which operation on which connection, when and from where), fetched by `sync --with-traces` for the window since the scope''s previous complete run and stored with that run''s apply; one row per trace of a project, whichever runs fetched it.';
COMMENT ON COLUMN traces.project_id IS 'The project whose traces they are.';
COMMENT ON COLUMN traces.trace_id IS 'The trace''s id in CTS.';
COMMENT ON COLUMN traces.time IS 'When the operation happened.';
COMMENT ON COLUMN traces.trace_name IS 'The operation, e.g. `createVpnConnection`, `updateVpnConnection`, `deleteVpnConnection`.';
COMMENT ON COLUMN traces.trace_type IS 'How it was called: `ConsoleAction`, `ApiCall` or `SystemAction`.';
COMMENT ON COLUMN traces.trace_rating IS '`normal`, `warning` or `incident`.';
COMMENT ON COLUMN traces.resource_type IS 'The resource type CTS names.';
COMMENT ON COLUMN traces.resource_id IS 'The resource''s id: the connection''s id for a VPN connection.';
COMMENT ON COLUMN traces.resource_name IS 'The resource''s name.';
COMMENT ON COLUMN traces.user_name IS 'Who called it (`user.name`).';
COMMENT ON COLUMN traces.user_id IS 'The user''s id (`user.id`).';
COMMENT ON COLUMN traces.domain_name IS 'The user''s account (`user.domain.name`).';
COMMENT ON COLUMN traces.source_ip IS 'Where the call came from.';
COMMENT ON COLUMN traces.code IS 'The HTTP status the operation answered with; a trace whose code starts with 4 or 5 changed nothing and is never an author.';
COMMENT ON COLUMN traces.request_id IS 'The operation''s request id.';
COMMENT ON COLUMN traces.body IS 'The trace as CTS sent it, as JSON text.';
COMMENT ON COLUMN traces.run_id IS 'The run that stored it first (`sync_runs.id`).';

COMMENT ON TABLE trace_fetches IS 'One row per run that asked CTS for traces (`sync --with-traces`; a scope''s first run asks for none): the window asked for and how it went.';
COMMENT ON COLUMN trace_fetches.run_id IS 'The run (`sync_runs.id`).';
COMMENT ON COLUMN trace_fetches.window_from IS 'The traces asked for came after this time: when the scope''s previous complete run started.';
COMMENT ON COLUMN trace_fetches.window_to IS '... and up to this time: when the run asked.';
COMMENT ON COLUMN trace_fetches.covered_from IS 'From when CTS still kept traces: `window_from`, or 7 days before the request when the window reached further back (`expired`); NULL when none were fetched.';
COMMENT ON COLUMN trace_fetches.outcome IS '`fetched`, `expired` (fetched, but part of the window was older than CTS keeps), `forbidden` (the credentials lack the CTS permission) or `failed`.';
COMMENT ON COLUMN trace_fetches.traces IS 'Traces received.';
COMMENT ON COLUMN trace_fetches.pages IS 'Pages of traces requested.';
COMMENT ON COLUMN trace_fetches.error IS 'Why the fetch failed or was forbidden; NULL otherwise.';

COMMENT ON VIEW change_authors IS 'Who made each change: every change record with the CTS traces of its connection between `changed_after` (or, for an add, the start of its run''s trace window) and its detection, one row per matching trace, or one row with `unknown_reason` when none matches. Traces whose code starts with 4 or 5 (refused operations) never match.';
COMMENT ON COLUMN change_authors.record_id IS 'As `change_records.id`.';
COMMENT ON COLUMN change_authors.run_id IS 'As `change_records.run_id`.';
COMMENT ON COLUMN change_authors.project_id IS 'As `change_records.project_id`.';
COMMENT ON COLUMN change_authors.connection_id IS 'As `change_records.connection_id`.';
COMMENT ON COLUMN change_authors.change IS 'As `change_records.change`.';
COMMENT ON COLUMN change_authors.field IS 'As `change_records.field`.';
COMMENT ON COLUMN change_authors.window_from IS 'Traces after this time can have made the change; NULL when the run fetched no traces and the record has no `changed_after`.';
COMMENT ON COLUMN change_authors.window_to IS '... up to this time: the record''s `detected_at`.';
COMMENT ON COLUMN change_authors.trace_id IS 'The matching trace (`traces.trace_id`); NULL when none matches.';
COMMENT ON COLUMN change_authors.time IS 'When its operation happened.';
COMMENT ON COLUMN change_authors.user_name IS 'Who made it.';
COMMENT ON COLUMN change_authors.operation IS 'The trace''s `trace_name`, e.g. `updateVpnConnection`.';
COMMENT ON COLUMN change_authors.source_ip IS 'Where the call came from.';
COMMENT ON COLUMN change_authors.trace_type IS '`ConsoleAction`, `ApiCall` or `SystemAction`.';
COMMENT ON COLUMN change_authors.domain_name IS 'The user''s account.';
COMMENT ON COLUMN change_authors.unknown_reason IS 'Why no trace matches: `no traces fetched` (the run did not ask CTS), `no traces fetched: missing CTS permission`, `no traces fetched: fetching them failed`, `window expired` (the change may be older than CTS keeps traces, 7 days) or `no matching trace`; NULL when one matches.';

COMMENT ON COLUMN change_records.changed_after IS 'The last time the connection was seen as it was before the change (the previous observation of a modified or removed connection): the change, and its trace, came after. NULL for an added connection (its run''s trace window starts it) and for records from before schema 24.';
