//! Sync runs: their scope, their staged pages, their outcome.
//!
//! A run stages each page in its own transaction as it arrives (durable, resumable later); only
//! `complete_run` (in `apply`) touches the inventory. A failed run changes nothing but its own
//! row and staging.
//!
//! What is staged stays while it may be needed: a scope keeps the staging of its running runs
//! and of its latest run when that failed, for a later run to continue. Everything else a scope
//! staged is deleted when one of its runs fails, is found abandoned or completes
//! (`prune_staging`), so staging never holds more than about one sweep per scope beyond the
//! runs in progress.

use super::Store;
use super::error::{Result, inconsistent};
use super::sql::{Cell, MAX_PARAMS, Row, Sql};
use crate::scope::{Filters, Scope};
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One connection of a page, ready to stage.
#[derive(Debug, Clone)]
pub struct StagedConnection {
    pub id: String,
    pub content_hash: String,
    /// The object as served, JSON text.
    pub body: String,
}

/// One page of a run, as received.
#[derive(Debug, Clone)]
pub struct PageToStage<'a> {
    pub page_no: i64,
    pub marker: Option<&'a str>,
    pub next_marker: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub connections: &'a [StagedConnection],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageOutcome {
    /// Repeats of an id already received in this run (a marker falling on a tie does this).
    pub duplicates: i64,
}

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

    fn parse(text: &str) -> Result<Self> {
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

/// A run as `vpn-inventory runs` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: i64,
    pub status: RunStatus,
    pub scope: serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub pages: i64,
    pub fetched: i64,
    pub duplicates: i64,
    pub added: Option<i64>,
    pub removed: Option<i64>,
    pub modified: Option<i64>,
    pub unchanged: Option<i64>,
    /// Why a complete run inferred no removals; `None` when it did (or is not complete).
    pub removals_skipped: Option<String>,
    pub error: Option<String>,
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

    /// Records a new run of the scope, and how it reaches the API.
    pub async fn start_run(&self, scope_id: i64, scope: &Scope, page_size: u32) -> Result<i64> {
        let sql = Sql::new(
            "INSERT INTO sync_runs (scope_id, status, started_at, page_size, endpoint, region)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .arg(scope_id)
        .arg(RunStatus::Running.as_str())
        .arg(now_utc())
        .arg(i64::from(page_size))
        .arg(&scope.endpoint)
        .arg(&scope.region);
        Ok(self.db.fetch_one(sql).await?.at(0)?)
    }

    /// Stores one page durably in one transaction. Ids already staged in this run are counted
    /// as duplicates and not stored again.
    pub async fn stage_page(&self, run_id: i64, page: &PageToStage<'_>) -> Result<StageOutcome> {
        let mut tx = self.begin_write().await?;
        let items = count(page.connections.len());
        let sql = Sql::new(
            "INSERT INTO staged_pages (run_id, page_no, marker, next_marker, item_count,
                 request_id, fetched_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .arg(run_id)
        .arg(page.page_no)
        .arg(page.marker)
        .arg(page.next_marker)
        .arg(items)
        .arg(page.request_id)
        .arg(now_utc());
        tx.execute(sql).await?;
        // Multi-row inserts; an id already staged (or repeated on this page) is skipped and
        // counted as a duplicate.
        let mut inserted = 0;
        for chunk in page.connections.chunks(MAX_PARAMS / 5) {
            let mut sql = Sql::new(
                "INSERT INTO staged_connections (run_id, connection_id, page_no, content_hash,
                     body) ",
            );
            sql.push_values(chunk.iter().map(|conn| {
                vec![
                    Cell::from(run_id),
                    Cell::from(&conn.id),
                    Cell::from(page.page_no),
                    Cell::from(&conn.content_hash),
                    Cell::from(&conn.body),
                ]
            }));
            sql.push(" ON CONFLICT (run_id, connection_id) DO NOTHING");
            inserted += tx.execute(sql).await?;
        }
        let outcome = StageOutcome {
            duplicates: items - i64::try_from(inserted).unwrap_or(items),
        };
        let sql = Sql::new(
            "UPDATE sync_runs SET pages = pages + 1, fetched = fetched + $2,
                 duplicates = duplicates + $3
             WHERE id = $1",
        )
        .arg(run_id)
        .arg(items)
        .arg(outcome.duplicates);
        tx.execute(sql).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Marks the scope's runs still `running` as failed: called under the scope lock, when no
    /// live process can be running them. The latest keeps its staging; staging the scope no
    /// longer needs is deleted (`prune_staging`). Returns how many runs were abandoned.
    pub async fn abandon_running(&self, scope_id: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
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

    /// Marks a run failed; the inventory is untouched. Its staging stays while it is its
    /// scope's latest run; staging the scope no longer needs is deleted. A run another process
    /// already marked (abandoned) keeps that record.
    pub async fn fail_run(&self, run_id: i64, error: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
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

    /// Runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRow>> {
        let sql = Sql::new(
            "SELECT r.id, r.status, r.started_at, r.finished_at, r.pages,
                 r.fetched, r.duplicates, r.added, r.removed, r.modified, r.unchanged,
                 r.removals_skipped, r.error, r.endpoint, r.region, s.project_id, s.vgw_id,
                 s.vgw_ip, s.vpn_id, s.eip_id, s.enterprise_project_ids
             FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
             ORDER BY r.id DESC LIMIT $1",
        )
        .arg(limit);
        self.db.fetch_all(sql).await?.iter().map(run_row).collect()
    }
}

/// The tables a run stages its pages in until it applies or fails.
const STAGING: [&str; 2] = ["staged_connections", "staged_pages"];

/// Deletes the staging the scope no longer needs: a scope keeps the staging of its running
/// runs, and of its latest run when that failed.
pub(super) async fn prune_staging(tx: &mut super::Tx, scope_id: i64) -> Result<()> {
    for table in STAGING {
        let mut sql = Sql::new("DELETE FROM ");
        sql.push(table)
            .push(" WHERE run_id IN (SELECT id FROM sync_runs WHERE scope_id = ")
            .bind(scope_id)
            .push(" AND status <> ")
            .bind(RunStatus::Running.as_str())
            .push(" AND id < (SELECT MAX(id) FROM sync_runs WHERE scope_id = ")
            .bind(scope_id)
            .push("))");
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Deletes what `run_id` staged: its pages are applied, or never will be.
pub(super) async fn clear_staging(tx: &mut super::Tx, run_id: i64) -> Result<()> {
    for table in STAGING {
        let mut sql = Sql::new("DELETE FROM ");
        sql.push(table).push(" WHERE run_id = ").bind(run_id);
        tx.execute(sql).await?;
    }
    Ok(())
}

/// A count of items as stored.
pub(super) fn count(items: usize) -> i64 {
    i64::try_from(items).unwrap_or(i64::MAX)
}

fn run_row(row: &Row) -> Result<RunRow> {
    let started_at: DateTime<Utc> = row.get("started_at")?;
    let finished_at: Option<DateTime<Utc>> = row.get("finished_at")?;
    let mut scope = stored_scope(row)?;
    scope.endpoint = row.get::<Option<String>>("endpoint")?.unwrap_or_default();
    scope.region = row.get("region")?;
    let duration = finished_at.map(|f| (f - started_at).to_std().unwrap_or_default());
    Ok(RunRow {
        run_id: row.get("id")?,
        status: RunStatus::parse(&row.get::<String>("status")?)?,
        scope: scope.shown(),
        started_at,
        finished_at,
        duration_seconds: duration.map(|d| d.as_secs_f64()),
        pages: row.get("pages")?,
        fetched: row.get("fetched")?,
        duplicates: row.get("duplicates")?,
        added: row.get("added")?,
        removed: row.get("removed")?,
        modified: row.get("modified")?,
        unchanged: row.get("unchanged")?,
        removals_skipped: row.get("removals_skipped")?,
        error: row.get("error")?,
    })
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
