//! Targets whose work several hosts share: the same `sync --all` from cron on two hosts
//! against one PostgreSQL database, for redundancy. A target another process is syncing now
//! is skipped at once (never waited for), and so is one whose scope completed a run less than
//! `--min-interval` ago (never synced twice). Both are decided under the scope's lock, so two
//! hosts cannot both find a target free and due.

use super::report::{RunError, SyncReport};
use super::run::{Api, RunOptions, TIME_LIMIT, past_time_limit, run_locked};
use crate::scope::Scope;
use crate::shutdown::Shutdown;
use crate::store::{LockError, RunElsewhere, Store};
use crate::time::now_utc;
use serde::Serialize;
use std::time::Duration;

/// How one target of a shared sync ended: run, or left to another host.
#[derive(Debug)]
pub enum Synced {
    Ran(SyncReport),
    Skipped(Skipped),
}

/// Why a target was not synced, and which run of another process stands in for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub reason: String,
    /// The run that is syncing the scope now, or that completed it recently.
    pub run_id: Option<i64>,
}

/// Syncs `scope` unless another process is syncing it now, or its last complete run ended
/// less than `min_interval` ago (zero: never too recent).
pub async fn sync_scope_unless_taken(
    store: &Store,
    api: Api<'_>,
    scope: &Scope,
    options: RunOptions,
    min_interval: Duration,
    shutdown: &Shutdown,
) -> Result<Synced, RunError> {
    let lock = match store.lock_scope(scope, Duration::ZERO).await {
        Ok(lock) => lock,
        Err(LockError::Busy { .. }) => return Ok(Synced::Skipped(busy(store, scope).await?)),
        Err(other) => return Err(anyhow::Error::from(other).into()),
    };
    if !min_interval.is_zero() {
        let scope_id = store
            .ensure_scope(scope)
            .await
            .map_err(anyhow::Error::from)?;
        let last = store
            .last_complete_run_of_scope(scope_id)
            .await
            .map_err(anyhow::Error::from)?;
        if let Some(skipped) = last.and_then(|last| too_recent(&last, min_interval)) {
            lock.release().await;
            return Ok(Synced::Skipped(skipped));
        }
    }
    // The run's time limit starts now: the lock was not waited for.
    let bounded = shutdown.with_time_limit(options.max_run_time, TIME_LIMIT);
    run_locked(store, api, scope, options, lock, &bounded)
        .await
        .map_err(|e| past_time_limit(e, &bounded, options.max_run_time, None))
        .map(Synced::Ran)
}

/// The scope's lock is held elsewhere: name the run (and host) holding it, where recorded.
async fn busy(store: &Store, scope: &Scope) -> Result<Skipped, RunError> {
    let scope_id = store
        .ensure_scope(scope)
        .await
        .map_err(anyhow::Error::from)?;
    let running = store
        .running_run_of_scope(scope_id)
        .await
        .map_err(anyhow::Error::from)?;
    let reason = match &running {
        Some(RunElsewhere {
            run_id,
            host: Some(host),
            ..
        }) => format!("another process is syncing it now (run {run_id} on {host})"),
        Some(RunElsewhere { run_id, .. }) => {
            format!("another process is syncing it now (run {run_id})")
        }
        None => "another process is syncing it now".to_owned(),
    };
    Ok(Skipped {
        reason,
        run_id: running.map(|r| r.run_id),
    })
}

/// `last` completed less than `min_interval` ago: the reason to skip, else `None`.
fn too_recent(last: &RunElsewhere, min_interval: Duration) -> Option<Skipped> {
    let finished = last.finished_at?;
    let age = (now_utc() - finished).to_std().unwrap_or_default();
    if age >= min_interval {
        return None;
    }
    let host = match &last.host {
        Some(host) => format!(" on {host}"),
        None => String::new(),
    };
    Some(Skipped {
        reason: format!(
            "run {}{host} completed it {} ago, under --min-interval {}",
            last.run_id,
            whole_seconds(age),
            whole_seconds(min_interval),
        ),
        run_id: Some(last.run_id),
    })
}

/// `3m 12s`: a wait as people read it.
fn whole_seconds(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(duration.as_secs()))
}
