//! `sync --dry-run`: a sweep as a run would make it, held in memory and compared with the
//! inventory as a run's sweep compares it (the bytes served, then the content hash of those
//! that differ); nothing is written and no lock is taken.

use super::report::RunError;
use super::run::RunOptions;
use super::sweep::{Fetching, PageSink, PreparedPage, sweep};
use super::sweep_state::SweepState;
use crate::api::client::VpnClient;
use crate::api::model::{FieldValue as _, VpnConnection};
use crate::drift::{self, Previous, Verdict};
use crate::scope::Scope;
use crate::shutdown::Shutdown;
use crate::store::{StageOutcome, Store, StoredHashes};
use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;
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
    /// Served connections a sync would record as modified: their content differs from the
    /// stored version in a field that counts (not only in telemetry or order, which a sync
    /// stores without a change record and counts as unchanged).
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
        tally: Arc::default(),
    };
    let filters = &scope.filters;
    let progress = SweepState::new(page_size);
    let fetching = Fetching::new(store, scope, page_size, fetch_concurrency);
    let swept = sweep(client, filters, fetching, progress, &sink, shutdown).await?;
    let tally = std::mem::take(&mut *sink.tally.lock().expect("tally lock"));
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
    tally: Arc<Mutex<Tally>>,
}

/// Judges connections the inventory holds other content of, as the apply does: a change
/// only where a field that counts differs (`drift::judge`), not in telemetry or order alone.
/// Each is `(id, the served JSON text)`.
async fn judge_changed(
    store: &Store,
    project_id: &str,
    changed: Vec<(String, String)>,
    tally: &Mutex<Tally>,
) -> anyhow::Result<()> {
    let ids: Vec<&str> = changed.iter().map(|(id, _)| id.as_str()).collect();
    let held = store.held_bodies(project_id, &ids).await?;
    let mut verdicts = Vec::with_capacity(changed.len());
    for (id, served) in &changed {
        let served = match crate::json::parse(served) {
            Ok(Value::Object(map)) => VpnConnection::from_map(map).to_json(),
            _ => anyhow::bail!("connection {id}: not a JSON object"),
        };
        let previous = held.get(id).map(|body| crate::json::parse(body));
        let previous = previous
            .transpose()
            .with_context(|| format!("the stored version of connection {id}"))?;
        let previous = previous.as_ref().map_or(Previous::Absent, Previous::Other);
        verdicts.push(drift::judge(previous, &served));
    }
    let mut tally = tally.lock().expect("tally lock");
    for verdict in verdicts {
        match verdict {
            Verdict::Modified(_) => tally.would_change += 1,
            Verdict::Unchanged => tally.unchanged += 1,
            Verdict::Added => tally.would_add += 1,
        }
    }
    Ok(())
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
        let mut changed = Vec::new();
        for (conn, &repeat) in page.connections.iter().zip(&page.repeats) {
            if repeat {
                duplicates += 1;
                continue;
            }
            // Staged without its body: the inventory holds this content.
            match (page.stored.contains_key(&conn.id), &conn.body) {
                (false, _) => tally.would_add += 1,
                (true, None) => tally.unchanged += 1,
                (true, Some(body)) => changed.push((conn.id.clone(), body.clone())),
            }
        }
        drop(tally);
        let outcome = StageOutcome { duplicates };
        let Some((store, project_id)) = self.inventory.clone().filter(|_| !changed.is_empty())
        else {
            return tokio::spawn(std::future::ready(Ok(outcome)));
        };
        let tally = Arc::clone(&self.tally);
        tokio::spawn(async move {
            judge_changed(&store, &project_id, changed, &tally).await?;
            Ok(outcome)
        })
    }
}
