//! `sync --dry-run`: a sweep as a run would make it, held in memory and compared with the
//! inventory by content hash; nothing is written and no lock is taken.

use super::report::RunError;
use super::sweep::{PageSink, PreparedPage, sweep};
use super::sweep_state::SweepState;
use crate::api::client::VpnClient;
use crate::scope::Scope;
use crate::shutdown::Shutdown;
use crate::store::{StageOutcome, Store};
use anyhow::Context as _;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

/// Sweeps `scope` as a run would, with the same client and paging, and compares what it
/// fetched with the inventory by content hash (`None`: no inventory yet, so everything is
/// new); writes nothing and takes no lock.
pub async fn dry_run(
    store: Option<&Store>,
    client: &VpnClient,
    scope: &Scope,
    page_size: u32,
    shutdown: &Shutdown,
) -> Result<DryRunReport, RunError> {
    let sink = MemorySink::default();
    let filters = &scope.filters;
    let progress = SweepState::new(page_size);
    let swept = sweep(client, filters, page_size, progress, &sink, shutdown).await?;
    // Every staging task has ended with the sweep: the map is the sink's alone again.
    let hashes = std::mem::take(&mut *sink.hashes.lock().expect("hashes lock"));
    let mut report = DryRunReport {
        status: "dry-run",
        pages: swept.pages,
        fetched: swept.fetched,
        duplicates: swept.duplicates,
        would_add: 0,
        would_change: 0,
        unchanged: 0,
        would_remove: None,
        removals_skipped: swept.doubts(filters).reason(),
        bytes: swept.bytes,
    };
    let Some(store) = store else {
        report.would_add = i64::try_from(hashes.len()).unwrap_or(i64::MAX);
        report.would_remove = filters.is_empty().then_some(0);
        return Ok(report);
    };
    let ids: Vec<&str> = hashes.keys().map(String::as_str).collect();
    let stored = store
        .stored_hashes(&scope.project_id, &ids)
        .await
        .context("cannot read the inventory")?;
    for (id, hash) in &hashes {
        match stored.get(id) {
            None => report.would_add += 1,
            Some(stored) if stored == hash => report.unchanged += 1,
            Some(_) => report.would_change += 1,
        }
    }
    if filters.is_empty() {
        let held = store
            .stored_ids(&scope.project_id)
            .await
            .context("cannot read the inventory")?;
        let gone = held.iter().filter(|id| !hashes.contains_key(*id)).count();
        report.would_remove = Some(i64::try_from(gone).unwrap_or(i64::MAX));
    }
    Ok(report)
}

/// A dry run's pages: each distinct id and its content hash, nothing else.
#[derive(Default)]
struct MemorySink {
    hashes: Arc<Mutex<HashMap<String, String>>>,
}

impl PageSink for MemorySink {
    fn stage(&self, page: PreparedPage) -> JoinHandle<anyhow::Result<StageOutcome>> {
        let hashes = Arc::clone(&self.hashes);
        tokio::spawn(async move {
            let mut hashes = hashes.lock().expect("hashes lock");
            let mut duplicates = 0;
            for conn in page.connections {
                if hashes.insert(conn.id, conn.content_hash).is_some() {
                    duplicates += 1;
                }
            }
            Ok(StageOutcome { duplicates })
        })
    }
}
