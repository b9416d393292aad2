//! Applying a completed sweep: the one transaction in which a run changes the inventory.
//!
//! For each staged connection, two comparisons by content hash decide the work:
//! - against the *scope's* previous snapshot (`scope_connections`): what this scope records as
//!   added, modified (field by field, via `drift::diff`) or unchanged;
//! - against the *current* inventory row: whether the normalized rows and a new entry in
//!   `connection_versions` must be written. An unchanged connection is not touched at all.
//!
//! Then the scope's members that the sweep lacked are recorded as removed, and connections no
//! scope holds any more leave the inventory (their last version is closed, so history keeps
//! them). Everything is chunked by connection id so memory stays flat.

use super::connections::write_connection;
use super::{RunCounts, Store, Tx, now_utc, on_tx};
use crate::api::model::{FieldValue, VpnConnection};
use crate::drift::{self, Category, FieldChange};
use crate::scope::Scope;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

/// How many staged connections are classified per query.
const APPLY_CHUNK: i64 = 500;

/// Everything a run's change records share.
struct RecordContext<'a> {
    run_id: i64,
    scope: &'a Scope,
    detected_at: DateTime<Utc>,
}

/// One staged connection, with what the scope and the inventory last had of it.
struct Classified {
    id: String,
    hash: String,
    /// The served body: only when it differs from the scope's or the inventory's version.
    body: Option<String>,
    prev_version: Option<i64>,
    prev_hash: Option<String>,
    /// The scope's previous version: only when it differs from the served one.
    prev_body: Option<String>,
    current_hash: Option<String>,
}

impl Store {
    /// Applies a completed sweep in one transaction and marks the run complete.
    pub async fn complete_run(
        &self,
        run_id: i64,
        scope_id: i64,
        scope: &Scope,
    ) -> anyhow::Result<RunCounts> {
        let mut tx = self.begin_apply().await?;
        let seq: i64 = on_tx!(&mut tx, c => {
            sqlx::query("SELECT COALESCE(MAX(apply_seq), 0) + 1 FROM sync_runs")
                .fetch_one(&mut *c)
                .await?
                .try_get(0)?
        });
        let ctx = RecordContext {
            run_id,
            scope,
            detected_at: now_utc(),
        };
        let mut counts = RunCounts::default();
        let mut after = String::new();
        loop {
            let batch = classify(&mut tx, run_id, scope_id, scope, &after).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            for item in batch {
                apply_one(&mut tx, &ctx, scope_id, seq, item, &mut counts).await?;
            }
        }
        counts.removed = record_removals(&mut tx, &ctx, scope_id).await?;
        finish(&mut tx, run_id, scope, seq, &counts).await?;
        tx.commit().await?;
        Ok(counts)
    }
}

async fn classify(
    tx: &mut Tx,
    run_id: i64,
    scope_id: i64,
    scope: &Scope,
    after: &str,
) -> sqlx::Result<Vec<Classified>> {
    on_tx!(tx, c => {
        let rows = sqlx::query(
            "SELECT s.connection_id, s.content_hash, m.version_id, v.content_hash AS prev_hash,
                 c.content_hash AS current_hash,
                 CASE WHEN v.content_hash = s.content_hash AND c.content_hash = s.content_hash
                      THEN NULL ELSE s.body END AS body,
                 CASE WHEN v.content_hash = s.content_hash THEN NULL ELSE v.body END AS prev_body
             FROM staged_connections s
             LEFT JOIN scope_connections m
                 ON m.scope_id = $2 AND m.connection_id = s.connection_id
             LEFT JOIN connection_versions v ON v.id = m.version_id
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
        .bind(after)
        .bind(APPLY_CHUNK)
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Classified {
                    id: row.try_get("connection_id")?,
                    hash: row.try_get("content_hash")?,
                    body: row.try_get("body")?,
                    prev_version: row.try_get("version_id")?,
                    prev_hash: row.try_get("prev_hash")?,
                    prev_body: row.try_get("prev_body")?,
                    current_hash: row.try_get("current_hash")?,
                })
            })
            .collect()
    })
}

async fn apply_one(
    tx: &mut Tx,
    ctx: &RecordContext<'_>,
    scope_id: i64,
    seq: i64,
    item: Classified,
    counts: &mut RunCounts,
) -> anyhow::Result<()> {
    let Some(body) = item.body else {
        counts.unchanged += 1;
        return Ok(());
    };
    let id = &item.id;
    let served: Value = serde_json::from_str(&body)
        .with_context(|| format!("staged connection {id} is not JSON"))?;
    let conn = VpnConnection::from_json(&served)
        .with_context(|| format!("staged connection {id} is not an object"))?;
    let stored = conn.to_json();

    let version_id = if item.current_hash.as_deref() == Some(item.hash.as_str()) {
        // Another scope stored this very content already.
        open_version(tx, ctx.scope, id).await?
    } else {
        let stored_before = item.current_hash.is_some();
        write_connection(tx, ctx.scope, ctx.run_id, &conn, &item.hash, stored_before).await?;
        new_version(tx, ctx.scope, id, &item.hash, &stored, seq).await?
    };
    if item.prev_version != Some(version_id) {
        set_member(tx, scope_id, id, version_id).await?;
    }

    let name = conn.name.as_deref();
    match (item.prev_version, item.prev_body) {
        (None, _) => {
            insert_record(tx, ctx, id, name, "added", None).await?;
            counts.added += 1;
        }
        (Some(_), None) => counts.unchanged += 1,
        (Some(_), Some(prev_body)) => {
            debug_assert_ne!(item.prev_hash.as_deref(), Some(item.hash.as_str()));
            let previous: Value = serde_json::from_str(&prev_body)
                .with_context(|| format!("stored version of {id} is not JSON"))?;
            let changes = drift::diff(&previous, &stored);
            if changes.is_empty() {
                counts.unchanged += 1;
            } else {
                counts.modified += 1;
                for change in &changes {
                    insert_record(tx, ctx, id, name, "modified", Some(change)).await?;
                }
            }
        }
    }
    Ok(())
}

async fn open_version(tx: &mut Tx, scope: &Scope, id: &str) -> sqlx::Result<i64> {
    on_tx!(tx, c => {
        sqlx::query(
            "SELECT id FROM connection_versions
             WHERE endpoint = $1 AND project_id = $2 AND connection_id = $3 AND to_seq IS NULL",
        )
        .bind(&scope.endpoint)
        .bind(&scope.project_id)
        .bind(id)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)
    })
}

/// Closes the connection's current version (if any) and opens `stored` as the new one.
async fn new_version(
    tx: &mut Tx,
    scope: &Scope,
    id: &str,
    hash: &str,
    stored: &Value,
    seq: i64,
) -> sqlx::Result<i64> {
    on_tx!(tx, c => {
        sqlx::query(
            "UPDATE connection_versions SET to_seq = $4
             WHERE endpoint = $1 AND project_id = $2 AND connection_id = $3 AND to_seq IS NULL",
        )
        .bind(&scope.endpoint)
        .bind(&scope.project_id)
        .bind(id)
        .bind(seq)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO connection_versions (endpoint, project_id, connection_id, content_hash,
                 body, from_seq)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&scope.endpoint)
        .bind(&scope.project_id)
        .bind(id)
        .bind(hash)
        .bind(stored.to_string())
        .bind(seq)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)
    })
}

async fn set_member(tx: &mut Tx, scope_id: i64, id: &str, version_id: i64) -> sqlx::Result<()> {
    on_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO scope_connections (scope_id, connection_id, version_id)
             VALUES ($1, $2, $3)
             ON CONFLICT (scope_id, connection_id) DO UPDATE SET version_id = excluded.version_id",
        )
        .bind(scope_id)
        .bind(id)
        .bind(version_id)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}

async fn insert_record(
    tx: &mut Tx,
    ctx: &RecordContext<'_>,
    id: &str,
    name: Option<&str>,
    change: &str,
    field: Option<&FieldChange>,
) -> sqlx::Result<()> {
    let category = field.map_or(Category::Config, |f| f.category);
    on_tx!(tx, c => {
        sqlx::query(
            "INSERT INTO change_records (run_id, endpoint, project_id, connection_id,
                 connection_name, change, category, field, old_value, new_value, detected_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(ctx.run_id)
        .bind(&ctx.scope.endpoint)
        .bind(&ctx.scope.project_id)
        .bind(id)
        .bind(name)
        .bind(change)
        .bind(category.as_str())
        .bind(field.map(|f| f.field.as_str()))
        .bind(field.and_then(|f| f.old.clone()))
        .bind(field.and_then(|f| f.new.clone()))
        .bind(ctx.detected_at)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}

/// Records every member of the scope's snapshot that the sweep lacked as removed, and drops
/// them from the snapshot. Returns how many.
async fn record_removals(tx: &mut Tx, ctx: &RecordContext<'_>, scope_id: i64) -> sqlx::Result<u64> {
    let mut removed = 0;
    let mut after = String::new();
    loop {
        let batch: Vec<(String, Option<String>)> = on_tx!(&mut *tx, c => {
            sqlx::query(
                "SELECT m.connection_id, c.name FROM scope_connections m
                 LEFT JOIN connections c
                     ON c.endpoint = $3 AND c.project_id = $4 AND c.id = m.connection_id
                 WHERE m.scope_id = $1 AND m.connection_id > $5 AND NOT EXISTS (
                     SELECT 1 FROM staged_connections s
                     WHERE s.run_id = $2 AND s.connection_id = m.connection_id)
                 ORDER BY m.connection_id
                 LIMIT $6",
            )
            .bind(scope_id)
            .bind(ctx.run_id)
            .bind(&ctx.scope.endpoint)
            .bind(&ctx.scope.project_id)
            .bind(&after)
            .bind(APPLY_CHUNK)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<sqlx::Result<_>>()?
        });
        let Some((last, _)) = batch.last() else { break };
        after = last.clone();
        for (id, name) in &batch {
            insert_record(tx, ctx, id, name.as_deref(), "removed", None).await?;
            removed += 1;
        }
    }
    on_tx!(tx, c => {
        sqlx::query(
            "DELETE FROM scope_connections WHERE scope_id = $1 AND NOT EXISTS (
                 SELECT 1 FROM staged_connections s
                 WHERE s.run_id = $2 AND s.connection_id = scope_connections.connection_id)",
        )
        .bind(scope_id)
        .bind(ctx.run_id)
        .execute(&mut *c)
        .await?;
    });
    Ok(removed)
}

/// Retires connections no scope holds any more, clears the staging, marks the run complete.
async fn finish(
    tx: &mut Tx,
    run_id: i64,
    scope: &Scope,
    seq: i64,
    counts: &RunCounts,
) -> sqlx::Result<()> {
    on_tx!(tx, c => {
        sqlx::query(
            "UPDATE connection_versions SET to_seq = $3
             WHERE endpoint = $1 AND project_id = $2 AND to_seq IS NULL AND NOT EXISTS (
                 SELECT 1 FROM scope_connections m JOIN scopes sc ON sc.id = m.scope_id
                 WHERE sc.endpoint = $1 AND sc.project_id = $2
                     AND m.connection_id = connection_versions.connection_id)",
        )
        .bind(&scope.endpoint)
        .bind(&scope.project_id)
        .bind(seq)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "DELETE FROM connections
             WHERE endpoint = $1 AND project_id = $2 AND NOT EXISTS (
                 SELECT 1 FROM scope_connections m JOIN scopes sc ON sc.id = m.scope_id
                 WHERE sc.endpoint = $1 AND sc.project_id = $2 AND m.connection_id = connections.id)",
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
            "UPDATE sync_runs SET status = 'complete', finished_at = $2, apply_seq = $3,
                 added = $4, removed = $5, modified = $6, unchanged = $7
             WHERE id = $1",
        )
        .bind(run_id)
        .bind(now_utc())
        .bind(seq)
        .bind(counts.added as i64)
        .bind(counts.removed as i64)
        .bind(counts.modified as i64)
        .bind(counts.unchanged as i64)
        .execute(&mut *c)
        .await?;
    });
    Ok(())
}
