//! Sync runs: their scope, their staged pages, their outcome.
//!
//! A run stages each page in its own transaction as it arrives (durable, resumable later); only
//! `complete_run` (in `apply`) touches the inventory. A failed run changes nothing but its own
//! row and staging.
//!
//! What is staged stays while it may be needed: a scope keeps the staging of its running runs
//! and of its latest run when that failed, which `sync --resume` continues (`resume_run`: a new
//! run takes the failed run's staged pages over). Everything else a scope staged is deleted
//! when one of its runs fails, is found abandoned or completes (`prune_staging`), so staging
//! never holds more than about one sweep per scope beyond the runs in progress.

use super::Store;
use super::apply::{pairs, select_in};
use super::error::{Result, connections_error, inconsistent};
use super::sql::{Cell, MAX_PARAMS, Row, Sql, id_keys};
use crate::scope::{Filters, Scope};
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// One connection of a page, ready to stage.
#[derive(Debug, Clone)]
pub struct StagedConnection {
    pub id: String,
    pub content_hash: String,
    /// Its `created_at` as served: where a resumed sweep's markers come from.
    pub created_at: Option<String>,
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
    /// When the page's answer arrived: its connections' observation time.
    pub fetched_at: DateTime<Utc>,
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

/// What `sync --resume` finds to continue in a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumable {
    /// The scope's latest run, which failed after staging pages.
    Run(i64),
    /// Nothing to continue, and why.
    Nothing(String),
}

/// One page a run staged, as far as continuing its sweep needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPage {
    pub page_no: i64,
    pub marker: Option<String>,
    pub next_marker: Option<String>,
    /// Connections received, duplicates included (as counted in `fetched`).
    pub item_count: i64,
    /// Connections first received on this page.
    pub first_seen: i64,
}

/// The runs one sweep went through (a run and those it resumed), as far as judging it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepOrigin {
    /// When the first of them started: the sweep's start.
    pub started_at: DateTime<Utc>,
    /// The smallest page size any of them asked with.
    pub smallest_page_size: i64,
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
    /// The failed run whose staged pages this run took over and continued (`sync --resume`).
    pub resumed_from: Option<i64>,
    /// The run that took this failed run's staged pages over and continued its sweep.
    pub resumed_by: Option<i64>,
    /// The first complete run of its scope: what it added was already there.
    pub baseline: bool,
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
    /// as duplicates and not stored again. A connection whose content hash equals the one the
    /// project's inventory holds is staged without its body: an unchanged re-sync then writes
    /// ids and hashes only, and the apply, which needs a body only for content the inventory
    /// lacks, finds it in `connection_versions` by hash should the inventory move meanwhile.
    pub async fn stage_page(
        &self,
        run_id: i64,
        project_id: &str,
        page: &PageToStage<'_>,
    ) -> Result<StageOutcome> {
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
        .arg(page.fetched_at);
        tx.execute(sql).await?;
        let ids: Vec<&str> = page.connections.iter().map(|c| c.id.as_str()).collect();
        let held = || {
            let mut sql = Sql::new("SELECT id, content_hash FROM connections WHERE project_id = ");
            sql.bind(project_id).push(" AND id_key");
            sql
        };
        let held = select_in(&mut tx, held, &id_keys(&ids)).await?;
        let held: HashMap<String, String> = pairs(&held)?;
        // Multi-row inserts; an id already staged (or repeated on this page) is skipped and
        // counted as a duplicate.
        let mut inserted = 0;
        for chunk in page.connections.chunks(MAX_PARAMS / 6) {
            let mut sql = Sql::new(
                "INSERT INTO staged_connections (run_id, connection_id, page_no, content_hash,
                     created_at, body) ",
            );
            sql.push_values(chunk.iter().map(|conn| {
                let held = held.get(&conn.id) == Some(&conn.content_hash);
                vec![
                    Cell::from(run_id),
                    Cell::from(&conn.id),
                    Cell::from(page.page_no),
                    Cell::from(&conn.content_hash),
                    Cell::from(conn.created_at.as_deref()),
                    Cell::from((!held).then_some(conn.body.as_str())),
                ]
            }));
            sql.push(" ON CONFLICT (run_id, connection_key) DO NOTHING");
            inserted += tx.execute(sql).await.map_err(|e| {
                let ids: Vec<&str> = chunk.iter().map(|c| c.id.as_str()).collect();
                connections_error(&ids, e)
            })?;
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
    /// live process can be running them. The latest keeps its staging for `sync --resume`;
    /// staging the scope no longer needs is deleted (`prune_staging`). Returns how many runs
    /// were abandoned.
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

    /// Marks a run failed; the inventory is untouched. Its staging stays for `sync --resume`
    /// while it is its scope's latest run; staging the scope no longer needs is deleted. A run
    /// another process already marked (abandoned, then perhaps resumed) keeps that record.
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
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
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
                 resumed_from, pages, fetched, duplicates)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
        .arg(fetched - distinct);
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

    /// The pages `run_id` staged, in order.
    pub async fn staged_pages(&self, run_id: i64) -> Result<Vec<StagedPage>> {
        let sql = Sql::new(
            "SELECT p.page_no, p.marker, p.next_marker, p.item_count,
                 (SELECT COUNT(*) FROM staged_connections c
                  WHERE c.run_id = p.run_id AND c.page_no = p.page_no)
             FROM staged_pages p WHERE p.run_id = $1 ORDER BY p.page_no",
        )
        .arg(run_id);
        self.db
            .fetch_all(sql)
            .await?
            .iter()
            .map(|row| {
                Ok(StagedPage {
                    page_no: row.at(0)?,
                    marker: row.at(1)?,
                    next_marker: row.at(2)?,
                    item_count: row.at(3)?,
                    first_seen: row.at(4)?,
                })
            })
            .collect()
    }

    /// Each connection `run_id` staged: its id and the `created_at` it was served with.
    pub async fn staged_created_at(&self, run_id: i64) -> Result<Vec<(String, Option<String>)>> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let sql = Sql::new(
                "SELECT connection_id, created_at, body, connection_key FROM staged_connections
                 WHERE run_id = $1 AND connection_key > $2 ORDER BY connection_key LIMIT $3",
            )
            .arg(run_id)
            .arg(after.as_str())
            .arg(STAGED_CHUNK);
            let rows = self.db.fetch_all(sql).await?;
            let Some(last) = rows.last() else { break };
            after = last.at(3)?;
            for row in &rows {
                let (id, created_at): (String, Option<String>) = (row.at(0)?, row.at(1)?);
                let body: Option<String> = row.at(2)?;
                // Staged before schema version 8, a page kept no `created_at` but every body.
                let created_at = match (created_at, body) {
                    (Some(at), _) => Some(at),
                    (None, Some(body)) => served_created_at(&id, &body)?,
                    (None, None) => None,
                };
                out.push((id, created_at));
            }
        }
        Ok(out)
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

    /// Runs, newest first.
    pub async fn runs(&self, limit: i64) -> Result<Vec<RunRow>> {
        let sql = Sql::new(
            "SELECT r.id, r.status, r.started_at, r.finished_at, r.pages,
                 r.fetched, r.duplicates, r.added, r.removed, r.modified, r.unchanged,
                 r.removals_skipped, r.error, r.endpoint, r.region, s.project_id, s.vgw_id,
                 s.vgw_ip, s.vpn_id, s.eip_id, s.enterprise_project_ids, r.resumed_from,
                 (SELECT MIN(n.id) FROM sync_runs n WHERE n.resumed_from = r.id) AS resumed_by,
                 r.apply_seq,
                 (SELECT MIN(f.apply_seq) FROM sync_runs f WHERE f.scope_id = r.scope_id)
                     AS first_seq
             FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
             ORDER BY r.id DESC LIMIT $1",
        )
        .arg(limit);
        self.db.fetch_all(sql).await?.iter().map(run_row).collect()
    }
}

/// The tables a run stages its pages in until it applies or fails.
const STAGING: [&str; 2] = ["staged_connections", "staged_pages"];

/// How many staged connections are read per query.
const STAGED_CHUNK: i64 = 500;

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

/// The `created_at` of a staged body, read as the sweep read it (strings in held form: see
/// `crate::json`).
fn served_created_at(id: &str, body: &str) -> Result<Option<String>> {
    let served = crate::json::parse(body)
        .map_err(|e| inconsistent(format!("staged connection {id}: {e}")))?;
    Ok(served
        .get("created_at")
        .and_then(|v| v.as_str())
        .map(str::to_owned))
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
        resumed_from: row.get("resumed_from")?,
        resumed_by: row.get("resumed_by")?,
        baseline: {
            let seq: Option<i64> = row.get("apply_seq")?;
            seq.is_some() && seq == row.get::<Option<i64>>("first_seq")?
        },
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
