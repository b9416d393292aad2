//! A run's traces (`sync --with-traces`): who changed the scope's connections since its
//! previous complete run, asked of the Cloud Trace Service after the sweep and stored in the
//! run's apply. The traces are a courtesy: a missing permission or a failed fetch is one
//! warning, recorded as the fetch's outcome, and the run goes on.

use crate::api::prefetch::SWEEP_LOG_TARGET;
use crate::api::traces::{CtsClient, TraceError};
use crate::shutdown::Shutdown;
use crate::store::{Store, TraceFetch, TraceOutcome};
use crate::time::now_utc;
use serde::Serialize;

/// How the run's fetch of traces went, as `sync --format json` reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TracesSummary {
    /// `fetched`, `expired`, `forbidden` or `failed` (`trace_fetches.outcome`).
    pub outcome: &'static str,
    pub traces: u64,
}

/// The traces of scope `scope_id` since its latest complete run; `None` for its first run
/// (whose adds are a baseline, which nobody made). Only a shutdown is an error.
pub(super) async fn fetch_traces(
    store: &Store,
    cts: &CtsClient,
    scope_id: i64,
    shutdown: &Shutdown,
) -> Result<Option<TraceFetch>, crate::shutdown::Stopped> {
    let from = match store.trace_window_start(scope_id).await {
        Ok(Some(from)) => from,
        Ok(None) => {
            tracing::debug!(
                target: SWEEP_LOG_TARGET,
                "the scope's first run: its adds are its baseline, no traces to ask for"
            );
            return Ok(None);
        }
        Err(e) => {
            let error = crate::store::error_text(&e);
            tracing::warn!(target: SWEEP_LOG_TARGET, "cannot ask CTS who changed what: {error}");
            return Ok(None);
        }
    };
    let to = now_utc();
    let listing = tokio::select! {
        listing = cts.list_traces(from..=to, None) => listing,
        interrupted = shutdown.requested() => return Err(interrupted.into()),
    };
    let mut fetch = TraceFetch {
        window_from: from,
        window_to: to,
        covered_from: None,
        outcome: TraceOutcome::Fetched,
        traces: Vec::new(),
        pages: 0,
        error: None,
    };
    match listing {
        Ok(listing) => {
            let kept = listing.covered_from;
            if listing.expired_from.is_some() {
                tracing::warn!(
                    target: SWEEP_LOG_TARGET,
                    "the scope's previous complete run started {}, longer ago than CTS keeps \
                     traces (7 days): changes made before {} cannot be attributed",
                    crate::time::shown(&from),
                    crate::time::shown(&kept)
                );
                fetch.outcome = TraceOutcome::Expired;
            }
            fetch.covered_from = Some(kept);
            fetch.traces = listing.traces;
            fetch.pages = listing.pages;
        }
        Err(error) => {
            let (outcome, text) = match &error {
                TraceError::MissingPermission(_) => (TraceOutcome::Forbidden, error.to_string()),
                _ => (TraceOutcome::Failed, crate::store::error_text(&error)),
            };
            tracing::warn!(
                target: SWEEP_LOG_TARGET,
                "cannot tell who changed what: {text}; the sync goes on without traces"
            );
            fetch.outcome = outcome;
            fetch.error = Some(text);
        }
    }
    Ok(Some(fetch))
}

impl TracesSummary {
    pub(super) fn of(fetch: &TraceFetch) -> Self {
        Self {
            outcome: fetch.outcome.as_str(),
            traces: u64::try_from(fetch.traces.len()).unwrap_or(u64::MAX),
        }
    }
}
