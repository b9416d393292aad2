//! What a run returns: its report, or why it did not complete.

use crate::shutdown::Stopped;
use crate::store::RunStatus;
use serde::Serialize;

/// What `sync --format json` prints.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncReport {
    pub run_id: i64,
    /// The sync the run was part of (`runs` groups by it, `drift --sync` reads it).
    pub sync_id: i64,
    pub status: RunStatus,
    pub fetched: i64,
    pub added: i64,
    /// The run was its scope's first: `added` is the scope's baseline, which is no drift
    /// (`drift` leaves it out, and `--detailed-exitcode` does not count it as a change).
    pub baseline: bool,
    pub removed: i64,
    pub modified: i64,
    /// Of `modified`, those with a configuration change (not only status or BGP state).
    pub modified_config: i64,
    pub unchanged: i64,
    pub pages: i64,
    /// Repeats of an id within the run, dropped (counted in `fetched`).
    pub duplicates: i64,
    /// Why the run stored what it saw but inferred no removals; `None` when it did.
    pub removals_skipped: Option<String>,
    /// The failed run whose staged pages this run took over and continued (`resume`); its
    /// pages and connections count in `pages`, `fetched` and `duplicates`.
    pub resumed_from: Option<i64>,
    /// Why a run asked to resume found nothing to continue and swept from the first page.
    #[serde(skip)]
    pub nothing_to_resume: Option<String>,
    /// Milliseconds the sweep took (fetching and staging every page), and the apply (with any
    /// wait for another run's apply to end).
    pub sweep_ms: u64,
    pub apply_ms: u64,
    /// Bytes of JSON this run read from the API (a resumed run: since it resumed).
    pub bytes: u64,
    /// How asking CTS who changed what went (`--with-traces`); absent when not asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces: Option<super::traces::TracesSummary>,
}

/// The context of a recorded run's failure: which run it was (callers report it).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("sync run {run_id} failed; nothing was changed")]
pub struct RunFailed {
    pub run_id: i64,
}

/// Why a run did not complete: interrupted (exits 130, or 143 for SIGTERM) or failed (exits 1).
pub type RunError = Stopped;
