//! One sync run: sweep every page of a scope into staging, then apply the sweep atomically.
//!
//! Paging decisions live in `api::paging`, HTTP in `api::client`, storage in `store`; this module
//! only sequences them: `sync_scope` takes the scope's lock, records a run, executes it and
//! releases the lock. The next page is fetched while the current one is being staged, so a
//! run costs little more than the download itself, and memory holds at most two pages (and
//! the ids seen). Ids a recovery marker asked for again (see `api::paging`) are dropped before
//! staging, so only repeats nobody asked for count as duplicates.

use crate::api::client::{ListPage, VpnClient};
use crate::api::filters::Filters;
use crate::api::model::VpnConnection;
use crate::api::paging::{PageMeta, Pager};
use crate::drift::RemovalGuard;
use crate::scope::Scope;
use crate::shutdown::{Interrupted, Shutdown};
use crate::store::{PageToStage, RunStatus, ScopeLock, StagedConnection, Store};
use crate::time::parse_api_time;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;
use tracing::Instrument as _;

/// Full pages in a row that may bring nothing new (a recovery overlap, a tie passed) before a
/// sweep is judged stuck: a server answering the same connections with ever-moving markers
/// would otherwise be followed for ever.
const MAX_IDLE_PAGES: u32 = 3;

/// The API's documented page size limit, and the largest some dedicated regions allow.
pub const DEFAULT_PAGE_SIZE: u32 = 200;
pub const MAX_PAGE_SIZE: u32 = 2000;

/// What `sync --format json` prints.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncReport {
    pub run_id: i64,
    pub status: RunStatus,
    pub fetched: i64,
    pub added: i64,
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
}

/// Why a sweep's evidence cannot be trusted to remove connections; empty when it can. A
/// doubtful run still stores what it saw: nothing is lost, and nothing is falsely removed.
#[derive(Debug, Default)]
pub struct Doubts(Vec<String>);

impl Doubts {
    pub fn add(&mut self, reason: impl Into<String>) {
        self.0.push(reason.into());
    }

    /// All reasons in one line, or `None` when there are none.
    pub fn reason(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }
}

/// The context of a recorded run's failure: which run it was (callers report it).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("sync run {run_id} failed; nothing was changed")]
pub struct RunFailed {
    pub run_id: i64,
}

/// Why a run did not complete. Callers branch on it: an interruption exits 130, an error 1.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Runs one sync of `scope` under its lock (waiting up to `lock_timeout` for it). A shutdown
/// request stops it at the next safe point and marks it failed.
pub async fn sync_scope(
    store: &Store,
    client: &VpnClient,
    scope: &Scope,
    options: RunOptions,
    shutdown: &Shutdown,
) -> Result<SyncReport, RunError> {
    let lock = tokio::select! {
        lock = store.lock_scope(scope, options.lock_timeout) => {
            lock.map_err(anyhow::Error::from)?
        }
        interrupted = shutdown.requested() => return Err(interrupted.into()),
    };
    let result = match Run::start(store, scope, options, &lock).await {
        Ok(run) => run.execute(client, shutdown).await,
        Err(error) => Err(error.into()),
    };
    lock.release().await;
    result
}

/// How a run sweeps, how long it waits for locks, and what it trusts its sweep to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    pub page_size: u32,
    /// The longest wait for the scope's lock, and for another run's apply to finish.
    pub lock_timeout: Duration,
    pub guard: RemovalGuard,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            page_size: DEFAULT_PAGE_SIZE,
            lock_timeout: Duration::from_secs(300),
            guard: RemovalGuard::default(),
        }
    }
}

/// A run that has been recorded as started; `execute` performs it.
pub struct Run<'a> {
    pub id: i64,
    scope_id: i64,
    scope: &'a Scope,
    store: &'a Store,
    page_size: u32,
    lock_timeout: Duration,
    guard: RemovalGuard,
}

impl<'a> Run<'a> {
    /// Records a new run of `scope`, whose lock the caller holds.
    pub async fn start(
        store: &'a Store,
        scope: &'a Scope,
        options: RunOptions,
        _lock: &ScopeLock,
    ) -> anyhow::Result<Self> {
        let RunOptions {
            page_size,
            lock_timeout,
            guard,
        } = options;
        let scope_id = store
            .ensure_scope(scope)
            .await
            .context("cannot record the scope")?;
        let abandoned = store.abandon_running(scope_id).await?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "earlier runs of this scope never finished; marked failed"
            );
        }
        let elsewhere = store.abandon_dead_runs(scope_id).await?;
        if elsewhere > 0 {
            tracing::warn!(
                abandoned = elsewhere,
                "runs of other scopes whose process is gone; marked failed"
            );
        }
        let id = store
            .start_run(scope_id, scope, page_size)
            .await
            .context("cannot record the run")?;
        Ok(Self {
            id,
            scope_id,
            scope,
            store,
            page_size,
            lock_timeout,
            guard,
        })
    }

    /// Sweeps and applies. On error or shutdown the run is marked failed and the inventory is
    /// unchanged.
    pub async fn execute(
        &self,
        client: &VpnClient,
        shutdown: &Shutdown,
    ) -> Result<SyncReport, RunError> {
        match self.sweep_and_apply(client, shutdown).await {
            Ok(report) => Ok(report),
            Err(RunError::Interrupted(interrupted)) => {
                self.fail(&format!("interrupted by {}", interrupted.0))
                    .await;
                Err(interrupted.into())
            }
            Err(RunError::Failed(error)) => {
                self.fail(&format!("{error:#}")).await;
                Err(error.context(RunFailed { run_id: self.id }).into())
            }
        }
    }

    /// Marks the run failed; used for errors and interruptions.
    pub async fn fail(&self, reason: &str) {
        if let Err(e) = self.store.fail_run(self.id, reason).await {
            tracing::error!(run_id = self.id, "cannot mark run failed: {e}");
        }
    }

    #[tracing::instrument(skip_all, fields(run_id = self.id))]
    async fn sweep_and_apply(
        &self,
        client: &VpnClient,
        shutdown: &Shutdown,
    ) -> Result<SyncReport, RunError> {
        let filters = &self.scope.filters;
        let mut pager = Pager::new(self.page_size);
        let (mut fetched, mut duplicates, mut pages) = (0i64, 0i64, 0i64);
        // The most connections any page's total_count claimed (the API counts the whole
        // project, so it means something only for an unfiltered sweep).
        let mut total_count: Option<i64> = None;
        // Ids staged so far, to tell the overlap a recovery marker asks for from duplicates.
        let mut seen: HashSet<String> = HashSet::new();
        // Full pages in a row that brought no id not seen before: no progress.
        let mut idle = 0;
        // Network waits give way to a signal; database transactions never do.
        let mut page = tokio::select! {
            page = fetch(client, filters, self.page_size, &pager) => page?,
            interrupted = shutdown.requested() => return Err(interrupted.into()),
        };
        loop {
            let page_no = pager.page();
            let marker = pager.marker().map(str::to_owned);
            let where_ = || describe_page(page_no, marker.as_deref());
            let mut staged = prepare(&page).with_context(where_)?;
            let created_at: Vec<Option<&str>> = page
                .connections
                .iter()
                .map(|c| c.get("created_at").and_then(Value::as_str))
                .collect();
            // What this page's request asked for again: known before the pager moves on.
            let asked_before = pager.asked_before();
            pager
                .advance(PageMeta {
                    current_count: page.current_count,
                    next_marker: page.next_marker.as_deref(),
                    created_at: &created_at,
                })
                .with_context(where_)?;
            let overlap = drop_overlap(&mut staged, &created_at, asked_before, &seen);
            let new = staged.iter().filter(|c| !seen.contains(&c.id)).count();
            idle = if new == 0 && !pager.is_done() {
                idle + 1
            } else {
                0
            };
            if idle > MAX_IDLE_PAGES {
                return Err(anyhow::anyhow!(
                    "{} pages up to {} brought no connection not received before while the \
                     marker kept moving; stopping instead of looping",
                    idle,
                    where_()
                )
                .into());
            }
            seen.extend(staged.iter().map(|c| c.id.clone()));
            let to_stage = PageToStage {
                page_no,
                marker: marker.as_deref(),
                next_marker: page.next_marker.as_deref(),
                request_id: page.request_id.as_deref(),
                connections: &staged,
            };
            tracing::info!(
                page = page_no,
                connections = staged.len(),
                overlap,
                marker = marker.as_deref().unwrap_or(""),
                "page received"
            );
            // Stage this page while the next one downloads.
            let (outcome, next) = if pager.is_done() {
                (self.store.stage_page(self.id, &to_stage).await, None)
            } else {
                let next_page = async {
                    tokio::select! {
                        page = fetch(client, filters, self.page_size, &pager) => Ok(page?),
                        interrupted = shutdown.requested() => Err(RunError::from(interrupted)),
                    }
                };
                let (outcome, next) =
                    tokio::join!(self.store.stage_page(self.id, &to_stage), next_page);
                (outcome, Some(next))
            };
            let outcome = outcome.with_context(|| format!("cannot stage {}", where_()))?;
            let claimed = page.total_count.and_then(|n| i64::try_from(n).ok());
            total_count = total_count.max(claimed);
            pages += 1;
            fetched += i64::try_from(staged.len()).unwrap_or(i64::MAX);
            duplicates += outcome.duplicates;
            if outcome.duplicates > 0 {
                tracing::warn!(
                    page = page_no,
                    duplicates = outcome.duplicates,
                    "ids repeated across pages were ignored"
                );
            }
            match next {
                Some(next) => page = next?,
                None => break,
            }
        }
        if let Some(signal) = shutdown.received() {
            return Err(Interrupted(signal).into());
        }
        let mut doubts = Doubts::default();
        let distinct = fetched - duplicates;
        let counted = total_count.filter(|_| filters.is_empty());
        if let Some(total) = counted.filter(|&t| t > distinct) {
            doubts.add(format!(
                "the API counts {total} connections in the project but the sweep found {distinct}"
            ));
        }
        // Instants no page could show in full are settled only by a complete count.
        if let Some(reason) = pager.unproven()
            && counted.is_none_or(|t| t > distinct)
        {
            doubts.add(reason);
        }
        // Waiting for another run's apply gives way to a signal; the apply itself does not.
        let tx = tokio::select! {
            tx = self.store.begin_apply(self.lock_timeout) => {
                tx.context("cannot start applying the completed sweep")?
            }
            interrupted = shutdown.requested() => return Err(interrupted.into()),
        };
        let applied = self
            .store
            .complete_run(
                tx,
                self.id,
                self.scope_id,
                self.scope,
                doubts.reason(),
                self.guard,
            )
            .await
            .context("cannot apply the completed sweep")?;
        let (counts, skip) = (applied.counts, applied.removals_skipped);
        if let Some(reason) = &skip {
            tracing::warn!(run_id = self.id, "no removals inferred: {reason}");
        }
        if applied.older_than_stored > 0 {
            tracing::info!(
                run_id = self.id,
                "kept {} connections as stored: another run observed them after this one did",
                applied.older_than_stored
            );
        }
        Ok(SyncReport {
            run_id: self.id,
            status: RunStatus::Complete,
            fetched,
            added: counts.added,
            removed: counts.removed,
            modified: counts.modified,
            modified_config: counts.modified_config,
            unchanged: counts.unchanged,
            pages,
            duplicates,
            removals_skipped: skip,
        })
    }
}

fn describe_page(page: i64, marker: Option<&str>) -> String {
    match marker {
        None => format!("page {page} (first page, no marker)"),
        Some(m) => format!("page {page} (marker {m})"),
    }
}

async fn fetch(
    client: &VpnClient,
    filters: &Filters,
    limit: u32,
    pager: &Pager,
) -> anyhow::Result<ListPage> {
    // A span at warn level: the client's retry warnings then name the page.
    let span = tracing::warn_span!("page", page = pager.page());
    client
        .list_page(filters, limit, pager.marker())
        .instrument(span)
        .await
        .with_context(|| {
            format!(
                "cannot fetch {}",
                describe_page(pager.page(), pager.marker())
            )
        })
}

/// Drops from `staged` (in page order, like `created_at`) the connections its request asked for
/// again: ids seen earlier in the sweep, created before `asked_before`. Returns how many.
fn drop_overlap(
    staged: &mut Vec<StagedConnection>,
    created_at: &[Option<&str>],
    asked_before: Option<DateTime<Utc>>,
    seen: &HashSet<String>,
) -> usize {
    let Some(asked_before) = asked_before else {
        return 0;
    };
    let before = staged.len();
    let mut times = created_at.iter();
    staged.retain(|c| {
        let at = times.next().copied().flatten().and_then(parse_api_time);
        !(seen.contains(&c.id) && at.is_some_and(|at| at < asked_before))
    });
    before - staged.len()
}

/// Checks each connection of a page and computes what staging stores.
fn prepare(page: &ListPage) -> anyhow::Result<Vec<StagedConnection>> {
    page.connections
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let Some(map) = value.as_object() else {
                anyhow::bail!("vpn_connections[{index}] is not an object");
            };
            let conn = VpnConnection::from_map(map.clone());
            let Some(id) = conn.id.clone().filter(|id| !id.is_empty()) else {
                anyhow::bail!("vpn_connections[{index}] has no string id; cannot store it");
            };
            Ok(StagedConnection {
                id,
                content_hash: conn.content_hash(),
                body: crate::json::to_string(value),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(ids: &[&str]) -> Vec<StagedConnection> {
        ids.iter()
            .map(|id| StagedConnection {
                id: (*id).to_owned(),
                content_hash: String::new(),
                body: String::new(),
            })
            .collect()
    }

    #[test]
    fn only_ids_seen_before_and_asked_for_again_are_overlap() {
        let seen: HashSet<String> = ["a", "b", "z"].map(str::to_owned).into();
        let created_at = [
            Some("2022-12-11T13:59:59.633Z"),
            Some("2022-12-11T13:59:59.633Z"),
            Some("2022-12-11T13:59:59.633Z"),
            Some("2022-12-11T13:59:59.634Z"),
            Some("2022-12-11T13:59:59.635Z"),
            None,
        ];
        let asked_before = parse_api_time("2022-12-11T13:59:59.634Z");
        let mut page = staged(&["a", "c", "b", "b", "z", "a"]);
        // "b" at the marker's instant and "z" after it were not asked for (an inclusive
        // service's), and the last "a" has no time: those are duplicates.
        assert_eq!(drop_overlap(&mut page, &created_at, asked_before, &seen), 2);
        let left: Vec<&str> = page.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(left, ["c", "b", "z", "a"]);
        let mut page = staged(&["a"]);
        assert_eq!(drop_overlap(&mut page, &created_at[..1], None, &seen), 0);
    }
}
