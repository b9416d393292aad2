//! Sync runs: their scope, their lifecycle (start, resume, fail, abandon), their outcome, and
//! the locks that keep one run per scope at a time.
//!
//! A failed run changes nothing but its own row and staging. What is staged stays while it may
//! be needed: a scope keeps the staging of its running runs and of its latest run when that
//! failed, which `sync --resume` continues (`resume_run`: a new run takes the failed run's
//! staged pages over). Everything else a scope staged is deleted when one of its runs fails,
//! is found abandoned or completes (`prune_staging`), so staging never holds more than about
//! one sweep per scope beyond the runs in progress.

use super::Store;
use super::dialect::{LockError, Row, ScopeLock, Sql, Tx};
use super::error::{Result, inconsistent};
use super::staging::STAGING;
use crate::scope::{Filters, Scope};
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// What a complete run found, in connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub added: i64,
    pub removed: i64,
    pub modified: i64,
    /// Of `modified`, those with a configuration change (not only status or BGP state).
    pub modified_config: i64,
    pub unchanged: i64,
}

impl RunCounts {
    /// Adds the counts of a part of the run.
    pub fn add(&mut self, part: &RunCounts) {
        self.added += part.added;
        self.removed += part.removed;
        self.modified += part.modified;
        self.modified_config += part.modified_config;
        self.unchanged += part.unchanged;
    }
}

/// Where a run stands; stored in `sync_runs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Complete,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Failed => "failed",
        }
    }

    pub(super) fn parse(text: &str) -> Result<Self> {
        match text {
            "running" => Ok(RunStatus::Running),
            "complete" => Ok(RunStatus::Complete),
            "failed" => Ok(RunStatus::Failed),
            other => Err(inconsistent(format!("unknown run status {other:?}"))),
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What `sync --resume` finds to continue in a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumable {
    /// The scope's latest run, which failed after staging pages.
    Run(i64),
    /// Nothing to continue, and why.
    Nothing(String),
}

/// The runs one sweep went through (a run and those it resumed), as far as judging it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepOrigin {
    /// When the first of them started: the sweep's start.
    pub started_at: DateTime<Utc>,
    /// The smallest page size any of them asked with.
    pub smallest_page_size: i64,
}

impl Store {
    /// The id of `scope` (its project and filters), creating it on first use.
    pub async fn ensure_scope(&self, scope: &Scope) -> Result<i64> {
        let filters = &scope.filters;
        let ids = &filters.enterprise_project_ids;
        let ids = (!ids.is_empty()).then(|| serde_json::json!(ids));
        let bind = |sql: Sql| {
            sql.arg(&scope.project_id)
                .arg(&filters.vgw_id)
                .arg(&filters.vgw_ip)
                .arg(&filters.vpn_id)
                .arg(&filters.eip_id)
                .arg(ids.clone())
        };
        // Unique by the `scopes_identity` index: a concurrent first run of the scope inserts
        // nothing here and finds the other's row below.
        let insert = Sql::new(
            "INSERT INTO scopes (project_id, vgw_id, vgw_ip, vpn_id, eip_id,
                 enterprise_project_ids, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING",
        );
        self.db.execute(bind(insert).arg(now_utc())).await?;
        let find = Sql::new(
            "SELECT id FROM scopes WHERE project_id = $1 AND vgw_id IS NOT DISTINCT FROM $2
                 AND vgw_ip IS NOT DISTINCT FROM $3 AND vpn_id IS NOT DISTINCT FROM $4
                 AND eip_id IS NOT DISTINCT FROM $5
                 AND enterprise_project_ids IS NOT DISTINCT FROM $6",
        );
        Ok(self.db.fetch_one(bind(find)).await?.at(0)?)
    }

    /// Records a new run of the scope as part of sync `sync_id`, and how it reaches the API.
    pub async fn start_run(
        &self,
        scope_id: i64,
        scope: &Scope,
        page_size: u32,
        sync_id: i64,
    ) -> Result<i64> {
        let sql = Sql::new(
            "INSERT INTO sync_runs (scope_id, status, started_at, page_size, endpoint, region,
                 sync_id, target)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .arg(scope_id)
        .arg(RunStatus::Running.as_str())
        .arg(now_utc())
        .arg(i64::from(page_size))
        .arg(&scope.endpoint)
        .arg(&scope.region)
        .arg(sync_id)
        .arg(&scope.target);
        Ok(self.db.fetch_one(sql).await?.at(0)?)
    }

    /// Waits up to `timeout` for the scope's lock.
    pub async fn lock_scope(
        &self,
        scope: &Scope,
        timeout: Duration,
    ) -> Result<ScopeLock, LockError> {
        let holder = format!("another sync of this scope (project {})", scope.project_id);
        self.db
            .lock(&scope.key(), timeout, holder, " (--lock-timeout)")
            .await
    }

    /// Serializes the applies of one SQLite database across processes (`begin_apply` takes
    /// it); public so maintenance (and tests) can hold applies off without starting one.
    pub async fn lock_applies(&self, timeout: Duration) -> Result<ScopeLock, LockError> {
        self.db.lock_applies(timeout).await
    }

    /// Marks abandoned the runs of other scopes (not `except_scope_id`) still shown `running`
    /// whose process is gone: their scope's lock is free. A crashed cron job's run then does
    /// not show `running` for ever when its scope is never synced again. Returns how many.
    pub async fn abandon_dead_runs(&self, except_scope_id: i64) -> anyhow::Result<u64> {
        let sql = Sql::new(
            "SELECT DISTINCT s.id, s.project_id, s.vgw_id, s.vgw_ip, s.vpn_id, s.eip_id,
                 s.enterprise_project_ids
             FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
             WHERE r.status = $1 AND s.id <> $2",
        )
        .arg(RunStatus::Running.as_str())
        .arg(except_scope_id);
        let mut abandoned = 0;
        for row in self.db.fetch_all(sql).await? {
            let (scope_id, key): (i64, String) = (row.at(0)?, stored_scope(&row)?.key());
            let holder = String::new();
            match self.db.lock(&key, Duration::ZERO, holder, "").await {
                Ok(lock) => {
                    let marked = self.abandon_running(scope_id).await;
                    lock.release().await;
                    abandoned += marked?;
                }
                Err(LockError::Busy { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(abandoned)
    }

    /// Marks the scope's runs still `running` as failed: called under the scope lock, when no
    /// live process can be running them. The latest keeps its staging for `sync --resume`;
    /// staging the scope no longer needs is deleted (`prune_staging`). Returns how many runs
    /// were abandoned.
    pub async fn abandon_running(&self, scope_id: i64) -> Result<u64> {
        let mut tx = self.db.begin_write().await?;
        let sql = Sql::new(
            "UPDATE sync_runs SET status = $3, finished_at = $2,
                 error = 'abandoned: the process running it stopped before finishing'
             WHERE scope_id = $1 AND status = $4",
        )
        .arg(scope_id)
        .arg(now_utc())
        .arg(RunStatus::Failed.as_str())
        .arg(RunStatus::Running.as_str());
        let abandoned = tx.execute(sql).await?;
        prune_staging(&mut tx, scope_id).await?;
        tx.commit().await?;
        Ok(abandoned)
    }

    /// Marks a run failed; the inventory is untouched. Its staging stays for `sync --resume`
    /// while it is its scope's latest run; staging the scope no longer needs is deleted. A run
    /// another process already marked (abandoned, then perhaps resumed) keeps that record.
    pub async fn fail_run(&self, run_id: i64, error: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let sql = Sql::new(
            "UPDATE sync_runs SET status = $4, finished_at = $2, error = $3
             WHERE id = $1 AND status = $5",
        )
        .arg(run_id)
        .arg(now_utc())
        .arg(error)
        .arg(RunStatus::Failed.as_str())
        .arg(RunStatus::Running.as_str());
        tx.execute(sql).await?;
        let scope = Sql::new("SELECT scope_id FROM sync_runs WHERE id = $1").arg(run_id);
        let scope_id: i64 = tx.fetch_one(scope).await?.at(0)?;
        prune_staging(&mut tx, scope_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the scope's latest run failed after staging pages, which a new run can continue.
    pub async fn resumable(&self, scope_id: i64) -> Result<Resumable> {
        let sql = Sql::new(
            "SELECT r.id, r.status, (SELECT COUNT(*) FROM staged_pages p WHERE p.run_id = r.id)
             FROM sync_runs r WHERE r.scope_id = $1 ORDER BY r.id DESC LIMIT 1",
        )
        .arg(scope_id);
        let Some(row) = self.db.fetch_optional(sql).await? else {
            return Ok(Resumable::Nothing(
                "this scope has no earlier run".to_owned(),
            ));
        };
        let (id, pages): (i64, i64) = (row.at(0)?, row.at(2)?);
        let latest = format!("run {id}, this scope's latest,");
        Ok(match RunStatus::parse(&row.at::<String>(1)?)? {
            RunStatus::Failed if pages > 0 => Resumable::Run(id),
            RunStatus::Failed => {
                Resumable::Nothing(format!("{latest} failed before staging a page"))
            }
            RunStatus::Complete => Resumable::Nothing(format!("{latest} completed")),
            RunStatus::Running => Resumable::Nothing(format!("{latest} is still running")),
        })
    }

    /// Records a run of the scope that continues the sweep of its failed run `from`: in one
    /// transaction it takes `from`'s staged pages over and counts them as its own. `from` stays
    /// failed; the new run names it (`resumed_from`). Called under the scope's lock.
    pub async fn resume_run(
        &self,
        from: i64,
        scope_id: i64,
        scope: &Scope,
        page_size: u32,
        sync_id: i64,
    ) -> Result<i64> {
        let mut tx = self.db.begin_write().await?;
        // Locks the failed run's row (SQLite's write lock holds it all anyway): a process that
        // lost this run's lock and still stages pages updates that row in the same transaction
        // as the page, so each of its pages is taken over whole or left behind whole.
        let sql = Sql::new(
            "UPDATE sync_runs SET status = status WHERE id = $1 AND scope_id = $2 AND status = $3",
        )
        .arg(from)
        .arg(scope_id)
        .arg(RunStatus::Failed.as_str());
        if tx.execute(sql).await? != 1 {
            return Err(inconsistent(format!(
                "run {from} is no failed run of this scope: it cannot be resumed"
            )));
        }
        let sql = Sql::new(
            "SELECT COUNT(*), CAST(COALESCE(SUM(item_count), 0) AS BIGINT),
                 (SELECT COUNT(*) FROM staged_connections WHERE run_id = $1)
             FROM staged_pages WHERE run_id = $1",
        )
        .arg(from);
        let row = tx.fetch_one(sql).await?;
        let (pages, fetched, distinct): (i64, i64, i64) = (row.at(0)?, row.at(1)?, row.at(2)?);
        let sql = Sql::new(
            "INSERT INTO sync_runs (scope_id, status, started_at, page_size, endpoint, region,
                 resumed_from, pages, fetched, duplicates, sync_id, target)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .arg(scope_id)
        .arg(RunStatus::Running.as_str())
        .arg(now_utc())
        .arg(i64::from(page_size))
        .arg(&scope.endpoint)
        .arg(&scope.region)
        .arg(from)
        .arg(pages)
        .arg(fetched)
        .arg(fetched - distinct)
        .arg(sync_id)
        .arg(&scope.target);
        let id: i64 = tx.fetch_one(sql).await?.at(0)?;
        for table in STAGING {
            let mut sql = Sql::new("UPDATE ");
            sql.push(table)
                .push(" SET run_id = ")
                .bind(id)
                .push(" WHERE run_id = ")
                .bind(from);
            tx.execute(sql).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// When the sweep of `run_id` started and the smallest page size it used, following the
    /// runs it resumed back to the one that fetched its first page.
    pub async fn sweep_origin(&self, run_id: i64) -> Result<SweepOrigin> {
        origin(&self.db.fetch_all(sweep_chain(run_id)).await?)
    }

    /// A run's status and error, or `None` when there is no such run.
    pub async fn run_status(&self, run_id: i64) -> Result<Option<(RunStatus, Option<String>)>> {
        let sql = Sql::new("SELECT status, error FROM sync_runs WHERE id = $1").arg(run_id);
        let Some(row) = self.db.fetch_optional(sql).await? else {
            return Ok(None);
        };
        Ok(Some((
            RunStatus::parse(&row.get::<String>("status")?)?,
            row.get("error")?,
        )))
    }
}

/// The started_at and page_size of `run_id` and of every run it resumed, transitively.
pub(super) fn sweep_chain(run_id: i64) -> Sql {
    Sql::new(
        "WITH RECURSIVE chain (id, resumed_from, started_at, page_size) AS (
             SELECT id, resumed_from, started_at, page_size FROM sync_runs WHERE id = $1
             UNION ALL
             SELECT r.id, r.resumed_from, r.started_at, r.page_size
             FROM sync_runs r JOIN chain c ON r.id = c.resumed_from)
         SELECT started_at, page_size FROM chain",
    )
    .arg(run_id)
}

/// The sweep's origin from the rows of `sweep_chain`.
pub(super) fn origin(rows: &[Row]) -> Result<SweepOrigin> {
    let mut origin: Option<SweepOrigin> = None;
    for row in rows {
        let (started_at, page_size): (DateTime<Utc>, i64) = (row.at(0)?, row.at(1)?);
        origin = Some(match origin {
            None => SweepOrigin {
                started_at,
                smallest_page_size: page_size,
            },
            Some(o) => SweepOrigin {
                started_at: o.started_at.min(started_at),
                smallest_page_size: o.smallest_page_size.min(page_size),
            },
        });
    }
    origin.ok_or_else(|| inconsistent("a run to judge is missing"))
}

/// Deletes the staging the scope no longer needs: a scope keeps the staging of its running
/// runs, and of its latest run when that failed (`sync --resume` continues it).
pub(super) async fn prune_staging(tx: &mut Tx, scope_id: i64) -> Result<()> {
    let no_longer_needed = |select: &str| {
        let mut sql = Sql::new("");
        sql.push(select)
            .push(" IN (SELECT id FROM sync_runs WHERE scope_id = ")
            .bind(scope_id)
            .push(" AND status <> ")
            .bind(RunStatus::Running.as_str())
            .push(" AND id < (SELECT MAX(id) FROM sync_runs WHERE scope_id = ")
            .bind(scope_id)
            .push("))");
        sql
    };
    // The runs that staged pages, a chunk at a time; then what a run staged without a page
    // (none that this build wrote), by one statement.
    let staged = no_longer_needed("SELECT DISTINCT run_id FROM staged_pages WHERE run_id");
    for row in tx.fetch_all(staged).await? {
        clear_staging(tx, row.at(0)?).await?;
    }
    for table in STAGING {
        let delete = format!("DELETE FROM {table} WHERE run_id");
        tx.execute(no_longer_needed(&delete)).await?;
    }
    Ok(())
}

/// How many staged connections one statement deletes: SQLite first collects the rows a
/// DELETE removes in memory (24 bytes each), which took 24 MB for a run of 1,000,000.
const CLEARED_AT_ONCE: u64 = 10_000;

/// Deletes what `run_id` staged: its pages are applied, or never will be.
pub(super) async fn clear_staging(tx: &mut Tx, run_id: i64) -> Result<()> {
    if tx.writes_alone() && only_run_staged(tx, run_id).await? {
        // All the table holds, and nobody stages meanwhile: without a WHERE, SQLite frees
        // the table's pages at once (its truncate optimization) where deleting 100,000 rows
        // one by one took a second.
        tx.execute(Sql::new("DELETE FROM staged_connections"))
            .await?;
    } else {
        loop {
            let sql = Sql::new(
                "DELETE FROM staged_connections WHERE run_id = $1 AND connection_key IN (
                     SELECT connection_key FROM staged_connections WHERE run_id = $1
                     ORDER BY connection_key LIMIT $2)",
            )
            .arg(run_id)
            .arg(i64::try_from(CLEARED_AT_ONCE).expect("a small number"));
            if tx.execute(sql).await? < CLEARED_AT_ONCE {
                break;
            }
        }
    }
    let sql = Sql::new("DELETE FROM staged_pages WHERE run_id = $1").arg(run_id);
    tx.execute(sql).await?;
    Ok(())
}

/// Whether `staged_connections` holds nothing but what `run_id` staged (two index probes).
async fn only_run_staged(tx: &mut Tx, run_id: i64) -> Result<bool> {
    let bounds = Sql::new(
        "SELECT (SELECT MIN(run_id) FROM staged_connections),
                (SELECT MAX(run_id) FROM staged_connections)",
    );
    let row = tx.fetch_one(bounds).await?;
    let (first, last): (Option<i64>, Option<i64>) = (row.at(0)?, row.at(1)?);
    Ok(first.is_none_or(|first| first == run_id) && last == first)
}

/// The scope of a row holding the `scopes` columns (without an endpoint).
pub(super) fn stored_scope(row: &Row) -> Result<Scope> {
    let ids: Option<serde_json::Value> = row.get("enterprise_project_ids")?;
    let ids = match ids {
        None => Vec::new(),
        // SQLite keeps JSON as text, PostgreSQL as jsonb.
        Some(serde_json::Value::String(text)) => serde_json::from_str(&text)
            .map_err(|e| inconsistent(format!("scope's enterprise_project_ids: {e}")))?,
        Some(value) => serde_json::from_value(value)
            .map_err(|e| inconsistent(format!("scope's enterprise_project_ids: {e}")))?,
    };
    let filters = Filters {
        vgw_id: row.get("vgw_id")?,
        vgw_ip: row.get("vgw_ip")?,
        vpn_id: row.get("vpn_id")?,
        eip_id: row.get("eip_id")?,
        enterprise_project_ids: ids,
    };
    let project_id: String = row.get("project_id")?;
    Ok(Scope::new("", None, &project_id, filters))
}
