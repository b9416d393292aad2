//! `sync --dry-run`: a sweep as a run would make it, held in memory and compared with the
//! inventory as a run's sweep compares it (the bytes served, then the content hash of those
//! that differ); nothing is written and no lock is taken.

use super::foresight::Foresight;
use super::report::RunError;
use super::run::RunOptions;
use super::sweep::{Fetching, PageSink, PreparedPage, sweep};
use super::sweep_state::SweepState;
use crate::api::client::VpnClient;
use crate::api::prefetch::Foresee;
use crate::scope::Scope;
use crate::shutdown::Shutdown;
use crate::store::{StageOutcome, Store, StoredHashes};
use anyhow::Context as _;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::task::JoinHandle;

/// What `sync --dry-run` found: the sweep, and what a run would change, by connection.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DryRunReport {
    pub status: &'static str,
    pub pages: i64,
    pub fetched: i64,
    pub duplicates: i64,
    /// Served connections the inventory does not hold.
    pub would_add: i64,
    /// Served connections whose content differs from the stored version (field-level drift
    /// may still find nothing to report, e.g. telemetry only).
    pub would_change: i64,
    pub unchanged: i64,
    /// Stored connections of the project the sweep lacked (unfiltered sweeps only; `None`
    /// for a filtered one), and why a run would infer none.
    pub would_remove: Option<i64>,
    pub removals_skipped: Option<String>,
    /// Bytes of JSON read from the API: what the sweep downloaded.
    pub bytes: u64,
}

/// Sweeps `scope` as a run would, with the same client and paging, and compares each page
/// with the inventory as it comes (`None`: no inventory yet, so everything is
/// new); writes nothing and takes no lock. Memory stays flat: a page at a time, and a
/// fingerprint of each id seen.
pub async fn dry_run(
    store: Option<&Store>,
    client: &VpnClient,
    scope: &Scope,
    options: &RunOptions,
    shutdown: &Shutdown,
) -> Result<DryRunReport, RunError> {
    let RunOptions {
        page_size,
        fetch_concurrency,
        ..
    } = *options;
    let sink = MemorySink {
        inventory: store.map(|store| (store.clone(), scope.project_id.clone())),
        tally: Mutex::default(),
    };
    let filters = &scope.filters;
    let progress = SweepState::new(page_size);
    let foresight = store.and_then(|store| Foresight::of(store, &scope.project_id, filters));
    let fetching = Fetching {
        page_size,
        concurrency: fetch_concurrency,
        foresee: foresight.as_ref().map(|f| f as &dyn Foresee),
    };
    let swept = sweep(client, filters, fetching, progress, &sink, shutdown).await?;
    let tally = sink.tally.into_inner().expect("tally lock");
    let mut report = DryRunReport {
        status: "dry-run",
        pages: swept.pages,
        fetched: swept.fetched,
        duplicates: swept.duplicates,
        would_add: tally.would_add,
        would_change: tally.would_change,
        unchanged: tally.unchanged,
        would_remove: None,
        removals_skipped: swept.doubts(filters).reason(),
        bytes: swept.bytes,
    };
    if filters.is_empty() {
        // What the project holds that the sweep did not serve: all it holds, less what it
        // served of it (each served id is counted once, as unchanged or changed).
        let held = match store {
            Some(store) => store
                .stored_count(&scope.project_id)
                .await
                .context("cannot read the inventory")?,
            None => 0,
        };
        report.would_remove = Some((held - tally.unchanged - tally.would_change).max(0));
    }
    Ok(report)
}

/// What a dry run's pages came to, page by page (a repeat counted once, at its first page).
#[derive(Default)]
struct Tally {
    would_add: i64,
    would_change: i64,
    unchanged: i64,
}

/// A dry run's pages: each compared with the inventory (the store and project) as it comes,
/// and counted; nothing kept.
struct MemorySink {
    inventory: Option<(Store, String)>,
    tally: Mutex<Tally>,
}

impl PageSink for MemorySink {
    async fn stored(&self, ids: &[&str]) -> anyhow::Result<HashMap<String, StoredHashes>> {
        let Some((store, project_id)) = &self.inventory else {
            return Ok(HashMap::new());
        };
        Ok(store.stored_hashes(project_id, ids).await?)
    }

    fn stage(&self, page: PreparedPage) -> JoinHandle<anyhow::Result<StageOutcome>> {
        // Counted as each page comes, in order (`stage` takes `&self`: hence the lock).
        let mut tally = self.tally.lock().expect("tally lock");
        let mut duplicates = 0;
        for (conn, &repeat) in page.connections.iter().zip(&page.repeats) {
            if repeat {
                duplicates += 1;
                continue;
            }
            // Staged without its body: the inventory holds this content.
            match (page.stored.contains_key(&conn.id), &conn.body) {
                (false, _) => tally.would_add += 1,
                (true, None) => tally.unchanged += 1,
                (true, Some(_)) => tally.would_change += 1,
            }
        }
        tokio::spawn(std::future::ready(Ok(StageOutcome { duplicates })))
    }
}
