//! One sync run: sweep every page of a scope into staging, then apply the sweep atomically.
//!
//! Paging decisions live in `api::paging`, HTTP (and sending the next page's request early) in
//! `api::client` and `api::prefetch`, storage in `store`; this module sequences them:
//!
//! - `run`: the lifecycle. `sync_scope` takes the scope's lock, records a run (or one resuming
//!   the staged sweep of the scope's latest failed run), executes it and releases the lock; a
//!   run that fails or is interrupted is marked failed and changes nothing.
//! - `dry_run`: the same sweep held in memory and compared with the inventory.
//! - `sweep`: the I/O loop. The next page is fetched while the current one is being staged,
//!   so a run costs little more than the download itself, and memory holds at most two pages
//!   (and the ids seen, `seen_ids`) besides the requests sent ahead.
//! - `foresight`: what the inventory foretells of the pages to come, so that several of them
//!   are asked for at once (`--fetch-concurrency`), the sweep still reading them in order.
//! - `sweep_state`: the sweep's judgement, free of I/O. It drives the pager, drops the ids a
//!   recovery marker asked for again before staging (so only repeats nobody asked for count as
//!   duplicates), stops a sweep that brings nothing new or more than the API's count allows,
//!   and says what doubts withhold removals.
//!
//! A run started with `resume` takes over the staged pages of its scope's latest run when that
//! failed, and continues its sweep (`SweepState::resumed`): the ids seen are the staged ids,
//! the pager resumes from the staged markers, and what a stopped pager knew but staging does not
//! show is rebuilt on the safe side. The sweep is then judged and applied as one.
//!
//! - `traces`: with `--with-traces`, the CTS traces since the scope's previous complete run,
//!   asked for after the sweep and stored by the apply: who changed what.
//!
//! The sweep's log lines keep the target `vpn_inventory::sync` (`api::prefetch::SWEEP_LOG_TARGET`)
//! whichever file logs them.

mod dry_run;
mod foresight;
mod report;
mod run;
mod seen_ids;
mod shared;
mod sweep;
mod sweep_state;
mod traces;

pub use dry_run::{DryRunReport, dry_run};
pub use foresight::{DEFAULT_FETCH_CONCURRENCY, MAX_FETCH_CONCURRENCY};
pub use report::{RunError, RunFailed, SyncReport};
pub use run::{
    Api, DEFAULT_MAX_RUN_TIME, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, OverTime, Run, RunOptions,
    sync_scope,
};
pub use shared::{Skipped, Synced, sync_scope_unless_taken};
pub use sweep_state::Doubts;
pub use traces::TracesSummary;
