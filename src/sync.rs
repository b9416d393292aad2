//! One sync run: sweep every page of a scope into staging, then apply the sweep atomically.
//!
//! Paging decisions live in `api::paging`, HTTP in `api::client`, storage in `store`; this module
//! only sequences them: `sync_scope` takes the scope's lock, records a run, executes it and
//! releases the lock. The next page is fetched while the current one is being staged, so a
//! run costs little more than the download itself, and memory holds at most two pages (and
//! the ids seen). Ids a recovery marker asked for again (see `api::paging`) are dropped before
//! staging, so only repeats nobody asked for count as duplicates.
//!
//! A run started with `resume` takes over the staged pages of its scope's latest run when that
//! failed, and continues its sweep (`Progress::staged`): the ids seen are the staged ids, the
//! pager resumes from the staged markers, and what a stopped pager knew but staging does not
//! show is rebuilt on the safe side. The sweep is then judged and applied as one.

use crate::api::client::{FetchError, ListPage, RawPage, VpnClient};
use crate::api::filters::Filters;
use crate::api::model::VpnConnection;
use crate::api::paging::{PageMeta, Pager, StagedMarkers};
use crate::confirm::{Confirmed, confirm_gone};
use crate::reconcile::{self, Removable, RemovalGuard, Removals};
use crate::scope::Scope;
use crate::shutdown::{Interrupted, Shutdown};
use crate::store::{
    PageToStage, Resumable, RunStatus, ScopeLock, StageOutcome, StagedConnection, StagedPage, Store,
};
use crate::time::parse_api_time;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::hash::{BuildHasher as _, RandomState};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// Full pages in a row that may bring nothing new (a recovery overlap, a tie passed) before a
/// sweep is judged stuck: a server answering the same connections with ever-moving markers
/// would otherwise be followed for ever.
const MAX_IDLE_PAGES: u32 = 3;

/// How long a failed or interrupted run waits to record that it failed.
const FAIL_WAIT: Duration = Duration::from_secs(2);

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
    let progress = Progress::new(page_size);
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

/// How a run sweeps, how long it waits for locks, and what it trusts its sweep to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    pub page_size: u32,
    /// The longest wait for the scope's lock, and for another run's apply to finish.
    pub lock_timeout: Duration,
    pub guard: RemovalGuard,
    /// Continue the sweep of the scope's latest run if it failed after staging pages; start
    /// from the first page when there is none.
    pub resume: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            page_size: DEFAULT_PAGE_SIZE,
            lock_timeout: Duration::from_secs(300),
            guard: RemovalGuard::default(),
            resume: false,
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
    /// The failed run whose staged pages this one took over.
    resumed_from: Option<i64>,
    /// Why `resume` found nothing to continue.
    nothing_to_resume: Option<String>,
}

impl<'a> Run<'a> {
    /// Records a new run of `scope`, whose lock the caller holds: one that takes over the
    /// staged pages of the scope's latest run, when `resume` asks and that run failed after
    /// staging some.
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
            resume,
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
        // Runs found abandoned above are failed runs now: the latest may be continued.
        let resumable = match resume {
            true => Some(store.resumable(scope_id).await?),
            false => None,
        };
        let (id, resumed_from, nothing_to_resume) = match resumable {
            Some(Resumable::Run(from)) => {
                let id = store
                    .resume_run(from, scope_id, scope, page_size)
                    .await
                    .with_context(|| format!("cannot record a run resuming run {from}"))?;
                tracing::info!(run_id = id, "continuing the sweep of failed run {from}");
                (id, Some(from), None)
            }
            other => {
                let why = match other {
                    Some(Resumable::Nothing(why)) => Some(why),
                    _ => None,
                };
                if let Some(why) = &why {
                    tracing::info!("nothing to resume ({why}); sweeping from the first page");
                }
                let id = store
                    .start_run(scope_id, scope, page_size)
                    .await
                    .context("cannot record the run")?;
                (id, None, why)
            }
        };
        Ok(Self {
            id,
            scope_id,
            scope,
            store,
            page_size,
            lock_timeout,
            guard,
            resumed_from,
            nothing_to_resume,
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
                self.fail(&crate::text::causes(error.as_ref())).await;
                Err(error.context(RunFailed { run_id: self.id }).into())
            }
        }
    }

    /// Marks the run failed; used for errors and interruptions. Waits briefly: when another
    /// run's apply holds the database, the run stays `running` until the next sync takes the
    /// scope's lock and marks it abandoned, which is better than ignoring a signal.
    pub async fn fail(&self, reason: &str) {
        let marked = tokio::time::timeout(FAIL_WAIT, self.store.fail_run(self.id, reason));
        match marked.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(run_id = self.id, "cannot mark run failed: {e}"),
            Err(_) => tracing::warn!(
                run_id = self.id,
                "the database stayed busy; the next sync of this scope marks the run abandoned"
            ),
        }
    }

    #[tracing::instrument(skip_all, fields(run_id = self.id))]
    async fn sweep_and_apply(
        &self,
        client: &VpnClient,
        shutdown: &Shutdown,
    ) -> Result<SyncReport, RunError> {
        let filters = &self.scope.filters;
        let progress = match self.resumed_from {
            None => Progress::new(self.page_size),
            Some(from) => self.staged_progress(from).await?,
        };
        let sink = StagingSink {
            store: self.store.clone(),
            run_id: self.id,
            project_id: self.scope.project_id.clone(),
        };
        let started = std::time::Instant::now();
        let swept = sweep(client, filters, self.page_size, progress, &sink, shutdown).await?;
        let sweep_ms = millis(started.elapsed());
        let doubts = swept.doubts(filters);
        let Swept {
            pages,
            fetched,
            duplicates,
            bytes,
            ..
        } = swept;
        let removals = self.removals(client, doubts.reason(), shutdown).await?;
        // Waiting for another run's apply gives way to a signal; the apply itself does not.
        let tx = tokio::select! {
            tx = self.store.begin_apply(self.lock_timeout) => {
                tx.context("cannot start applying the completed sweep")?
            }
            interrupted = shutdown.requested() => return Err(interrupted.into()),
        };
        let applied =
            reconcile::complete_run(self.store, tx, self.id, self.scope_id, self.scope, removals)
                .await
                .context("cannot apply the completed sweep")?;
        let apply_ms = millis(started.elapsed()).saturating_sub(sweep_ms);
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
            resumed_from: self.resumed_from,
            nothing_to_resume: self.nothing_to_resume.clone(),
            sweep_ms,
            apply_ms,
            bytes,
        })
    }

    /// What the completed sweep may remove. A filtered sweep's (unless `doubt` already rules
    /// removals out) is confirmed with the API first, one connection at a time
    /// ([`crate::confirm`]).
    async fn removals(
        &self,
        client: &VpnClient,
        doubt: Option<String>,
        shutdown: &Shutdown,
    ) -> Result<Removals, RunError> {
        let mut removals = Removals::of_sweep(doubt, self.guard, &self.scope.filters);
        if !removals.needs_confirmation() {
            return Ok(removals);
        }
        let candidates =
            reconcile::removal_candidates(self.store, self.id, self.scope_id, self.scope)
                .await
                .context("cannot read which connections the filtered sweep lacked")?;
        if candidates.is_empty() {
            return Ok(removals);
        }
        let asked = candidates.len();
        match confirm_gone(client, candidates, self.page_size, shutdown).await? {
            Ok(Confirmed { gone, served }) => {
                tracing::info!(
                    run_id = self.id,
                    "asked the API for the {asked} connections the filtered sweep lacked by \
                     id: {} are gone; {served} it still serves stay as stored",
                    gone.len()
                );
                removals.removable = Removable::Confirmed(gone);
            }
            Err(reason) => removals.doubt = Some(reason),
        }
        Ok(removals)
    }

    /// Where the sweep of failed run `from` stood, from the pages this run took over from it.
    async fn staged_progress(&self, from: i64) -> anyhow::Result<Progress> {
        let store = self.store;
        let staged = store.staged_pages(self.id).await?;
        if let Some((i, page)) = staged
            .iter()
            .enumerate()
            .find(|(i, p)| usize::try_from(p.page_no).ok() != Some(i + 1))
        {
            anyhow::bail!(
                "run {from} staged page {} where page {} was due: its sweep cannot be continued",
                page.page_no,
                i + 1
            );
        }
        let created = store.staged_created_at(self.id).await?;
        let origin = store.sweep_origin(from).await?;
        let progress = Progress::staged(self.page_size, &staged, &created, origin);
        tracing::info!(
            run_id = self.id,
            "run {from} staged {} pages and {} connections; asking again from page {}",
            staged.len(),
            created.len(),
            staged.len()
        );
        Ok(progress)
    }
}

/// Where a sweep's pages go: the run's staging, or (a dry run) memory.
pub(crate) trait PageSink {
    /// Starts storing `page` on a task of its own, so that the sweep fetches and prepares
    /// the next page meanwhile; the handle gives the outcome.
    fn stage(&self, page: PreparedPage) -> JoinHandle<anyhow::Result<StageOutcome>>;
}

/// One page checked and ready to stage, owning its parts (its staging outlives the loop
/// iteration that prepared it).
pub(crate) struct PreparedPage {
    page_no: i64,
    marker: Option<String>,
    next_marker: Option<String>,
    request_id: Option<String>,
    fetched_at: DateTime<Utc>,
    connections: Vec<StagedConnection>,
}

impl PreparedPage {
    fn to_stage(&self) -> PageToStage<'_> {
        PageToStage {
            page_no: self.page_no,
            marker: self.marker.as_deref(),
            next_marker: self.next_marker.as_deref(),
            request_id: self.request_id.as_deref(),
            fetched_at: self.fetched_at,
            connections: &self.connections,
        }
    }
}

/// A run's staging in the database.
struct StagingSink {
    store: Store,
    run_id: i64,
    project_id: String,
}

impl PageSink for StagingSink {
    fn stage(&self, page: PreparedPage) -> JoinHandle<anyhow::Result<StageOutcome>> {
        let (store, run_id, project_id) =
            (self.store.clone(), self.run_id, self.project_id.clone());
        // In the run's span: whatever the staging logs (a slow statement, say) names the run.
        let staging = async move {
            Ok(store
                .stage_page(run_id, &project_id, &page.to_stage())
                .await?)
        };
        tokio::spawn(staging.in_current_span())
    }
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

/// A page being staged: which one, and the handle of its staging.
struct Staging {
    page_no: i64,
    described: String,
    handle: JoinHandle<anyhow::Result<StageOutcome>>,
}

impl Staging {
    /// Waits for the page to be stored: its outcome, or why it was not.
    async fn outcome(self) -> anyhow::Result<(i64, StageOutcome)> {
        let staged = match self.handle.await {
            Ok(staged) => staged,
            Err(e) => Err(anyhow::anyhow!("the staging task ended: {e}")),
        };
        let outcome = staged.with_context(|| format!("cannot stage {}", self.described))?;
        Ok((self.page_no, outcome))
    }
}

/// What a whole sweep brought, before it is judged.
struct Swept {
    pages: i64,
    fetched: i64,
    duplicates: i64,
    /// Bytes of JSON read (only of the pages this process fetched).
    bytes: u64,
    /// The most connections any page's `total_count` claimed.
    total_count: Option<i64>,
    /// Why instants may not have been listed in full (see `api::paging`).
    unproven: Vec<String>,
}

impl Swept {
    /// Why the sweep cannot be trusted to infer removals, if it cannot.
    fn doubts(&self, filters: &Filters) -> Doubts {
        let mut doubts = Doubts::default();
        let distinct = self.fetched - self.duplicates;
        // The API counts the whole project: it means something only for an unfiltered sweep.
        let counted = self.total_count.filter(|_| filters.is_empty());
        if let Some(total) = counted.filter(|&t| t > distinct) {
            doubts.add(format!(
                "the API counts {total} connections in the project but the sweep found {distinct}"
            ));
        }
        // Instants no page could show in full are settled only by a complete count.
        if counted.is_none_or(|t| t > distinct) {
            for reason in &self.unproven {
                doubts.add(reason.clone());
            }
        }
        doubts
    }
}

/// Fetches every page from where `progress` stands and hands each to `sink` while the next
/// one downloads. Bounded: pages that bring nothing new, or far more than the API's count,
/// end it with an error instead of a loop.
async fn sweep<S: PageSink>(
    client: &VpnClient,
    filters: &Filters,
    page_size: u32,
    progress: Progress,
    sink: &S,
    shutdown: &Shutdown,
) -> Result<Swept, RunError> {
    let Progress {
        mut pager,
        mut seen,
        mut idle,
        mut pages,
        mut fetched,
        mut duplicates,
        crowded,
    } = progress;
    // Pages staged before a resume do not keep the total count: the pages after it, which
    // ask again, claim it afresh.
    let mut total_count: Option<i64> = None;
    let mut bytes = 0u64;
    // A page is staged on a task of its own while the next one is fetched and prepared; one
    // at a time, in page order. Whatever ends the sweep, the page being staged is stored
    // first (or fails): database transactions never give way.
    let mut staging: Option<Staging> = None;
    let mut tally = |(page_no, outcome): (i64, StageOutcome)| {
        duplicates += outcome.duplicates;
        if outcome.duplicates > 0 {
            tracing::warn!(
                page = page_no,
                duplicates = outcome.duplicates,
                "ids repeated across pages were ignored"
            );
        }
    };
    let mut fetcher = Fetcher {
        client,
        filters,
        limit: page_size,
        shutdown,
        last_read: None,
    };
    let swept = async {
        let mut arrived = fetcher.next(&pager, None).await?;
        loop {
            let Arrived { page, early } = arrived;
            bytes = bytes.saturating_add(page.bytes);
            let page_no = pager.page();
            let marker = pager.marker().map(str::to_owned);
            let where_ = || describe_page(page_no, marker.as_deref());
            let created_at: Vec<Option<&str>> = page
                .connections
                .iter()
                .map(|c| c.get("created_at").and_then(Value::as_str))
                .collect();
            // What this page's request asked for again: known before the pager moves on.
            let asked_before = pager.asked_before();
            let reasked = pager.reasks();
            pager
                .advance(PageMeta {
                    current_count: page.current_count,
                    next_marker: page.next_marker.as_deref(),
                    created_at: &created_at,
                })
                .with_context(where_)?;
            // The next page is asked for first; this one is checked while it comes.
            let next_page = async {
                if pager.is_done() {
                    return None;
                }
                Some(fetcher.next(&pager, early).await)
            };
            let this_page = async {
                let mut staged = prepare(&page, &created_at).with_context(where_)?;
                let overlap = drop_overlap(&mut staged, &created_at, asked_before, &seen);
                let new = staged.iter().filter(|c| !seen.contains(&c.id)).count();
                idle = match (reasked, new == 0 && !pager.is_done()) {
                    // Asked again on purpose: neither progress nor the lack of it.
                    (true, _) => idle,
                    (false, true) => idle + 1,
                    (false, false) => 0,
                };
                if idle > MAX_IDLE_PAGES {
                    anyhow::bail!(
                        "{} pages up to {} brought no connection not received before while \
                         the marker kept moving; stopping instead of looping",
                        idle,
                        where_()
                    );
                }
                seen.extend(staged.iter().map(|c| c.id.as_str()));
                let claimed = page.total_count.and_then(|n| i64::try_from(n).ok());
                total_count = total_count.max(claimed);
                if let Some(most) = total_count.map(most_plausible)
                    && count(seen.len()) > most
                {
                    anyhow::bail!(
                        "{} brought the sweep to {} distinct connections, more than the {} the \
                         API's total_count allows (with a margin for connections created \
                         meanwhile); stopping instead of listing without end",
                        where_(),
                        seen.len(),
                        most
                    );
                }
                tracing::info!(
                    page = page_no,
                    connections = staged.len(),
                    overlap,
                    marker = marker.as_deref().unwrap_or(""),
                    total_count = page.total_count,
                    "page received"
                );
                let prepared = PreparedPage {
                    page_no,
                    marker: marker.clone(),
                    next_marker: page.next_marker.clone(),
                    request_id: page.request_id.clone(),
                    fetched_at: page.received_at,
                    connections: staged,
                };
                let items = count(prepared.connections.len());
                // The page before must be stored before this one is begun.
                if let Some(before) = staging.take() {
                    tally(before.outcome().await?);
                }
                staging = Some(Staging {
                    page_no,
                    described: where_(),
                    handle: sink.stage(prepared),
                });
                Ok(items)
            };
            let (next, items) = tokio::join!(next_page, this_page);
            pages += 1;
            fetched += items?;
            match next {
                Some(next) => arrived = next?,
                None => return Ok(()),
            }
        }
    }
    .await;
    let last = staging.take().map(Staging::outcome);
    match (swept, last) {
        (Err(e), Some(last)) => {
            // The sweep's own error is the one to report; the page's staging ends first.
            if let Err(staging) = last.await {
                tracing::warn!("{staging:#}");
            }
            return Err(e);
        }
        (Err(e), None) => return Err(e),
        (Ok(()), Some(last)) => tally(last.await?),
        (Ok(()), None) => {}
    }
    if let Some(signal) = shutdown.received() {
        return Err(Interrupted(signal).into());
    }
    let unproven = [crowded, pager.unproven()].into_iter().flatten().collect();
    Ok(Swept {
        pages,
        fetched,
        duplicates,
        bytes,
        total_count,
        unproven,
    })
}

/// The ids a sweep has received, kept as keyed 64-bit fingerprints: about 16 bytes an id
/// where the ids themselves took about 100, so that a sweep's memory stays flat from 10,000 to
/// 100,000 connections. The key is chosen at random in each process (`RandomState`), so no
/// server can pick ids that collide; by chance, two of 100,000 ids share a fingerprint once in
/// some billions of sweeps (and one then counts as received before).
#[derive(Default)]
struct SeenIds {
    key: RandomState,
    fingerprints: HashSet<u64>,
}

impl SeenIds {
    fn fingerprint(&self, id: &str) -> u64 {
        self.key.hash_one(id)
    }

    fn contains(&self, id: &str) -> bool {
        self.fingerprints.contains(&self.fingerprint(id))
    }

    fn len(&self) -> usize {
        self.fingerprints.len()
    }
}

impl<'a> Extend<&'a str> for SeenIds {
    fn extend<I: IntoIterator<Item = &'a str>>(&mut self, ids: I) {
        for id in ids {
            let fingerprint = self.fingerprint(id);
            self.fingerprints.insert(fingerprint);
        }
    }
}

impl<'a> FromIterator<&'a str> for SeenIds {
    fn from_iter<I: IntoIterator<Item = &'a str>>(ids: I) -> Self {
        let mut seen = Self::default();
        seen.extend(ids);
        seen
    }
}

/// Where a sweep stands before its next page: at the start, or where a stopped run left it.
struct Progress {
    pager: Pager,
    /// Ids staged so far, to tell the overlap a recovery marker asks for from duplicates.
    seen: SeenIds,
    /// Full pages in a row that brought no id not seen before: no progress.
    idle: u32,
    pages: i64,
    fetched: i64,
    duplicates: i64,
    /// Why pages staged before a resume cannot show every connection of some instants.
    crowded: Option<String>,
}

impl Progress {
    fn new(page_size: u32) -> Self {
        Self {
            pager: Pager::new(page_size),
            seen: SeenIds::default(),
            idle: 0,
            pages: 0,
            fetched: 0,
            duplicates: 0,
            crowded: None,
        }
    }

    /// The progress of a stopped sweep from what it staged: its pages in order, each staged
    /// connection's id and `created_at`, and the runs it went through.
    ///
    /// The pager resumes from the staged markers (`Pager::resume`). Whether a staged page held
    /// only one instant is not staged, but an instant with as many staged connections as the
    /// smallest page the sweep asked for is one such a page may have held (and one that did
    /// has that many): it is doubted, as the stopped pager would have.
    fn staged(
        page_size: u32,
        staged: &[StagedPage],
        created: &[(String, Option<String>)],
        origin: crate::store::SweepOrigin,
    ) -> Self {
        let markers: Vec<StagedMarkers<'_>> = staged
            .iter()
            .map(|p| StagedMarkers {
                marker: p.marker.as_deref(),
                next_marker: p.next_marker.as_deref(),
            })
            .collect();
        let idle = staged
            .iter()
            .rev()
            .take_while(|p| p.first_seen == 0)
            .count();
        let fetched: i64 = staged.iter().map(|p| p.item_count).sum();
        let distinct = i64::try_from(created.len()).unwrap_or(i64::MAX);
        Self {
            pager: Pager::resume(page_size, &markers),
            seen: created.iter().map(|(id, _)| id.as_str()).collect(),
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            pages: i64::try_from(staged.len()).unwrap_or(i64::MAX),
            fetched,
            duplicates: fetched - distinct,
            crowded: crowded_instants(
                created.iter().filter_map(|(_, at)| at.as_deref()),
                origin.smallest_page_size,
            ),
        }
    }
}

/// Why instants that `limit` or more of `created_at` share (as many as a page of the smallest
/// size a sweep used holds) may hold connections no page listed; `None` when none do.
fn crowded_instants<'a>(
    created_at: impl IntoIterator<Item = &'a str>,
    limit: i64,
) -> Option<String> {
    let mut counts: BTreeMap<DateTime<Utc>, (i64, &str)> = BTreeMap::new();
    for text in created_at {
        if let Some(at) = parse_api_time(text) {
            counts.entry(at).or_insert((0, text)).0 += 1;
        }
    }
    let crowded: Vec<&str> = counts
        .values()
        .rev()
        .filter(|(n, _)| *n >= limit)
        .map(|(_, text)| *text)
        .collect();
    let first = crowded.first()?;
    Some(format!(
        "before the sweep was resumed, {} instant(s) (first: {first}) had as many connections as \
         a page of {limit} holds, so more connections created then could not be listed",
        crowded.len()
    ))
}

/// The most distinct connections a sweep may plausibly bring when the API counts `total`: the
/// tenant's total (the count is never filtered), plus connections created during the sweep.
fn most_plausible(total: i64) -> i64 {
    total.saturating_add(total / 10).saturating_add(100)
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// A count of items.
fn count(items: usize) -> i64 {
    i64::try_from(items).unwrap_or(i64::MAX)
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
) -> anyhow::Result<RawPage> {
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

/// A request for a page, on its way (or its answer already in).
type Request<'a> = Pin<Box<dyn Future<Output = anyhow::Result<RawPage>> + Send + 'a>>;

/// A page read in full, and the request for the page after it if that went out early: with
/// the pager that asked it, as a quick reading of this page made it.
struct Arrived<'a> {
    page: ListPage,
    early: Option<(Pager, Request<'a>)>,
}

/// Fetches and reads the sweep's pages. The next request, as a quick reading of an answer
/// gives it ([`ahead_of`]), goes out while the page is read in full when that pays
/// ([`sends_early`]): the reading is in the marker chain otherwise, about 3 ms of a
/// 200-connection page. An early request is used only if the full reading asks the same.
struct Fetcher<'a> {
    client: &'a VpnClient,
    filters: &'a Filters,
    limit: u32,
    shutdown: &'a Shutdown,
    /// How long the last page took to read.
    last_read: Option<Duration>,
}

impl<'a> Fetcher<'a> {
    fn request(&self, pager: &Pager) -> Request<'a> {
        let (client, filters, limit) = (self.client, self.filters, self.limit);
        let pager = pager.clone();
        Box::pin(async move { fetch(client, filters, limit, &pager).await })
    }

    /// The page `pager` asks for: the answer to `early` if that asked the same.
    async fn next(
        &mut self,
        pager: &Pager,
        early: Option<(Pager, Request<'a>)>,
    ) -> Result<Arrived<'a>, RunError> {
        let request = match early {
            Some((asked, request))
                if asked.page() == pager.page() && asked.marker() == pager.marker() =>
            {
                request
            }
            // Dropped, and with it the request sent early: another one is due.
            _ => self.request(pager),
        };
        // Network waits give way to a signal.
        let raw = tokio::select! {
            raw = request => raw?,
            interrupted = self.shutdown.requested() => return Err(interrupted.into()),
        };
        let ahead = sends_early(raw.waited(), self.last_read)
            .then(|| ahead_of(pager, &raw))
            .flatten();
        let mut early = ahead.map(|ahead| {
            tracing::debug!(
                page = ahead.page(),
                "asking for the next page before reading"
            );
            let request = self.request(&ahead);
            (ahead, request)
        });
        let reading = Instant::now();
        let (page, answered) = read_page(raw, early.as_mut().map(|(_, request)| request)).await;
        self.last_read = Some(reading.elapsed());
        if let (Some((_, request)), Some(answer)) = (early.as_mut(), answered) {
            *request = Box::pin(std::future::ready(answer));
        }
        let page = page.map_err(anyhow::Error::from).with_context(|| {
            format!(
                "cannot fetch {}",
                describe_page(pager.page(), pager.marker())
            )
        })?;
        Ok(Arrived { page, early })
    }
}

/// Whether to send the next request before a page is read in full: when its answer took
/// four times as long as reading the last page did. Sent early, it overlaps the reading
/// with the service's time to answer; against a service that answers at once (a simulator
/// on the same two cores) the quick reading, the full one and the next answer would only
/// compete for the cores.
fn sends_early(waited: Duration, last_read: Option<Duration>) -> bool {
    last_read.is_some_and(|read| waited >= read * 4)
}

/// The pager as it will be after `raw`, by a quick reading of the page's markers (see
/// [`RawPage::markers`]), when it will ask for another page; `None` when the quick reading
/// cannot tell.
fn ahead_of(pager: &Pager, raw: &RawPage) -> Option<Pager> {
    let markers = raw.markers()?;
    let created_at = markers.created_at();
    let mut ahead = pager.clone();
    ahead
        .advance(PageMeta {
            current_count: markers.current_count(),
            next_marker: markers.next_marker(),
            created_at: &created_at,
        })
        .ok()?;
    (!ahead.is_done()).then_some(ahead)
}

/// Reads `raw` in full, on a blocking thread while the request sent `early` (if any) makes
/// progress; with that request's result when it ended first (a server quicker than the
/// reading).
async fn read_page<F: Future + Unpin>(
    raw: RawPage,
    early: Option<&mut F>,
) -> (Result<ListPage, FetchError>, Option<F::Output>) {
    let Some(early) = early else {
        return (raw.parse(), None);
    };
    let mut reading = tokio::task::spawn_blocking(move || raw.parse());
    let mut answer = None;
    loop {
        tokio::select! {
            biased;
            read = &mut reading => {
                let read = read.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                return (read, answer);
            }
            done = &mut *early, if answer.is_none() => answer = Some(done),
        }
    }
}

/// Drops from `staged` (in page order, like `created_at`) the connections its request asked for
/// again: ids seen earlier in the sweep, created before `asked_before`. Returns how many.
fn drop_overlap(
    staged: &mut Vec<StagedConnection>,
    created_at: &[Option<&str>],
    asked_before: Option<DateTime<Utc>>,
    seen: &SeenIds,
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

/// Checks each connection of a page and computes what staging stores; `created_at` is each
/// connection's, in page order.
fn prepare(page: &ListPage, created_at: &[Option<&str>]) -> anyhow::Result<Vec<StagedConnection>> {
    page.connections
        .iter()
        .zip(created_at)
        .enumerate()
        .map(|(index, (value, created_at))| {
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
                created_at: created_at.map(str::to_owned),
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
                created_at: None,
                body: String::new(),
            })
            .collect()
    }

    #[test]
    fn requests_go_early_only_when_the_service_takes_longer_than_reading() {
        let ms = Duration::from_millis;
        // The first page: nothing read yet to compare with.
        assert!(!sends_early(ms(50), None));
        // A region 50 ms away against a 3 ms reading; a simulator on the same cores.
        assert!(sends_early(ms(50), Some(ms(3))));
        assert!(!sends_early(ms(8), Some(ms(3))));
    }

    #[test]
    fn instants_as_crowded_as_the_smallest_page_are_doubted() {
        let times = [
            "2022-12-11T13:59:59.633Z",
            "2022-12-11T13:59:59.633Z",
            "2022-12-11T13:59:59.633Z",
            // The same instant spelt otherwise counts with it.
            "2022-12-11T13:59:59.633",
            "2022-12-09T07:24:27.674Z",
            "2022-12-09T07:24:27.674Z",
            "2022-12-09T07:24:27.674Z",
            "2022-12-01T00:00:00Z",
            "not a time",
        ];
        assert_eq!(crowded_instants(times, 5), None);
        let reason = crowded_instants(times, 3).expect("two crowded instants");
        assert!(
            reason.contains("2 instant(s) (first: 2022-12-11T13:59:59.633Z)")
                && reason.contains("a page of 3"),
            "{reason}"
        );
        let reason = crowded_instants(times, 4).expect("one crowded instant");
        assert!(reason.contains("1 instant(s)"), "{reason}");
    }

    #[test]
    fn only_ids_seen_before_and_asked_for_again_are_overlap() {
        let seen: SeenIds = ["a", "b", "z"].into_iter().collect();
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
