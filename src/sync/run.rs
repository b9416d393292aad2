//! A run's lifecycle: take the scope's lock, record the run (a new one, or one resuming the
//! staged sweep of the scope's latest failed run), sweep into staging, work out what the sweep
//! may remove, apply it in one transaction, and mark the run failed when anything stops it.
//!
//! Every call the sync makes into the store is here, but for the two reads of a dry run
//! (`dry_run.rs`).

use super::foresight::DEFAULT_FETCH_CONCURRENCY;
use super::report::{RunError, RunFailed, SyncReport};
use super::sweep::{Fetching, PageSink, PreparedPage, sweep};
use super::sweep_state::{StagedPageFacts, SweepState, Swept};
use super::traces::{TracesSummary, fetch_traces};
use crate::api::client::VpnClient;
use crate::api::paging::StagedMarkers;
use crate::api::prefetch::SWEEP_LOG_TARGET;
use crate::api::traces::CtsClient;
use crate::confirm::{Confirmed, confirm_gone};
use crate::reconcile::{self, Removable, RemovalGuard, Removals};
use crate::scope::Scope;
use crate::shutdown::{Interrupted, Shutdown};
use crate::store::{
    Resumable, RunStatus, ScopeLock, StageOutcome, Store, StoredHashes, TraceFetch,
};
use anyhow::Context as _;
use std::collections::HashMap;
use std::time::Duration;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// How long a failed or interrupted run waits to record that it failed.
const FAIL_WAIT: Duration = Duration::from_secs(2);

/// Why a failed run is still shown `running`.
const NOT_MARKED: &str = "it is still shown running, as the database stayed locked: the next \
     sync of this scope marks it abandoned";

/// The API's documented page size limit, and the largest some dedicated regions allow.
pub const DEFAULT_PAGE_SIZE: u32 = 200;
pub const MAX_PAGE_SIZE: u32 = 2000;

/// Runs one sync of `scope` under its lock (waiting up to `lock_timeout` for it). A shutdown
/// request, or the end of `max_run_time`, stops it at the next safe point and marks it failed
/// (an apply that has begun commits first).
pub async fn sync_scope(
    store: &Store,
    api: Api<'_>,
    scope: &Scope,
    options: RunOptions,
    shutdown: &Shutdown,
) -> Result<SyncReport, RunError> {
    let bounded = shutdown.with_time_limit(options.max_run_time, TIME_LIMIT);
    sync_scope_until(store, api, scope, options, &bounded)
        .await
        .map_err(|e| past_time_limit(e, &bounded, options.max_run_time, None))
}

/// A run its time limit stopped fails (exit 1, not 130), naming the limit, and the run once
/// it is recorded.
pub(super) fn past_time_limit(
    error: RunError,
    shutdown: &Shutdown,
    limit: Duration,
    run_id: Option<i64>,
) -> RunError {
    match error {
        RunError::Interrupted(_) if shutdown.time_is_up().is_some() => {
            let error = anyhow::Error::new(OverTime { limit });
            RunError::Failed(match run_id {
                Some(run_id) => error.context(RunFailed { run_id }),
                None => error,
            })
        }
        other => other,
    }
}

/// What a run stopped by its time limit records as the reason ("interrupted by ...").
pub(super) const TIME_LIMIT: &str = "its time limit (--max-run-time)";

/// A run stopped at its time limit: a failure (exit 1), not an interruption.
#[derive(Debug, thiserror::Error)]
#[error(
    "the run took longer than --max-run-time {} (lock waits and retries included) and was \
     stopped",
    humantime::format_duration(*limit)
)]
pub struct OverTime {
    pub limit: Duration,
}

async fn sync_scope_until(
    store: &Store,
    api: Api<'_>,
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
    run_locked(store, api, scope, options, lock, shutdown).await
}

/// Runs one sync of `scope`, whose lock the caller took; releases it.
pub(super) async fn run_locked(
    store: &Store,
    api: Api<'_>,
    scope: &Scope,
    options: RunOptions,
    lock: ScopeLock,
    shutdown: &Shutdown,
) -> Result<SyncReport, RunError> {
    let mut lock = lock;
    let result = match start_locked(store, scope, options, &lock, shutdown).await {
        Ok((run, own_sync)) => {
            let result = run
                .execute(api, &mut lock, shutdown)
                .await
                .map_err(|e| past_time_limit(e, shutdown, options.max_run_time, Some(run.id)));
            Ok((result, own_sync))
        }
        Err(error) => Err(error),
    };
    lock.release().await;
    let (result, own_sync) = match result {
        Ok(started) => started,
        Err(error) => (Err(error), None),
    };
    if let Some(sync_id) = own_sync
        && let Err(e) = store.finish_sync(sync_id).await
    {
        tracing::warn!(sync_id, "cannot record that the sync ended: {e}");
    }
    result
}

/// Records the sync (unless the caller did) and the run, once nobody holds SQLite's write
/// lock: every wait gives way to a signal.
async fn start_locked<'a>(
    store: &'a Store,
    scope: &'a Scope,
    options: RunOptions,
    lock: &ScopeLock,
    shutdown: &Shutdown,
) -> Result<(Run<'a>, Option<i64>), RunError> {
    let started = async {
        store
            .wait_writable(options.lock_timeout)
            .await
            .context("cannot record the run")?;
        let own_sync = match options.sync_id {
            Some(_) => None,
            None => Some(store.start_sync().await?),
        };
        let options = RunOptions {
            sync_id: options.sync_id.or(own_sync),
            ..options
        };
        let run = Run::start(store, scope, options, lock).await;
        anyhow::Ok((run, own_sync))
    };
    let (run, own_sync) = tokio::select! {
        started = started => started.map_err(|e| explain_busy(e, options.lock_timeout))?,
        interrupted = shutdown.requested() => return Err(interrupted.into()),
    };
    // A run that could not be recorded still ends the sync recorded for it.
    match run {
        Ok(run) => Ok((run, own_sync)),
        Err(error) => {
            if let Some(sync_id) = own_sync {
                let _ = store.finish_sync(sync_id).await;
            }
            Err(explain_busy(error, options.lock_timeout).into())
        }
    }
}

/// Another process held SQLite's write lock for longer than `--lock-timeout`: what a
/// statement's "database is locked" means, said with the wait and the option that sets it.
#[derive(Debug, thiserror::Error)]
#[error(
    "another process held the SQLite database's write lock for longer than {} \
     (--lock-timeout)",
    humantime::format_duration(*waited)
)]
pub struct WriteLockBusy {
    pub waited: Duration,
}

fn explain_busy(error: anyhow::Error, waited: Duration) -> anyhow::Error {
    match crate::store::waited_for_write_lock(error.as_ref()) {
        true => error.context(WriteLockBusy { waited }),
        false => error,
    }
}

/// Where a run's requests go: the VPN service, and CTS when the run asks who changed what
/// (`--with-traces`).
#[derive(Debug, Clone, Copy)]
pub struct Api<'a> {
    pub vpn: &'a VpnClient,
    pub traces: Option<&'a CtsClient>,
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
    /// The sync the run is part of; `None`: a sync of its own, recorded by the run.
    pub sync_id: Option<i64>,
    /// The longest a run may take, from waiting for its lock to its apply.
    pub max_run_time: Duration,
    /// How many page requests may be on the way at once (`--fetch-concurrency`): those after
    /// the one the pager makes are sent ahead, as the inventory foretells the pages.
    pub fetch_concurrency: u16,
}

/// The default `max_run_time`: a run that takes longer is stuck, and would overlap the next
/// cron run.
pub const DEFAULT_MAX_RUN_TIME: Duration = Duration::from_secs(30 * 60);

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            page_size: DEFAULT_PAGE_SIZE,
            lock_timeout: Duration::from_secs(300),
            guard: RemovalGuard::default(),
            resume: false,
            sync_id: None,
            max_run_time: DEFAULT_MAX_RUN_TIME,
            fetch_concurrency: DEFAULT_FETCH_CONCURRENCY,
        }
    }
}

/// A run that has been recorded as started; `execute` performs it.
pub struct Run<'a> {
    pub id: i64,
    sync_id: i64,
    scope_id: i64,
    scope: &'a Scope,
    store: &'a Store,
    page_size: u32,
    fetch_concurrency: u16,
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
            sync_id,
            max_run_time: _,
            fetch_concurrency,
        } = options;
        let sync_id = sync_id.context("a run is started as part of a sync")?;
        let scope_id = store
            .ensure_scope(scope)
            .await
            .context("cannot record the scope")?;
        let abandoned = store.abandon_running(scope_id).await?;
        if abandoned > 0 {
            tracing::warn!(
                target: SWEEP_LOG_TARGET,
                abandoned,
                "earlier runs of this scope never finished; marked failed"
            );
        }
        let elsewhere = store.abandon_dead_runs(scope_id).await?;
        if elsewhere > 0 {
            tracing::warn!(
                target: SWEEP_LOG_TARGET,
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
                    .resume_run(from, scope_id, scope, page_size, sync_id)
                    .await
                    .with_context(|| format!("cannot record a run resuming run {from}"))?;
                tracing::info!(
                    target: SWEEP_LOG_TARGET,
                    run_id = id,
                    "continuing the sweep of failed run {from}"
                );
                (id, Some(from), None)
            }
            other => {
                let why = match other {
                    Some(Resumable::Nothing(why)) => Some(why),
                    _ => None,
                };
                if let Some(why) = &why {
                    tracing::info!(
                        target: SWEEP_LOG_TARGET,
                        "nothing to resume ({why}); sweeping from the first page"
                    );
                }
                let id = store
                    .start_run(scope_id, scope, page_size, sync_id)
                    .await
                    .context("cannot record the run")?;
                (id, None, why)
            }
        };
        Ok(Self {
            id,
            sync_id,
            scope_id,
            scope,
            store,
            page_size,
            fetch_concurrency,
            lock_timeout,
            guard,
            resumed_from,
            nothing_to_resume,
        })
    }

    /// Sweeps and applies. On error or shutdown the run is marked failed and the inventory is
    /// unchanged.
    /// `lock` is the scope's, which the caller holds: the apply proves it still does.
    pub async fn execute(
        &self,
        api: Api<'_>,
        lock: &mut ScopeLock,
        shutdown: &Shutdown,
    ) -> Result<SyncReport, RunError> {
        match self.sweep_and_apply(api, lock, shutdown).await {
            Ok(report) => Ok(report),
            Err(RunError::Interrupted(interrupted)) => {
                let reason = format!("interrupted by {}", interrupted.signal);
                let marked = self.fail(&reason).await;
                Err(Interrupted {
                    run: Some((self.id, marked)),
                    ..interrupted
                }
                .into())
            }
            Err(RunError::Failed(error)) => {
                let error = explain_busy(error, self.lock_timeout);
                let error = match self.fail(&crate::store::error_text(error.as_ref())).await {
                    true => error,
                    false => error.context(NOT_MARKED),
                };
                Err(error.context(RunFailed { run_id: self.id }).into())
            }
        }
    }

    /// Marks the run failed; used for errors and interruptions; whether it could. Waits
    /// briefly: when another process holds the database, the run stays `running` until the
    /// next sync takes the scope's lock and marks it abandoned, which is better than ignoring
    /// a signal.
    pub async fn fail(&self, reason: &str) -> bool {
        let marked = tokio::time::timeout(FAIL_WAIT, self.store.fail_run(self.id, reason));
        match marked.await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) if !crate::store::waited_for_write_lock(&e) => {
                tracing::error!(
                    target: SWEEP_LOG_TARGET,
                    run_id = self.id,
                    "cannot mark run failed: {e}"
                )
            }
            Ok(Err(_)) | Err(_) => tracing::warn!(
                target: SWEEP_LOG_TARGET,
                run_id = self.id,
                "the database stayed busy; the next sync of this scope marks the run abandoned"
            ),
        }
        false
    }

    #[tracing::instrument(target = "vpn_inventory::sync", skip_all, fields(run_id = self.id))]
    async fn sweep_and_apply(
        &self,
        api: Api<'_>,
        lock: &mut ScopeLock,
        shutdown: &Shutdown,
    ) -> Result<SyncReport, RunError> {
        let filters = &self.scope.filters;
        let progress = match self.resumed_from {
            None => SweepState::new(self.page_size),
            Some(from) => self.staged_progress(from).await?,
        };
        let sink = StagingSink {
            store: self.store.clone(),
            run_id: self.id,
            project_id: self.scope.project_id.clone(),
        };
        let fetching = Fetching::new(
            Some(self.store),
            self.scope,
            self.page_size,
            self.fetch_concurrency,
        );
        let started = std::time::Instant::now();
        let swept = sweep(api.vpn, filters, fetching, progress, &sink, shutdown).await?;
        let sweep_ms = millis(started.elapsed());
        let doubts = swept.doubts(filters);
        let Swept {
            pages,
            fetched,
            duplicates,
            bytes,
            ..
        } = swept;
        let removals = self.removals(api.vpn, doubts.reason(), shutdown).await?;
        let traces = match api.traces {
            Some(cts) => fetch_traces(self.store, cts, self.scope_id, shutdown).await?,
            None => None,
        };
        // Waiting for another run's apply gives way to a signal; the apply itself does not.
        let tx = tokio::select! {
            tx = self.store.begin_apply(self.lock_timeout) => {
                tx.context("cannot start applying the completed sweep")?
            }
            interrupted = shutdown.requested() => return Err(interrupted.into()),
        };
        // A run whose lock vanished (its PostgreSQL session ended) may have been taken over
        // by another: it cannot prove the scope is its own, so it applies nothing.
        let what = format!("scope {}", self.scope.key());
        lock.ensure_held(&what).await.map_err(anyhow::Error::from)?;
        let applied =
            reconcile::complete_run(self.store, tx, self.applying(removals, traces.as_ref()))
                .await
                .context("cannot apply the completed sweep")?;
        let apply_ms = millis(started.elapsed()).saturating_sub(sweep_ms);
        let (counts, skip) = (applied.counts, applied.removals_skipped);
        if let Some(reason) = &skip {
            tracing::warn!(
                target: SWEEP_LOG_TARGET,
                run_id = self.id,
                "no removals inferred: {reason}"
            );
        }
        if applied.older_than_stored > 0 {
            tracing::info!(
                target: SWEEP_LOG_TARGET,
                run_id = self.id,
                "kept {} connections as stored: another run observed them after this one did",
                applied.older_than_stored
            );
        }
        Ok(SyncReport {
            run_id: self.id,
            sync_id: self.sync_id,
            status: RunStatus::Complete,
            fetched,
            added: counts.added,
            baseline: applied.baseline,
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
            traces: traces.as_ref().map(TracesSummary::of),
        })
    }

    /// What the apply of this run's sweep is given.
    fn applying<'r>(
        &'r self,
        removals: Removals,
        traces: Option<&'r TraceFetch>,
    ) -> reconcile::Applying<'r> {
        reconcile::Applying {
            run_id: self.id,
            scope_id: self.scope_id,
            scope: self.scope,
            removals,
            traces,
        }
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
                    target: SWEEP_LOG_TARGET,
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
    async fn staged_progress(&self, from: i64) -> anyhow::Result<SweepState> {
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
        let facts: Vec<StagedPageFacts<'_>> = staged
            .iter()
            .map(|p| StagedPageFacts {
                markers: StagedMarkers {
                    marker: p.marker.as_deref(),
                    next_marker: p.next_marker.as_deref(),
                },
                items: p.item_count,
                brought_new: p.first_seen != 0,
            })
            .collect();
        let smallest = origin.smallest_page_size;
        let progress = SweepState::resumed(self.page_size, &facts, &created, smallest);
        tracing::info!(
            target: SWEEP_LOG_TARGET,
            run_id = self.id,
            "run {from} staged {} pages and {} connections; asking again from page {}",
            staged.len(),
            created.len(),
            staged.len()
        );
        Ok(progress)
    }
}

/// A run's staging in the database.
struct StagingSink {
    store: Store,
    run_id: i64,
    project_id: String,
}

impl PageSink for StagingSink {
    async fn stored(&self, ids: &[&str]) -> anyhow::Result<HashMap<String, StoredHashes>> {
        Ok(self.store.stored_hashes(&self.project_id, ids).await?)
    }

    fn stage(&self, page: PreparedPage) -> JoinHandle<anyhow::Result<StageOutcome>> {
        let (store, run_id) = (self.store.clone(), self.run_id);
        // In the run's span: whatever the staging logs (a slow statement, say) names the run.
        let staging = async move { Ok(store.stage_page(run_id, &page.to_stage()).await?) };
        tokio::spawn(staging.in_current_span())
    }
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}
