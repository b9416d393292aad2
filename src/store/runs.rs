//! Sync runs: their scope, their staged pages, their outcome.
//!
//! A run stages each page in its own transaction as it arrives (durable, resumable later); only
//! `complete_run` (in `apply`) touches the inventory. A failed run changes nothing but its own
//! row and staging.

use super::write::MAX_PARAMS;
use super::{Store, on_db, on_tx};
use crate::scope::Scope;
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

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
    pub duplicates: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub unchanged: u64,
}

/// A run as `vpn-inventory runs` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: i64,
    pub status: String,
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
    pub error: Option<String>,
}

impl Store {
    /// The id of `scope`, creating it on first use.
    pub async fn ensure_scope(&self, scope: &Scope) -> sqlx::Result<i64> {
        let ids = &scope.filters.enterprise_project_ids;
        let ids = (!ids.is_empty()).then(|| serde_json::json!(ids));
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO scopes (scope_key, endpoint, region, project_id, vgw_id, vgw_ip,
                     vpn_id, eip_id, enterprise_project_ids, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (scope_key) DO UPDATE SET scope_key = excluded.scope_key
                 RETURNING id",
            )
            .bind(scope.key())
            .bind(&scope.endpoint)
            .bind(&scope.region)
            .bind(&scope.project_id)
            .bind(&scope.filters.vgw_id)
            .bind(&scope.filters.vgw_ip)
            .bind(&scope.filters.vpn_id)
            .bind(&scope.filters.eip_id)
            .bind(ids)
            .bind(now_utc())
            .fetch_one(pool)
            .await?
            .try_get(0)
        })
    }

    pub async fn start_run(&self, scope_id: i64, page_size: u32) -> sqlx::Result<i64> {
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO sync_runs (scope_id, status, started_at, page_size)
                 VALUES ($1, 'running', $2, $3) RETURNING id",
            )
            .bind(scope_id)
            .bind(now_utc())
            .bind(i64::from(page_size))
            .fetch_one(pool)
            .await?
            .try_get(0)
        })
    }

    /// Stores one page durably in one transaction. Ids already staged in this run are counted
    /// as duplicates and not stored again.
    pub async fn stage_page(
        &self,
        run_id: i64,
        page: &PageToStage<'_>,
    ) -> sqlx::Result<StageOutcome> {
        let mut tx = self.begin_write().await?;
        let mut outcome = StageOutcome::default();
        on_tx!(&mut tx, c => {
            sqlx::query(
                "INSERT INTO staged_pages (run_id, page_no, marker, next_marker, item_count,
                     request_id, fetched_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(run_id)
            .bind(page.page_no)
            .bind(page.marker)
            .bind(page.next_marker)
            .bind(page.connections.len() as i64)
            .bind(page.request_id)
            .bind(now_utc())
            .execute(&mut *c)
            .await?;
            // Multi-row inserts; an id already staged (or repeated on this page) is skipped
            // and counted as a duplicate.
            for chunk in page.connections.chunks(MAX_PARAMS / 5) {
                let mut query = sqlx::QueryBuilder::new(
                    "INSERT INTO staged_connections (run_id, connection_id, page_no, content_hash, body) ",
                );
                query.push_values(chunk, |mut b, conn| {
                    b.push_bind(run_id)
                        .push_bind(&conn.id)
                        .push_bind(page.page_no)
                        .push_bind(&conn.content_hash)
                        .push_bind(&conn.body);
                });
                query.push(" ON CONFLICT (run_id, connection_id) DO NOTHING");
                let inserted = query.build().persistent(false).execute(&mut *c).await?.rows_affected();
                outcome.duplicates += chunk.len() as u64 - inserted;
            }
            sqlx::query(
                "UPDATE sync_runs SET pages = pages + 1, fetched = fetched + $2,
                     duplicates = duplicates + $3
                 WHERE id = $1",
            )
            .bind(run_id)
            .bind(page.connections.len() as i64)
            .bind(outcome.duplicates as i64)
            .execute(&mut *c)
            .await?;
            Ok::<_, sqlx::Error>(())
        })?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Marks the scope's runs still `running` as failed: called under the scope lock, when no
    /// live process can be running them. Returns how many there were.
    pub async fn abandon_running(&self, scope_id: i64) -> sqlx::Result<u64> {
        on_db!(&self.db, pool => {
            Ok(sqlx::query(
                "UPDATE sync_runs SET status = 'failed', finished_at = $2,
                     error = 'abandoned: the process running it stopped before finishing'
                 WHERE scope_id = $1 AND status = 'running'",
            )
            .bind(scope_id)
            .bind(now_utc())
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Marks a run failed. Its staged pages stay for inspection; the inventory is untouched.
    pub async fn fail_run(&self, run_id: i64, error: &str) -> sqlx::Result<()> {
        on_db!(&self.db, pool => {
            sqlx::query(
                "UPDATE sync_runs SET status = 'failed', finished_at = $2, error = $3 WHERE id = $1",
            )
            .bind(run_id)
            .bind(now_utc())
            .bind(error)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Runs, newest first.
    pub async fn runs(&self, limit: i64) -> sqlx::Result<Vec<RunRow>> {
        on_db!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT r.id, r.status, s.scope_key, r.started_at, r.finished_at, r.pages,
                     r.fetched, r.duplicates, r.added, r.removed, r.modified, r.unchanged, r.error
                 FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
                 ORDER BY r.id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let started_at: DateTime<Utc> = row.try_get("started_at")?;
                    let finished_at: Option<DateTime<Utc>> = row.try_get("finished_at")?;
                    let scope_key: String = row.try_get("scope_key")?;
                    Ok(RunRow {
                        run_id: row.try_get("id")?,
                        status: row.try_get("status")?,
                        scope: serde_json::from_str(&scope_key).unwrap_or(scope_key.into()),
                        started_at,
                        finished_at,
                        duration_seconds: finished_at
                            .map(|f| (f - started_at).num_microseconds().unwrap_or(0) as f64 / 1e6),
                        pages: row.try_get("pages")?,
                        fetched: row.try_get("fetched")?,
                        duplicates: row.try_get("duplicates")?,
                        added: row.try_get("added")?,
                        removed: row.try_get("removed")?,
                        modified: row.try_get("modified")?,
                        unchanged: row.try_get("unchanged")?,
                        error: row.try_get("error")?,
                    })
                })
                .collect()
        })
    }
}
