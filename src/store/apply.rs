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

use super::write::{ConnectionWrite, MAX_PARAMS, insert_rows, write_connections};
use super::{RunCounts, Store, Tx, on_tx};
use crate::api::model::{FieldValue, VpnConnection};
use crate::drift::{self, Category, FieldChange};
use crate::scope::Scope;
use crate::time::now_utc;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;

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
            apply_chunk(&mut tx, &ctx, scope_id, seq, batch, &mut counts).await?;
        }
        counts.removed = record_removals(&mut tx, &ctx, scope_id, seq).await?;
        finish(&mut tx, run_id, seq, &counts).await?;
        tx.commit().await?;
        Ok(counts)
    }
}

/// Appends ` IN (...)` binding each of `$ids`.
macro_rules! push_in_list {
    ($q:expr, $ids:expr) => {{
        $q.push(" IN (");
        let mut list = $q.separated(", ");
        for id in $ids {
            list.push_bind(id.clone());
        }
        $q.push(")");
    }};
}

/// Runs `SELECT ... <column> IN (ids)` over chunks of `$ids`: `$prepare` writes the query up to
/// the column, `$map` turns a row into an item. Every lookup of the apply step goes by explicit
/// keys like this: PostgreSQL plans joins on statistics that a big apply makes stale, and a
/// mis-planned join turned a 20,000-connection apply quadratic.
macro_rules! select_in {
    ($c:expr, $ids:expr, |$q:ident| $prepare:block, |$row:ident| $map:expr) => {{
        let mut out = Vec::new();
        for chunk in $ids.chunks(MAX_PARAMS / 2) {
            let mut $q = sqlx::QueryBuilder::new("");
            $prepare
            push_in_list!($q, chunk);
            for $row in $q.build().persistent(false).fetch_all(&mut *$c).await? {
                out.push($map);
            }
        }
        out
    }};
}

async fn classify(
    tx: &mut Tx,
    run_id: i64,
    scope_id: i64,
    scope: &Scope,
    after: &str,
) -> sqlx::Result<Vec<Classified>> {
    on_tx!(tx, c => {
        let staged: Vec<(String, String)> = sqlx::query(
            "SELECT connection_id, content_hash FROM staged_connections
             WHERE run_id = $1 AND connection_id > $2 ORDER BY connection_id LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(APPLY_CHUNK)
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<sqlx::Result<_>>()?;
        let ids: Vec<&str> = staged.iter().map(|(id, _)| id.as_str()).collect();

        let members: HashMap<String, i64> = select_in!(c, ids, |q| {
            q.push("SELECT connection_id, version_id FROM scope_connections WHERE scope_id = ")
                .push_bind(scope_id)
                .push(" AND connection_id");
        }, |row| (row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?))
        .into_iter()
        .collect();
        let version_ids: Vec<i64> = members.values().copied().collect();
        let prev_hashes: HashMap<i64, String> = select_in!(c, version_ids, |q| {
            q.push("SELECT id, content_hash FROM connection_versions WHERE id");
        }, |row| (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?))
        .into_iter()
        .collect();
        let current: HashMap<String, String> = select_in!(c, ids, |q| {
            q.push("SELECT id, content_hash FROM connections WHERE endpoint = ")
                .push_bind(&scope.endpoint)
                .push(" AND project_id = ")
                .push_bind(&scope.project_id)
                .push(" AND id");
        }, |row| (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?))
        .into_iter()
        .collect();

        let mut classified: Vec<Classified> = staged
            .into_iter()
            .map(|(id, hash)| {
                let prev_version = members.get(&id).copied();
                Classified {
                    prev_hash: prev_version.and_then(|v| prev_hashes.get(&v).cloned()),
                    current_hash: current.get(&id).cloned(),
                    prev_version,
                    id,
                    hash,
                    body: None,
                    prev_body: None,
                }
            })
            .collect();
        // Bodies only where something differs: an unchanged connection is never parsed.
        let need_body: Vec<&str> = classified
            .iter()
            .filter(|k| k.prev_hash.as_ref() != Some(&k.hash) || k.current_hash.as_ref() != Some(&k.hash))
            .map(|k| k.id.as_str())
            .collect();
        let need_prev: Vec<i64> = classified
            .iter()
            .filter(|k| k.prev_hash.is_some() && k.prev_hash.as_ref() != Some(&k.hash))
            .filter_map(|k| k.prev_version)
            .collect();
        let mut bodies: HashMap<String, String> = select_in!(c, need_body, |q| {
            q.push("SELECT connection_id, body FROM staged_connections WHERE run_id = ")
                .push_bind(run_id)
                .push(" AND connection_id");
        }, |row| (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?))
        .into_iter()
        .collect();
        let mut prev_bodies: HashMap<i64, String> = select_in!(c, need_prev, |q| {
            q.push("SELECT id, body FROM connection_versions WHERE id");
        }, |row| (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?))
        .into_iter()
        .collect();
        for k in &mut classified {
            k.body = bodies.remove(&k.id);
            k.prev_body = k.prev_version.and_then(|v| prev_bodies.remove(&v));
        }
        Ok(classified)
    })
}

/// One classified chunk: writes what changed in one batch, then versions, snapshot and records.
async fn apply_chunk(
    tx: &mut Tx,
    ctx: &RecordContext<'_>,
    scope_id: i64,
    seq: i64,
    batch: Vec<Classified>,
    counts: &mut RunCounts,
) -> anyhow::Result<()> {
    let mut changed: Vec<(Classified, VpnConnection, Value)> = Vec::new();
    for item in batch {
        let Some(body) = &item.body else {
            counts.unchanged += 1;
            continue;
        };
        let id = &item.id;
        let served: Value = serde_json::from_str(body)
            .with_context(|| format!("staged connection {id} is not JSON"))?;
        let conn = VpnConnection::from_json(&served)
            .with_context(|| format!("staged connection {id} is not an object"))?;
        let stored = conn.to_json();
        changed.push((item, conn, stored));
    }
    // Content another scope stored already needs no rewrite, only a place in this snapshot.
    let is_new_content =
        |item: &Classified| item.current_hash.as_deref() != Some(item.hash.as_str());
    let writes: Vec<ConnectionWrite> = changed
        .iter()
        .filter(|(item, ..)| is_new_content(item))
        .map(|(item, conn, _)| ConnectionWrite {
            conn,
            hash: &item.hash,
            stored_before: item.current_hash.is_some(),
        })
        .collect();
    write_connections(tx, ctx.scope, ctx.run_id, &writes).await?;

    let new_versions: Vec<NewVersion> = changed
        .iter()
        .filter(|(item, ..)| is_new_content(item))
        .map(|(item, _, stored)| NewVersion {
            id: &item.id,
            hash: &item.hash,
            body: stored.to_string(),
            replaces: item.current_hash.is_some(),
        })
        .collect();
    let shared: Vec<&str> = changed
        .iter()
        .filter(|(item, ..)| !is_new_content(item))
        .map(|(item, ..)| item.id.as_str())
        .collect();
    let version_of = versions(tx, ctx.scope, seq, &new_versions, &shared).await?;
    let version = |id: &str| {
        version_of
            .get(id)
            .copied()
            .with_context(|| format!("no current version of connection {id}"))
    };

    let mut members = Vec::new();
    let mut records = Vec::new();
    for (item, conn, stored) in &changed {
        let id = item.id.as_str();
        let version_id = version(id)?;
        if item.prev_version != Some(version_id) {
            members.push((id, version_id));
        }
        let name = conn.name.as_deref();
        match (item.prev_version, &item.prev_body) {
            (None, _) => {
                records.push(Record {
                    id,
                    name,
                    change: "added",
                    field: None,
                });
                counts.added += 1;
            }
            (Some(_), None) => counts.unchanged += 1,
            (Some(_), Some(prev_body)) => {
                debug_assert_ne!(item.prev_hash.as_deref(), Some(item.hash.as_str()));
                let previous: Value = serde_json::from_str(prev_body)
                    .with_context(|| format!("stored version of {id} is not JSON"))?;
                let changes = drift::diff(&previous, stored);
                if changes.is_empty() {
                    counts.unchanged += 1;
                } else {
                    counts.modified += 1;
                    records.extend(changes.into_iter().map(|change| Record {
                        id,
                        name,
                        change: "modified",
                        field: Some(change),
                    }));
                }
            }
        }
    }
    set_members(tx, scope_id, &members).await?;
    insert_records(tx, ctx, &records).await?;
    Ok(())
}

/// A version to open for a connection whose content is new to the inventory.
struct NewVersion<'a> {
    id: &'a str,
    hash: &'a str,
    body: String,
    /// Whether it replaces a current version (which is then closed).
    replaces: bool,
}

/// Opens `new` versions (closing those they replace) and looks up the current version of the
/// `shared` connections; returns connection id -> version id for both.
async fn versions(
    tx: &mut Tx,
    scope: &Scope,
    seq: i64,
    new: &[NewVersion<'_>],
    shared: &[&str],
) -> sqlx::Result<HashMap<String, i64>> {
    let replaced: Vec<&str> = new.iter().filter(|v| v.replaces).map(|v| v.id).collect();
    let mut version_of = HashMap::with_capacity(new.len() + shared.len());
    on_tx!(tx, c => {
        for chunk in replaced.chunks(MAX_PARAMS) {
            let mut query = sqlx::QueryBuilder::new("UPDATE connection_versions SET to_seq = ");
            query
                .push_bind(seq)
                .push(" WHERE endpoint = ")
                .push_bind(&scope.endpoint)
                .push(" AND project_id = ")
                .push_bind(&scope.project_id)
                .push(" AND to_seq IS NULL AND connection_id");
            push_in_list!(query, chunk);
            query.build().persistent(false).execute(&mut *c).await?;
        }
        for chunk in new.chunks(MAX_PARAMS / 6) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO connection_versions (endpoint, project_id, connection_id, content_hash,
                     body, from_seq) ",
            );
            query.push_values(chunk, |mut b, v| {
                b.push_bind(&scope.endpoint)
                    .push_bind(&scope.project_id)
                    .push_bind(v.id)
                    .push_bind(v.hash)
                    .push_bind(&v.body)
                    .push_bind(seq);
            });
            query.push(" RETURNING id, connection_id");
            for row in query.build().persistent(false).fetch_all(&mut *c).await? {
                version_of.insert(row.try_get("connection_id")?, row.try_get("id")?);
            }
        }
        for chunk in shared.chunks(MAX_PARAMS) {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, connection_id FROM connection_versions WHERE to_seq IS NULL AND endpoint = ",
            );
            query
                .push_bind(&scope.endpoint)
                .push(" AND project_id = ")
                .push_bind(&scope.project_id)
                .push(" AND connection_id");
            push_in_list!(query, chunk);
            for row in query.build().persistent(false).fetch_all(&mut *c).await? {
                version_of.insert(row.try_get("connection_id")?, row.try_get("id")?);
            }
        }
    });
    Ok(version_of)
}

/// Points the scope's snapshot at these versions.
async fn set_members(tx: &mut Tx, scope_id: i64, members: &[(&str, i64)]) -> sqlx::Result<()> {
    on_tx!(tx, c => {
        for chunk in members.chunks(MAX_PARAMS / 3) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO scope_connections (scope_id, connection_id, version_id) ",
            );
            query.push_values(chunk, |mut b, (id, version_id)| {
                b.push_bind(scope_id).push_bind(*id).push_bind(*version_id);
            });
            query.push(
                " ON CONFLICT (scope_id, connection_id) DO UPDATE SET version_id = excluded.version_id",
            );
            query.build().persistent(false).execute(&mut *c).await?;
        }
    });
    Ok(())
}

/// A change record to write.
struct Record<'a> {
    id: &'a str,
    name: Option<&'a str>,
    change: &'static str,
    field: Option<FieldChange>,
}

async fn insert_records(
    tx: &mut Tx,
    ctx: &RecordContext<'_>,
    records: &[Record<'_>],
) -> sqlx::Result<()> {
    on_tx!(tx, c => {
        insert_rows!(c, "INSERT INTO change_records (run_id, endpoint, project_id, connection_id,
                connection_name, change, category, field, old_value, new_value, detected_at) ",
            11, records, |b, r| {
                let field = r.field.as_ref();
                b.push_bind(ctx.run_id)
                    .push_bind(&ctx.scope.endpoint)
                    .push_bind(&ctx.scope.project_id)
                    .push_bind(r.id)
                    .push_bind(r.name)
                    .push_bind(r.change)
                    .push_bind(field.map_or(Category::Config, |f| f.category).as_str())
                    .push_bind(field.map(|f| f.field.as_str()))
                    .push_bind(field.and_then(|f| f.old.clone()))
                    .push_bind(field.and_then(|f| f.new.clone()))
                    .push_bind(ctx.detected_at);
            });
    });
    Ok(())
}

async fn record_removals(
    tx: &mut Tx,
    ctx: &RecordContext<'_>,
    scope_id: i64,
    seq: i64,
) -> sqlx::Result<u64> {
    let scope = ctx.scope;
    let mut removed = 0;
    let mut after = String::new();
    loop {
        let (gone, names): (Vec<String>, HashMap<String, Option<String>>) = on_tx!(&mut *tx, c => {
            let members: Vec<String> = sqlx::query(
                "SELECT connection_id FROM scope_connections
                 WHERE scope_id = $1 AND connection_id > $2 ORDER BY connection_id LIMIT $3",
            )
            .bind(scope_id)
            .bind(&after)
            .bind(APPLY_CHUNK)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<sqlx::Result<_>>()?;
            let Some(last) = members.last() else { break };
            after = last.clone();
            let seen: std::collections::HashSet<String> = select_in!(c, members, |q| {
                q.push("SELECT connection_id FROM staged_connections WHERE run_id = ")
                    .push_bind(ctx.run_id)
                    .push(" AND connection_id");
            }, |row| row.try_get::<String, _>(0)?)
            .into_iter()
            .collect();
            let gone: Vec<String> = members.into_iter().filter(|id| !seen.contains(id)).collect();
            let names = select_in!(c, gone, |q| {
                q.push("SELECT id, name FROM connections WHERE endpoint = ")
                    .push_bind(&scope.endpoint)
                    .push(" AND project_id = ")
                    .push_bind(&scope.project_id)
                    .push(" AND id");
            }, |row| (row.try_get::<String, _>(0)?, row.try_get::<Option<String>, _>(1)?))
            .into_iter()
            .collect();
            (gone, names)
        });
        if gone.is_empty() {
            continue;
        }
        let records: Vec<Record> = gone
            .iter()
            .map(|id| Record {
                id,
                name: names.get(id).and_then(|n| n.as_deref()),
                change: "removed",
                field: None,
            })
            .collect();
        insert_records(tx, ctx, &records).await?;
        removed += records.len() as u64;
        leave_snapshot(tx, scope, scope_id, seq, &gone).await?;
    }
    Ok(removed)
}

/// Drops `gone` from the scope's snapshot; those no scope of the project holds any more leave
/// the inventory (their current version is closed, so history keeps them).
async fn leave_snapshot(
    tx: &mut Tx,
    scope: &Scope,
    scope_id: i64,
    seq: i64,
    gone: &[String],
) -> sqlx::Result<()> {
    // Appended with the key column: "no scope of this project holds it any more".
    const UNHELD: &str = " AND NOT EXISTS (SELECT 1 FROM scope_connections m
        JOIN scopes sc ON sc.id = m.scope_id WHERE m.connection_id = ";
    on_tx!(tx, c => {
        for chunk in gone.chunks(MAX_PARAMS / 2) {
            let mut q = sqlx::QueryBuilder::new("DELETE FROM scope_connections WHERE scope_id = ");
            q.push_bind(scope_id).push(" AND connection_id");
            push_in_list!(q, chunk);
            q.build().persistent(false).execute(&mut *c).await?;

            let mut q = sqlx::QueryBuilder::new("UPDATE connection_versions SET to_seq = ");
            q.push_bind(seq)
                .push(" WHERE to_seq IS NULL AND endpoint = ")
                .push_bind(&scope.endpoint)
                .push(" AND project_id = ")
                .push_bind(&scope.project_id)
                .push(" AND connection_id");
            push_in_list!(q, chunk);
            q.push(UNHELD)
                .push("connection_versions.connection_id AND sc.endpoint = ")
                .push_bind(&scope.endpoint)
                .push(" AND sc.project_id = ")
                .push_bind(&scope.project_id)
                .push(")");
            q.build().persistent(false).execute(&mut *c).await?;

            let mut q = sqlx::QueryBuilder::new("DELETE FROM connections WHERE endpoint = ");
            q.push_bind(&scope.endpoint)
                .push(" AND project_id = ")
                .push_bind(&scope.project_id)
                .push(" AND id");
            push_in_list!(q, chunk);
            q.push(UNHELD)
                .push("connections.id AND sc.endpoint = ")
                .push_bind(&scope.endpoint)
                .push(" AND sc.project_id = ")
                .push_bind(&scope.project_id)
                .push(")");
            q.build().persistent(false).execute(&mut *c).await?;
        }
    });
    Ok(())
}

/// Clears the staging and marks the run complete.
async fn finish(tx: &mut Tx, run_id: i64, seq: i64, counts: &RunCounts) -> sqlx::Result<()> {
    on_tx!(tx, c => {
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
