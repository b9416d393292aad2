//! The transaction in which a run's sweep is judged and applied: what judging it reads (here)
//! and what applying it writes (`write.rs`). Nothing here decides what the rows mean; the
//! `reconcile` module above the store sequences these calls and makes every decision.
//!
//! Every read goes a bounded chunk at a time: keyset order over the staging or the inventory
//! (`connection_key`, `id_key`, which a btree index holds whatever the id's length), then
//! explicit keys (`select_in`) for what the chunk needs, never a join: PostgreSQL plans joins
//! on statistics that a big apply makes stale, and a mis-planned join turned a
//! 20,000-connection apply quadratic.

use super::Store;
use super::connections;
use super::dialect::{DeferredIndexes, LockError, ScopeLock, Sql, Tx, id_keys};
use super::error::{Result, StoreError};
use super::lookup::{existing, of_project, pairs, select_in};
use super::runs::sweep_chain;
use super::runs::{RunCounts, RunStatus, SweepOrigin, clear_staging, origin, prune_staging};
use super::tables::{
    BGP_PEERS, CHANGE_RECORDS, CONNECTIONS, IKE_POLICIES, IPSEC_POLICIES, PEER_SUBNETS,
    POLICY_RULE_DESTINATIONS, POLICY_RULES, TAGS,
};
use crate::scope::Filters;
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// The tables an apply fills: where they were empty, their indexes are built after
/// ([`ApplyTx::defer_indexes`]).
const FILLED: [&str; 11] = [
    CONNECTIONS.name,
    PEER_SUBNETS.name,
    POLICY_RULES.name,
    POLICY_RULE_DESTINATIONS.name,
    TAGS.name,
    IKE_POLICIES.name,
    IPSEC_POLICIES.name,
    BGP_PEERS.name,
    "connection_versions",
    CHANGE_RECORDS.name,
    "scope_connections",
];

/// A snapshot in which a run's sweep is judged against the inventory: read-only for
/// [`Store::begin_judging`], the apply's own inside an [`ApplyTx`].
pub struct SweepTx {
    pub(super) tx: Tx,
}

/// An apply's transaction, holding (on SQLite) the lock that serializes applies until it ends.
/// It reads as any [`SweepTx`] does, and writes (`write.rs`).
pub struct ApplyTx {
    pub(super) sweep: SweepTx,
    _serialized: Option<ScopeLock>,
}

impl Deref for ApplyTx {
    type Target = SweepTx;
    fn deref(&self) -> &SweepTx {
        &self.sweep
    }
}

impl DerefMut for ApplyTx {
    fn deref_mut(&mut self) -> &mut SweepTx {
        &mut self.sweep
    }
}

/// What an apply knows of its run and of the inventory when it begins.
#[derive(Debug, Clone)]
pub struct ApplyStart {
    /// This apply's number: applies of a database are numbered in the order they commit.
    pub seq: i64,
    /// Where the run's sweep began (a resumed run's: with the run it resumed).
    pub origin: SweepOrigin,
    /// When each staged page was fetched.
    pub page_times: HashMap<i64, DateTime<Utc>>,
    /// Another run of the project is sweeping now.
    pub others_running: bool,
    /// The project's inventory holds any connection.
    pub inventory_held: bool,
    /// The scope's previous result (`scope_connections`) holds any connection.
    pub scope_held: bool,
    /// No run of the scope has completed before: this run's adds are its baseline.
    pub baseline: bool,
}

/// One staged connection: its id, content hash, the hash of its bytes as served, and page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRow {
    pub id: String,
    pub hash: String,
    pub served_hash: Option<u128>,
    pub page_no: i64,
}

/// A connection's current version as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub hash: String,
    /// The hash of the bytes it was last served as, when known.
    pub served_hash: Option<u128>,
    pub observed_at: DateTime<Utc>,
}

/// A connection stored in the inventory, as removing it needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub id: String,
    pub name: Option<String>,
    pub observed_at: DateTime<Utc>,
}

/// Which stored connections of a project a scope's selection reads.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Every one.
    Project,
    /// Those whose stored fields match every one of these filters.
    Matching(&'a Filters),
    /// Those the scope returned last time (`scope_connections`).
    PreviousResult,
}

impl Store {
    /// A read-only snapshot to judge a run's sweep in, outside its apply.
    pub async fn begin_judging(&self) -> Result<SweepTx> {
        Ok(SweepTx {
            tx: self.db.begin().await?,
        })
    }

    /// A transaction that applies a run, serialized with every other apply of this database:
    /// they number themselves (`apply_seq`) and share the connection tables. Waits up to
    /// `timeout` for another apply, saying so when it has to wait.
    pub async fn begin_apply(&self, timeout: Duration) -> Result<ApplyTx> {
        let (tx, serialized) = self.db.begin_apply(timeout).await.map_err(|e| match e {
            LockError::Busy { .. } => StoreError::ApplyBusy { waited: timeout },
            LockError::Database(e) => StoreError::Database(e),
            other => StoreError::Lock(other),
        })?;
        Ok(ApplyTx {
            sweep: SweepTx { tx },
            _serialized: serialized,
        })
    }

    /// Keeps the database fit for the next run, after an apply and outside its transaction
    /// (see the dialect's `tidy_after_apply`).
    pub async fn tidy_after_apply(&self, counts: &RunCounts) -> sqlx::Result<()> {
        self.db.tidy_after_apply(rewrote_much(counts)).await
    }
}

impl SweepTx {
    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    /// When the sweep of `run_id` started and the smallest page size it used.
    pub async fn sweep_origin(&mut self, run_id: i64) -> Result<SweepOrigin> {
        origin(&self.tx.fetch_all(sweep_chain(run_id)).await?)
    }

    /// Whether a stored connection of the project has this `vgw_ip`.
    pub async fn holds_vgw_ip(&mut self, project_id: &str, vgw_ip: &str) -> Result<bool> {
        let mut sql = of_project(project_id, "SELECT COUNT(*) FROM connections");
        sql.push(" AND vgw_ip = ").bind(vgw_ip);
        Ok(self.tx.fetch_one(sql).await?.at::<i64>(0)? > 0)
    }

    /// The next `limit` stored connections of the project that `selection` reads, after the
    /// key `after`; and the key to continue after (`None` when there are no more).
    pub async fn selected_chunk(
        &mut self,
        project_id: &str,
        scope_id: i64,
        selection: Selection<'_>,
        after: &str,
        limit: i64,
    ) -> Result<(Vec<StoredRow>, Option<String>)> {
        let (rows, last) = match selection {
            Selection::PreviousResult => {
                let sql = Sql::new(
                    "SELECT connection_id, connection_key FROM scope_connections
                     WHERE scope_id = $1 AND connection_key > $2 ORDER BY connection_key LIMIT $3",
                )
                .arg(scope_id)
                .arg(after)
                .arg(limit);
                let rows = self.tx.fetch_all(sql).await?;
                let Some(last) = rows.last() else {
                    return Ok((Vec::new(), None));
                };
                let last: String = last.at(1)?;
                let members: Vec<String> = rows
                    .iter()
                    .map(|row| row.at(0))
                    .collect::<sqlx::Result<_>>()?;
                let stored = || {
                    let mut sql =
                        of_project(project_id, "SELECT id, name, observed_at FROM connections");
                    sql.push(" AND id_key");
                    sql
                };
                (
                    select_in(&mut self.tx, stored, &id_keys(&members)).await?,
                    last,
                )
            }
            Selection::Project | Selection::Matching(_) => {
                let mut sql = of_project(
                    project_id,
                    "SELECT id, name, observed_at, id_key FROM connections",
                );
                if let Selection::Matching(filters) = selection {
                    push_matching(&mut sql, filters);
                }
                sql.push(" AND id_key > ")
                    .bind(after)
                    .push(" ORDER BY id_key LIMIT ")
                    .bind(limit);
                let rows = self.tx.fetch_all(sql).await?;
                let Some(last) = rows.last() else {
                    return Ok((Vec::new(), None));
                };
                let last: String = last.at(3)?;
                (rows, last)
            }
        };
        let stored = rows
            .iter()
            .map(|row| {
                Ok(StoredRow {
                    id: row.at(0)?,
                    name: row.at(1)?,
                    observed_at: row.at(2)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((stored, Some(last)))
    }

    /// Which of `ids` the run `run_id` staged.
    pub async fn staged_among(&mut self, run_id: i64, ids: &[&str]) -> Result<HashSet<String>> {
        let staged = "SELECT connection_id FROM staged_connections WHERE run_id = ";
        existing(&mut self.tx, by_key(staged, run_id), ids).await
    }

    /// Which of `ids` the scope returned last time.
    pub async fn members_among(&mut self, scope_id: i64, ids: &[&str]) -> Result<HashSet<String>> {
        let members = "SELECT connection_id FROM scope_connections WHERE scope_id = ";
        existing(&mut self.tx, by_key(members, scope_id), ids).await
    }

    /// The next `limit` of the run's staged connections after the key `after` (keyset order
    /// by `connection_key`); and the key of its last one.
    pub async fn staged_chunk(
        &mut self,
        run_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<(Vec<StagedRow>, Option<String>)> {
        let sql = Sql::new(
            "SELECT connection_id, content_hash, page_no, connection_key, served_hash
             FROM staged_connections
             WHERE run_id = $1 AND connection_key > $2 ORDER BY connection_key LIMIT $3",
        )
        .arg(run_id)
        .arg(after)
        .arg(limit);
        let rows = self.tx.fetch_all(sql).await?;
        let staged = rows
            .iter()
            .map(|row| {
                Ok(StagedRow {
                    id: row.at(0)?,
                    hash: row.at(1)?,
                    served_hash: row.u128_at(4)?,
                    page_no: row.at(2)?,
                })
            })
            .collect::<Result<_>>()?;
        let last = rows.last().map(|row| row.at(3)).transpose()?;
        Ok((staged, last))
    }

    /// The current versions of these connections of the project (those it holds), by id.
    pub async fn held(&mut self, project_id: &str, ids: &[&str]) -> Result<HashMap<String, Held>> {
        let current = || {
            let mut sql = of_project(
                project_id,
                "SELECT id, content_hash, observed_at, served_hash FROM connections",
            );
            sql.push(" AND id_key");
            sql
        };
        select_in(&mut self.tx, current, &id_keys(ids))
            .await?
            .iter()
            .map(|row| {
                let held = Held {
                    hash: row.at(1)?,
                    served_hash: row.u128_at(3)?,
                    observed_at: row.at(2)?,
                };
                Ok((row.at(0)?, held))
            })
            .collect()
    }

    /// The bodies the run staged for these connections, by id: `None` for one staged without
    /// its body (the inventory held that content when it was staged).
    pub async fn staged_bodies(
        &mut self,
        run_id: i64,
        ids: &[&str],
    ) -> Result<HashMap<String, Option<String>>> {
        let bodies = "SELECT connection_id, body FROM staged_connections WHERE run_id = ";
        pairs(&select_in(&mut self.tx, by_key(bodies, run_id), &id_keys(ids)).await?)
    }

    /// These connections of the project as the inventory holds them now (`export`'s JSON
    /// text), by id; an id not held is left out.
    pub async fn current_bodies(
        &mut self,
        project_id: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, String>> {
        connections::current_bodies(&mut self.tx, project_id, ids).await
    }

    /// The archived body of the latest ended version of connection `id` with content `hash`.
    pub async fn archived_body(
        &mut self,
        project_id: &str,
        id: &str,
        hash: &str,
    ) -> Result<Option<String>> {
        let sql = Sql::new(
            "SELECT body FROM connection_versions
             WHERE project_id = $1 AND connection_id = $2 AND content_hash = $3
                 AND body IS NOT NULL
             ORDER BY from_seq DESC LIMIT 1",
        )
        .arg(project_id)
        .arg(id)
        .arg(hash);
        match self.tx.fetch_all(sql).await?.first() {
            Some(row) => Ok(Some(row.at(0)?)),
            None => Ok(None),
        }
    }
}

impl ApplyTx {
    /// Reads what the apply of run `run_id` (of scope `scope_id` of project `project_id`)
    /// starts from. Another process that took the scope's lock marks a run it finds `running`
    /// as abandoned: then this process lost its lock (a killed session, say) and must not
    /// apply ([`StoreError::NotRunning`]). Checked first to save the work, and again by
    /// [`ApplyTx::complete`], atomically.
    pub async fn start(
        &mut self,
        run_id: i64,
        scope_id: i64,
        project_id: &str,
    ) -> Result<ApplyStart> {
        let tx = &mut self.sweep.tx;
        let sql = Sql::new("SELECT status FROM sync_runs WHERE id = $1").arg(run_id);
        let status: String = tx.fetch_one(sql).await?.at(0)?;
        if status != RunStatus::Running.as_str() {
            return Err(StoreError::NotRunning { run_id, status });
        }
        let origin = origin(&tx.fetch_all(sweep_chain(run_id)).await?)?;
        let next_seq = Sql::new("SELECT COALESCE(MAX(apply_seq), 0) + 1 FROM sync_runs");
        let seq = tx.fetch_one(next_seq).await?.at(0)?;
        let sql = Sql::new("SELECT page_no, fetched_at FROM staged_pages WHERE run_id = $1");
        let page_times = pairs(&tx.fetch_all(sql.arg(run_id)).await?)?;
        let sql = Sql::new(
            "SELECT COUNT(*) FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
             WHERE s.project_id = $1 AND r.status = $2 AND r.id <> $3",
        )
        .arg(project_id)
        .arg(RunStatus::Running.as_str())
        .arg(run_id);
        let others_running = tx.fetch_one(sql).await?.at::<i64>(0)? > 0;
        let sql = Sql::new(
            "SELECT COUNT(*) FROM sync_runs WHERE scope_id = $1 AND apply_seq IS NOT NULL",
        )
        .arg(scope_id);
        let baseline = tx.fetch_one(sql).await?.at::<i64>(0)? == 0;
        Ok(ApplyStart {
            seq,
            origin,
            page_times,
            others_running,
            inventory_held: holds_any(tx, "connections", "project_id", project_id).await?,
            scope_held: holds_any(tx, "scope_connections", "scope_id", scope_id).await?,
            baseline,
        })
    }

    /// Drops the secondary indexes of those tables the apply fills that hold no row, to be
    /// built once the rows are in ([`ApplyTx::restore_indexes`]; see the dialect's `bulk.rs`).
    pub async fn defer_indexes(&mut self) -> Result<DeferredIndexes> {
        Ok(self.sweep.tx.defer_indexes(&FILLED).await?)
    }

    pub async fn restore_indexes(&mut self, deferred: DeferredIndexes) -> Result<()> {
        Ok(self.sweep.tx.restore_indexes(deferred).await?)
    }

    /// Clears the staging (the run's, and what the scope kept of failed runs), marks the run
    /// complete as apply `seq` with `counts` (and why it removed nothing, if so), and commits.
    pub async fn complete(
        self,
        run_id: i64,
        scope_id: i64,
        seq: i64,
        counts: &RunCounts,
        removals_skipped: Option<&str>,
    ) -> Result<()> {
        let ApplyTx {
            sweep: SweepTx { mut tx },
            _serialized,
        } = self;
        clear_staging(&mut tx, run_id).await?;
        prune_staging(&mut tx, scope_id).await?;
        let sql = Sql::new(
            "UPDATE sync_runs SET status = $8, finished_at = $2, apply_seq = $3,
                 added = $4, removed = $5, modified = $6, unchanged = $7, removals_skipped = $9
             WHERE id = $1 AND status = $10",
        )
        .arg(run_id)
        .arg(now_utc())
        .arg(seq)
        .arg(counts.added)
        .arg(counts.removed)
        .arg(counts.modified)
        .arg(counts.unchanged)
        .arg(RunStatus::Complete.as_str())
        .arg(removals_skipped)
        .arg(RunStatus::Running.as_str());
        if tx.execute(sql).await? == 0 {
            // Abandoned meanwhile by another process: returning drops (rolls back) the apply.
            let status = RunStatus::Failed.as_str().to_owned();
            return Err(StoreError::NotRunning { run_id, status });
        }
        Ok(tx.commit().await?)
    }
}

/// Appends ` AND <column> = <value>` for each filter.
fn push_matching(sql: &mut Sql, filters: &Filters) {
    let single = [
        ("vgw_id", &filters.vgw_id),
        ("vgw_ip", &filters.vgw_ip),
        ("id", &filters.vpn_id),
    ];
    for (column, value) in single {
        if let Some(value) = value {
            sql.push(" AND ").push(column).push(" = ").bind(value);
        }
    }
    if !filters.enterprise_project_ids.is_empty() {
        sql.push(" AND enterprise_project_id")
            .push_in_list(filters.enterprise_project_ids.iter());
    }
}

/// `<select><id> AND connection_key`, to be completed with an ` IN (...)` list of keys.
fn by_key(select: &'static str, id: i64) -> impl Fn() -> Sql {
    move || {
        let mut sql = Sql::new(select);
        sql.bind(id).push(" AND connection_key");
        sql
    }
}

/// Whether `table` has a row whose `column` is `value`.
async fn holds_any(
    tx: &mut Tx,
    table: &str,
    column: &str,
    value: impl Into<super::dialect::Cell>,
) -> Result<bool> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM ");
    sql.push(table).push(" WHERE ").push(column).push(" = ");
    sql.bind(value).push(" LIMIT 1) AS held");
    Ok(tx.fetch_one(sql).await?.at::<i64>(0)? > 0)
}

/// Whether an apply added, changed or removed a tenth of what it saw (and at least 50
/// connections), like the threshold of PostgreSQL's own autovacuum analyze.
fn rewrote_much(counts: &RunCounts) -> bool {
    let rewritten = counts.added + counts.modified + counts.removed;
    rewritten >= 50 && rewritten * 10 >= rewritten + counts.unchanged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apply_that_rewrote_a_tenth_of_what_it_saw_asks_for_fresh_statistics() {
        let counts = |added, modified, removed, unchanged| RunCounts {
            added,
            modified,
            removed,
            modified_config: 0,
            unchanged,
        };
        assert!(rewrote_much(&counts(20_000, 0, 0, 0)));
        assert!(rewrote_much(&counts(0, 60, 40, 900)));
        assert!(!rewrote_much(&counts(0, 60, 39, 900)));
        assert!(!rewrote_much(&counts(49, 0, 0, 0)));
        assert!(!rewrote_much(&counts(0, 0, 0, 20_000)));
    }
}
