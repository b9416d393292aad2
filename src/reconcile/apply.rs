//! Applying a completed sweep: the sequence of store calls in the one transaction in which a
//! run changes the inventory.
//!
//! Everything is chunked by connection id so memory stays flat, and the store looks each
//! chunk up by explicit keys. A chunk is read and classified while the chunk before it is
//! written (two cores busy instead of one); chunks hold distinct ids, so writing one cannot
//! change how the next was classified.

use super::classify::{NEW_CHUNK, Prepared, classify, next_limit, prepare_apart};
use super::context::{RunContext, count};
use super::removals::{Decision, Removals, absent, decide, remove};
use crate::scope::Scope;
use crate::store::{
    ApplyTx, ConnectionWrite, NewVersion, RunCounts, Store, StoreError, TraceFetch,
};
use crate::time::now_utc;

/// What applying a sweep did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub counts: RunCounts,
    /// Why no removals were inferred; `None` when they were.
    pub removals_skipped: Option<String>,
    /// Served connections left alone because another run had observed them later.
    pub older_than_stored: i64,
    /// The run was its scope's first: its adds were recorded as the scope's baseline.
    pub baseline: bool,
}

/// The completed sweep a run applies, and what it decided before.
pub struct Applying<'a> {
    pub run_id: i64,
    pub scope_id: i64,
    pub scope: &'a Scope,
    /// Of the connections the sweep lacked, which it may remove: with a doubt, or when its
    /// guard finds them implausible, none (what the sweep saw is stored, connections it
    /// lacked stay).
    pub removals: Removals,
    /// The CTS traces the run fetched (`--with-traces`), stored with the apply.
    pub traces: Option<&'a TraceFetch>,
}

/// Applies the completed sweep of a run in `apply` (from [`Store::begin_apply`]) and marks
/// the run complete.
pub async fn complete_run(
    store: &Store,
    mut apply: ApplyTx,
    applying: Applying<'_>,
) -> Result<Applied, StoreError> {
    let Applying {
        run_id,
        scope_id,
        scope,
        removals,
        traces,
    } = applying;
    let start = apply.start(run_id, scope_id, &scope.project_id).await?;
    let ctx = RunContext::new(run_id, scope_id, scope, start, now_utc());
    // What the scope selects is judged on the inventory as it was before this run.
    let absent = absent(&mut apply, run_id, scope_id, scope).await?;

    let deferred = apply.defer_indexes().await?;
    let (mut counts, mut older_than_stored) = (RunCounts::default(), 0);
    let mut after = String::new();
    let mut ready: Option<Prepared> = None;
    let mut limit = NEW_CHUNK;
    loop {
        let (batch, last) = classify(&mut apply, &ctx, &after, limit).await?;
        if let Some(last) = last {
            after = last;
        }
        limit = next_limit(&batch);
        older_than_stored += count(batch.iter().filter(|k| k.is_older_than_stored()).count());
        let preparing = async {
            match batch.is_empty() {
                true => Ok(None),
                false => prepare_apart(batch, ctx.stamp).await.map(Some),
            }
        };
        let writing = async {
            match ready.take() {
                Some(prepared) => write_chunk(&mut apply, &ctx, prepared, &mut counts).await,
                None => Ok(()),
            }
        };
        let (prepared, written) = tokio::join!(preparing, writing);
        written?;
        match prepared? {
            Some(prepared) => ready = Some(prepared),
            None => break,
        }
    }
    apply.restore_indexes(deferred).await?;

    let Decision {
        remove: removing,
        unconfirmed,
        skipped,
    } = decide(removals, &absent, ctx.started_at);
    if unconfirmed > 0 {
        tracing::debug!(
            run_id,
            "kept {unconfirmed} lacked connections not confirmed gone"
        );
    }
    if skipped.is_none() {
        counts.removed = remove(&mut apply, &ctx, &removing).await?;
        // The scope's result is what it returned: the rest leaves its selection.
        if ctx.keeps_result() {
            let ids: Vec<&str> = absent.gone.iter().map(|g| g.id.as_str()).collect();
            apply.forget_members(scope_id, &ids).await?;
        }
    }
    if let Some(fetch) = traces {
        let odd = apply.store_traces(run_id, ctx.project_id(), fetch).await?;
        if odd > 0 {
            tracing::warn!(
                run_id,
                "left out {odd} traces whose trace_id is too long for CTS's"
            );
        }
    }
    apply
        .complete(run_id, scope_id, ctx.seq, &counts, skipped.as_deref())
        .await?;
    if let Err(e) = store.tidy_after_apply(&counts).await {
        tracing::warn!(run_id, "cannot vacuum or analyze after the apply: {e}");
    }
    Ok(Applied {
        counts,
        removals_skipped: skipped,
        older_than_stored,
        baseline: ctx.stamp.baseline,
    })
}

/// Writes one prepared chunk: the scope's result, the observation times of what is unchanged,
/// then what is new in one batch, its versions and its change records.
async fn write_chunk(
    tx: &mut ApplyTx,
    ctx: &RunContext<'_>,
    prepared: Prepared,
    counts: &mut RunCounts,
) -> Result<(), StoreError> {
    let project_id = ctx.project_id();
    if ctx.keeps_result() {
        tx.add_members(ctx.scope_id, &prepared.new_members())
            .await?;
    }
    tx.touch_observed(project_id, &prepared.seen_again(ctx.concurrent))
        .await?;
    tx.set_served_hashes(project_id, &prepared.served_anew())
        .await?;
    let changed = &prepared.changed;
    let writes: Vec<ConnectionWrite> = changed
        .iter()
        .map(|s| ConnectionWrite {
            conn: &s.conn,
            hash: &s.item.hash,
            served_hash: s.item.served_hash,
            observed_at: s.item.observed_at,
            stored_before: s.item.current.is_some(),
        })
        .collect();
    tx.write_connections(ctx.scope, ctx.run_id, &writes).await?;
    // Each changed connection's version is closed (archiving the body it replaces) and a new
    // one opened, which stores no body: the connection's rows are its content.
    let replaced: Vec<(&str, &str)> = changed
        .iter()
        .filter_map(|s| Some((s.item.id.as_str(), s.replaced.as_deref()?)))
        .collect();
    tx.close_versions(project_id, ctx.versions(), &replaced)
        .await?;
    let versions: Vec<NewVersion> = changed
        .iter()
        .map(|s| NewVersion {
            id: &s.item.id,
            hash: &s.item.hash,
            observed_at: s.item.observed_at,
        })
        .collect();
    tx.open_versions(project_id, ctx.versions(), &versions)
        .await?;
    tx.insert_records(project_id, &prepared.records).await?;
    counts.add(&prepared.counts);
    Ok(())
}
