//! Who changed what: the CTS traces a run fetched (`sync --with-traces`), stored in its apply,
//! and read back joined to change records through the view `change_authors`, whose SQL holds
//! the rule (the connection's traces between its last observation before the change and the
//! change's detection).

use super::Store;
use super::apply::ApplyTx;
use super::dialect::{Cell, MAX_PARAMS, Sql};
use super::error::Result;
use super::lookup::select_in;
use crate::api::traces::Trace;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// How asking CTS for a run's traces went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceOutcome {
    /// Every trace of the window.
    Fetched,
    /// Every trace CTS still keeps: the window reached back further than 7 days.
    Expired,
    /// The credentials may not list traces.
    Forbidden,
    /// The fetch failed (after its retries).
    Failed,
}

impl TraceOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceOutcome::Fetched => "fetched",
            TraceOutcome::Expired => "expired",
            TraceOutcome::Forbidden => "forbidden",
            TraceOutcome::Failed => "failed",
        }
    }
}

/// A run's fetch of traces: the window asked for, what came, and how it went.
#[derive(Debug, Clone)]
pub struct TraceFetch {
    /// Traces after this time were asked for ...
    pub window_from: DateTime<Utc>,
    /// ... up to this time.
    pub window_to: DateTime<Utc>,
    /// From when the traces are complete; `None` when none were fetched.
    pub covered_from: Option<DateTime<Utc>>,
    pub outcome: TraceOutcome,
    pub traces: Vec<Trace>,
    pub pages: u32,
    /// Why the fetch failed or was refused.
    pub error: Option<String>,
}

/// Who made a change: one trace that fits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    /// The user's name; `None` when the trace names none.
    pub user: Option<String>,
    /// When the operation happened.
    pub time: DateTime<Utc>,
    /// The operation, e.g. `updateVpnConnection`.
    pub operation: Option<String>,
    pub source_ip: Option<String>,
    pub trace_id: String,
}

/// Who made one change record: the traces that fit it, or why none does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorship {
    pub authors: Vec<Author>,
    /// Why no trace fits (`authors` is empty): `no traces fetched`, `window expired`, ...
    pub unknown: Option<String>,
}

/// Trace ids longer than this are no CTS trace's (they are UUIDs): such a trace is not kept,
/// as PostgreSQL's btree primary key would refuse it and fail the run.
const MAX_TRACE_ID_BYTES: usize = 512;

/// Columns of `traces`, in the order rows bind them.
const TRACE_COLUMNS: &str = "project_id, trace_id, time, trace_name, trace_type, trace_rating, \
     resource_type, resource_id, resource_name, user_name, user_id, domain_name, source_ip, \
     code, request_id, body, run_id";

impl ApplyTx {
    /// Stores the run's fetch of traces and every trace it brought that the project does not
    /// hold yet (a trace is stored once, whichever runs fetch it). Returns the traces left
    /// out for an id no CTS trace has.
    pub async fn store_traces(
        &mut self,
        run_id: i64,
        project_id: &str,
        fetch: &TraceFetch,
    ) -> Result<usize> {
        let (kept, odd): (Vec<&Trace>, Vec<&Trace>) = fetch
            .traces
            .iter()
            .partition(|t| t.trace_id.len() <= MAX_TRACE_ID_BYTES);
        let cells = TRACE_COLUMNS.split(',').count();
        for chunk in kept.chunks(MAX_PARAMS / cells) {
            let mut sql = Sql::new("INSERT INTO traces (");
            sql.push(TRACE_COLUMNS).push(") ");
            sql.push_values(chunk.iter().map(|t| trace_row(project_id, run_id, t)));
            sql.push(" ON CONFLICT (project_id, trace_id) DO NOTHING");
            self.sweep.tx.execute(sql).await?;
        }
        let sql = Sql::new(
            "INSERT INTO trace_fetches (run_id, window_from, window_to, covered_from, outcome,
                 traces, pages, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .arg(run_id)
        .arg(fetch.window_from)
        .arg(fetch.window_to)
        .arg(fetch.covered_from)
        .arg(fetch.outcome.as_str())
        .arg(i64::try_from(fetch.traces.len()).unwrap_or(i64::MAX))
        .arg(i64::from(fetch.pages))
        .arg(fetch.error.as_deref());
        self.sweep.tx.execute(sql).await?;
        Ok(odd.len())
    }
}

/// One trace as the cells of a row of `traces`.
fn trace_row(project_id: &str, run_id: i64, t: &Trace) -> Vec<Cell> {
    let user = t.user.as_ref();
    vec![
        Cell::from(project_id),
        Cell::from(&t.trace_id),
        Cell::from(t.time),
        Cell::from(&t.trace_name),
        Cell::from(&t.trace_type),
        Cell::from(&t.trace_rating),
        Cell::from(&t.resource_type),
        Cell::from(&t.resource_id),
        Cell::from(&t.resource_name),
        Cell::from(user.and_then(|u| u.name.clone())),
        Cell::from(user.and_then(|u| u.id.clone())),
        Cell::from(user.and_then(|u| u.domain_name.clone())),
        Cell::from(&t.source_ip),
        Cell::from(&t.code),
        Cell::from(&t.request_id),
        Cell::from(crate::json::to_string(&t.raw)),
        Cell::from(run_id),
    ]
}

impl Store {
    /// When the scope's latest complete run started: a run's traces are those since then.
    /// `None` before the scope's first complete run.
    pub async fn trace_window_start(&self, scope_id: i64) -> Result<Option<DateTime<Utc>>> {
        let sql = Sql::new(
            "SELECT started_at FROM sync_runs WHERE scope_id = $1 AND status = 'complete'
             ORDER BY apply_seq DESC LIMIT 1",
        )
        .arg(scope_id);
        match self.db.fetch_optional(sql).await? {
            Some(row) => Ok(Some(row.at(0)?)),
            None => Ok(None),
        }
    }

    /// Who made each of these change records (`change_authors`), by record id.
    pub async fn authorship(&self, record_ids: &[i64]) -> Result<HashMap<i64, Authorship>> {
        let mut tx = self.db.begin().await?;
        let select = || {
            Sql::new(
                "SELECT record_id, trace_id, time, user_name, operation, source_ip,
                     unknown_reason FROM change_authors WHERE record_id",
            )
        };
        let rows = select_in(&mut tx, select, record_ids).await?;
        drop(tx);
        let mut found: HashMap<i64, Authorship> = HashMap::new();
        for row in rows {
            let who = found.entry(row.at(0)?).or_default();
            match row.at::<Option<String>>(1)? {
                Some(trace_id) => who.authors.push(Author {
                    trace_id,
                    time: row.at(2)?,
                    user: row.at(3)?,
                    operation: row.at(4)?,
                    source_ip: row.at(5)?,
                }),
                None => who.unknown = row.at(6)?,
            }
        }
        for who in found.values_mut() {
            who.authors
                .sort_by(|a, b| (a.time, &a.trace_id).cmp(&(b.time, &b.trace_id)));
        }
        Ok(found)
    }
}
