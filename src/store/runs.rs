//! Sync runs: their scope, their staged pages, and applying a completed sweep atomically.
//!
//! A run stages each page in its own transaction as it arrives (durable, resumable later), and
//! only `complete_run` touches the inventory: one transaction that writes changed connections,
//! updates the scope's snapshot and records the counts. Readers never see half a run, and a
//! failed run changes nothing but its own row and staging.

use super::connections::write_connection;
use super::{Store, now_utc, on_db, on_tx};
use crate::api::model::VpnConnection;
use crate::scope::Scope;
use anyhow::Context as _;
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
    /// Connections this run had not received before.
    pub new: u64,
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

/// How many staged connections `complete_run` classifies per query: keeps memory flat.
const APPLY_CHUNK: i64 = 500;

impl Store {
    /// The id of `scope`, creating it on first use.
    pub async fn ensure_scope(&self, scope: &Scope) -> sqlx::Result<i64> {
        let ids = serde_json::to_string(&scope.filters.enterprise_project_ids).expect("json");
        let ids = (!scope.filters.enterprise_project_ids.is_empty()).then_some(ids);
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
        let mut tx = self.begin().await?;
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
            for conn in page.connections {
                let inserted = sqlx::query(
                    "INSERT INTO staged_connections (run_id, connection_id, page_no, content_hash, body)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (run_id, connection_id) DO NOTHING",
                )
                .bind(run_id)
                .bind(&conn.id)
                .bind(page.page_no)
                .bind(&conn.content_hash)
                .bind(&conn.body)
                .execute(&mut *c)
                .await?
                .rows_affected();
                if inserted == 1 {
                    outcome.new += 1;
                } else {
                    outcome.duplicates += 1;
                }
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

    /// Applies a completed sweep in one transaction: writes new and changed connections,
    /// makes the staged set the scope's snapshot (removing the ones it lacks) and marks the run
    /// complete with its counts.
    pub async fn complete_run(
        &self,
        run_id: i64,
        scope_id: i64,
        scope: &Scope,
    ) -> anyhow::Result<RunCounts> {
        let mut tx = self.begin().await?;
        let mut counts = RunCounts::default();
        let mut after = String::new();
        loop {
            // Unchanged connections come without their body: nothing to parse or write.
            let batch: Vec<(String, String, bool, Option<String>)> = on_tx!(&mut tx, c => {
                sqlx::query(
                    "SELECT s.connection_id, s.content_hash,
                         EXISTS (SELECT 1 FROM scope_connections m
                                 WHERE m.scope_id = $2 AND m.connection_pk = c.pk) AS member,
                         CASE WHEN c.content_hash = s.content_hash THEN NULL ELSE s.body END AS body
                     FROM staged_connections s
                     LEFT JOIN connections c
                         ON c.endpoint = $3 AND c.project_id = $4 AND c.id = s.connection_id
                     WHERE s.run_id = $1 AND s.connection_id > $5
                     ORDER BY s.connection_id
                     LIMIT $6",
                )
                .bind(run_id)
                .bind(scope_id)
                .bind(&scope.endpoint)
                .bind(&scope.project_id)
                .bind(&after)
                .bind(APPLY_CHUNK)
                .fetch_all(&mut *c)
                .await?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)))
                .collect::<sqlx::Result<_>>()?
            });
            let Some((last_id, ..)) = batch.last() else {
                break;
            };
            after = last_id.clone();
            for (id, hash, member, body) in batch {
                if let Some(body) = body {
                    let value: serde_json::Value =
                        serde_json::from_str(&body).with_context(|| {
                            format!("staged connection {id} of run {run_id} is not JSON")
                        })?;
                    let conn = VpnConnection::from_map(match value {
                        serde_json::Value::Object(map) => map,
                        _ => {
                            anyhow::bail!("staged connection {id} of run {run_id} is not an object")
                        }
                    });
                    let pk = write_connection(&mut tx, scope, run_id, &conn, &hash).await?;
                    if member {
                        counts.modified += 1;
                    } else {
                        add_to_snapshot(&mut tx, scope_id, pk).await?;
                        counts.added += 1;
                    }
                } else if member {
                    counts.unchanged += 1;
                } else {
                    // Stored already (another scope saw it) and unchanged, but new to this scope.
                    let pk = stored_pk(&mut tx, scope, &id).await?;
                    add_to_snapshot(&mut tx, scope_id, pk).await?;
                    counts.added += 1;
                }
            }
        }

        on_tx!(&mut tx, c => {
            counts.removed = sqlx::query(
                "DELETE FROM scope_connections
                 WHERE scope_id = $1 AND connection_pk NOT IN (
                     SELECT c.pk FROM staged_connections s
                     JOIN connections c
                         ON c.endpoint = $3 AND c.project_id = $4 AND c.id = s.connection_id
                     WHERE s.run_id = $2)",
            )
            .bind(scope_id)
            .bind(run_id)
            .bind(&scope.endpoint)
            .bind(&scope.project_id)
            .execute(&mut *c)
            .await?
            .rows_affected();
            // A connection no scope holds any more is gone from the inventory.
            sqlx::query(
                "DELETE FROM connections
                 WHERE endpoint = $1 AND project_id = $2 AND NOT EXISTS (
                     SELECT 1 FROM scope_connections m WHERE m.connection_pk = connections.pk)",
            )
            .bind(&scope.endpoint)
            .bind(&scope.project_id)
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM staged_connections WHERE run_id = $1")
                .bind(run_id)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "UPDATE sync_runs SET status = 'complete', finished_at = $2, added = $3,
                     removed = $4, modified = $5, unchanged = $6
                 WHERE id = $1",
            )
            .bind(run_id)
            .bind(now_utc())
            .bind(counts.added as i64)
            .bind(counts.removed as i64)
            .bind(counts.modified as i64)
            .bind(counts.unchanged as i64)
            .execute(&mut *c)
            .await?;
            Ok::<_, sqlx::Error>(())
        })?;
        tx.commit().await?;
        Ok(counts)
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

/// Adds a connection to a scope's snapshot.
async fn add_to_snapshot(tx: &mut super::Tx, scope_id: i64, pk: i64) -> sqlx::Result<()> {
    on_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO scope_connections (scope_id, connection_pk) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(scope_id)
        .bind(pk)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}

async fn stored_pk(tx: &mut super::Tx, scope: &Scope, id: &str) -> sqlx::Result<i64> {
    on_tx!(tx, c => {
        sqlx::query("SELECT pk FROM connections WHERE endpoint = $1 AND project_id = $2 AND id = $3")
            .bind(&scope.endpoint)
            .bind(&scope.project_id)
            .bind(id)
            .fetch_one(&mut *c)
            .await?
            .try_get(0)
    })
}
