//! Applying a completed sweep: the one transaction in which a run changes the inventory.
//!
//! For each staged connection, two comparisons by content hash decide the work:
//! - against the *scope's* previous snapshot (`scope_connections`): what this scope records;
//!   the verdict (added, modified field by field, unchanged) is `drift::judge`'s;
//! - against the *current* inventory row: whether the normalized rows and a new entry in
//!   `connection_versions` must be written. An unchanged connection is not touched at all.
//!
//! Then the scope's members that the sweep lacked are recorded as removed, and connections no
//! scope holds any more leave the inventory (their last version is closed, so history keeps
//! them). Everything is chunked by connection id so memory stays flat. Every lookup goes by
//! explicit keys (`select_in`): PostgreSQL plans joins on statistics that a big apply makes
//! stale, and a mis-planned join turned a 20,000-connection apply quadratic.

use super::error::{Result, StoreError, inconsistent};
use super::runs::{RunStatus, clear_staging, count};
use super::sql::{Cell, MAX_PARAMS, Row, Sql};
use super::tables::{CHANGE_RECORDS, NewRow};
use super::write::{ConnectionWrite, write_connections};
use super::{ChangeRecord, RunCounts, Store, Tx};
use crate::api::model::{FieldValue, VpnConnection};
use crate::drift::{self, Category, ChangeKind, FieldChange, Previous, RemovalGuard, Verdict};
use crate::scope::Scope;
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// What applying a sweep did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub counts: RunCounts,
    /// Why no removals were inferred; `None` when they were.
    pub removals_skipped: Option<String>,
}

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

impl Classified {
    /// Content the inventory does not hold yet: rows and a version must be written.
    fn is_new_content(&self) -> bool {
        self.current_hash.as_deref() != Some(self.hash.as_str())
    }
}

impl Store {
    /// Applies a completed sweep in `tx` (from [`Store::begin_apply`]) and marks the run
    /// complete. With
    /// `doubt` (the reason), or when `guard` finds the removals implausible, the sweep is not
    /// trusted to remove anything: what it saw is stored, connections it lacked stay.
    pub async fn complete_run(
        &self,
        mut tx: Tx,
        run_id: i64,
        scope_id: i64,
        scope: &Scope,
        doubt: Option<String>,
        guard: RemovalGuard,
    ) -> Result<Applied> {
        // Another process that took the scope's lock marks a run it finds `running` as
        // abandoned: then this process lost its lock (a killed session, say) and must not
        // apply. Checked first to save the work, and again by `finish`, atomically.
        let sql = Sql::new("SELECT status FROM sync_runs WHERE id = $1").arg(run_id);
        let status: String = tx.fetch_one(sql).await?.at(0)?;
        if status != RunStatus::Running.as_str() {
            return Err(StoreError::NotRunning { run_id, status });
        }
        let next_seq = Sql::new("SELECT COALESCE(MAX(apply_seq), 0) + 1 FROM sync_runs");
        let seq: i64 = tx.fetch_one(next_seq).await?.at(0)?;
        let ctx = RecordContext {
            run_id,
            scope,
            detected_at: now_utc(),
        };
        let held_before = Sql::new("SELECT COUNT(*) FROM scope_connections WHERE scope_id = $1");
        let held: i64 = tx.fetch_one(held_before.arg(scope_id)).await?.at(0)?;
        let (mut counts, mut seen_held) = (RunCounts::default(), 0);
        let mut after = String::new();
        loop {
            let batch = classify(&mut tx, run_id, scope_id, scope, &after).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            seen_held += count(batch.iter().filter(|k| k.prev_version.is_some()).count());
            apply_chunk(&mut tx, &ctx, scope_id, seq, batch, &mut counts).await?;
        }
        let removals_skipped = doubt.or_else(|| guard.doubt(held, held - seen_held));
        if removals_skipped.is_none() {
            counts.removed = record_removals(&mut tx, &ctx, scope_id, seq).await?;
        }
        finish(&mut tx, run_id, seq, &counts, removals_skipped.as_deref()).await?;
        tx.commit().await?;
        Ok(Applied {
            counts,
            removals_skipped,
        })
    }
}

/// Runs the statement `prefix` builds, completed with ` IN (...)` over chunks of `keys`, and
/// returns every row.
async fn select_in<K>(tx: &mut Tx, prefix: impl Fn() -> Sql, keys: &[K]) -> Result<Vec<Row>>
where
    K: Clone + Into<Cell>,
{
    let mut rows = Vec::new();
    for chunk in keys.chunks(MAX_PARAMS / 2) {
        let mut sql = prefix();
        sql.push_in_list(chunk.iter().cloned());
        rows.extend(tx.fetch_all(sql).await?);
    }
    Ok(rows)
}

/// The first two columns of `rows` as a map.
fn pairs<K, V>(rows: &[Row]) -> Result<HashMap<K, V>>
where
    K: super::sql::Decoded + std::hash::Hash + Eq,
    V: super::sql::Decoded,
{
    rows.iter()
        .map(|row| Ok((row.at(0)?, row.at(1)?)))
        .collect()
}

/// `SELECT <columns> FROM <table> WHERE endpoint = $1 AND project_id = $2 AND <key>`: rows of
/// the scope's project, to be completed with an ` IN (...)` list.
fn of_project(scope: &Scope, select: &str) -> Sql {
    let mut sql = Sql::new("");
    sql.push(select)
        .push(" WHERE endpoint = ")
        .bind(&scope.endpoint)
        .push(" AND project_id = ")
        .bind(&scope.project_id);
    sql
}

async fn classify(
    tx: &mut Tx,
    run_id: i64,
    scope_id: i64,
    scope: &Scope,
    after: &str,
) -> Result<Vec<Classified>> {
    let sql = Sql::new(
        "SELECT connection_id, content_hash FROM staged_connections
         WHERE run_id = $1 AND connection_id > $2 ORDER BY connection_id LIMIT $3",
    )
    .arg(run_id)
    .arg(after)
    .arg(APPLY_CHUNK);
    let staged: Vec<(String, String)> = tx
        .fetch_all(sql)
        .await?
        .iter()
        .map(|row| Ok((row.at(0)?, row.at(1)?)))
        .collect::<Result<_>>()?;
    let ids: Vec<&str> = staged.iter().map(|(id, _)| id.as_str()).collect();

    let members = || {
        let mut sql = Sql::new("SELECT connection_id, version_id FROM scope_connections");
        sql.push(" WHERE scope_id = ")
            .bind(scope_id)
            .push(" AND connection_id");
        sql
    };
    let members: HashMap<String, i64> = pairs(&select_in(tx, members, &ids).await?)?;
    let version_ids: Vec<i64> = members.values().copied().collect();
    let versions = || Sql::new("SELECT id, content_hash FROM connection_versions WHERE id");
    let prev_hashes: HashMap<i64, String> = pairs(&select_in(tx, versions, &version_ids).await?)?;
    let current = || {
        let mut sql = of_project(scope, "SELECT id, content_hash FROM connections");
        sql.push(" AND id");
        sql
    };
    let current: HashMap<String, String> = pairs(&select_in(tx, current, &ids).await?)?;

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
        .filter(|k| k.prev_hash.as_ref() != Some(&k.hash) || k.is_new_content())
        .map(|k| k.id.as_str())
        .collect();
    let need_prev: Vec<i64> = classified
        .iter()
        .filter(|k| k.prev_hash.is_some() && k.prev_hash.as_ref() != Some(&k.hash))
        .filter_map(|k| k.prev_version)
        .collect();
    let bodies = || {
        let mut sql = Sql::new("SELECT connection_id, body FROM staged_connections");
        sql.push(" WHERE run_id = ")
            .bind(run_id)
            .push(" AND connection_id");
        sql
    };
    let mut bodies: HashMap<String, String> = pairs(&select_in(tx, bodies, &need_body).await?)?;
    let prev = || Sql::new("SELECT id, body FROM connection_versions WHERE id");
    let mut prev_bodies: HashMap<i64, String> = pairs(&select_in(tx, prev, &need_prev).await?)?;
    for k in &mut classified {
        k.body = bodies.remove(&k.id);
        k.prev_body = k.prev_version.and_then(|v| prev_bodies.remove(&v));
    }
    Ok(classified)
}

/// A staged connection whose served body was read: the model, and the JSON it is stored as.
struct Served {
    item: Classified,
    conn: VpnConnection,
    stored: Value,
}

/// One classified chunk: writes what changed in one batch, then versions, snapshot and records.
async fn apply_chunk(
    tx: &mut Tx,
    ctx: &RecordContext<'_>,
    scope_id: i64,
    seq: i64,
    batch: Vec<Classified>,
    counts: &mut RunCounts,
) -> Result<()> {
    let mut changed: Vec<Served> = Vec::new();
    for item in batch {
        let Some(body) = &item.body else {
            counts.unchanged += 1;
            continue;
        };
        let id = &item.id;
        let conn = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|served| VpnConnection::from_json(&served))
            .ok_or_else(|| inconsistent(format!("staged connection {id} is no JSON object")))?;
        let stored = conn.to_json();
        changed.push(Served { item, conn, stored });
    }
    // Content another scope stored already needs no rewrite, only a place in this snapshot.
    let writes: Vec<ConnectionWrite> = changed
        .iter()
        .filter(|s| s.item.is_new_content())
        .map(|s| ConnectionWrite {
            conn: &s.conn,
            hash: &s.item.hash,
            stored_before: s.item.current_hash.is_some(),
        })
        .collect();
    write_connections(tx, ctx.scope, ctx.run_id, &writes).await?;
    let version_of = versions(tx, ctx.scope, seq, &changed).await?;

    let mut members = Vec::new();
    let mut records = Vec::new();
    for Served { item, conn, stored } in &changed {
        let id = item.id.as_str();
        let version_id = version_of
            .get(id)
            .copied()
            .ok_or_else(|| inconsistent(format!("no current version of connection {id}")))?;
        if item.prev_version != Some(version_id) {
            members.push((id, version_id));
        }
        let prev_body: Option<Value> = item
            .prev_body
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| inconsistent(format!("stored version of {id} is not JSON: {e}")))?;
        let previous = match (item.prev_version, &prev_body) {
            (None, _) => Previous::Absent,
            (Some(_), None) => Previous::Same,
            (Some(_), Some(body)) => Previous::Other(body),
        };
        let name = conn.name.as_deref();
        match drift::judge(previous, stored) {
            Verdict::Added => {
                records.push(ctx.record(id, name, ChangeKind::Added, None));
                counts.added += 1;
            }
            Verdict::Unchanged => counts.unchanged += 1,
            Verdict::Modified(changes) => {
                counts.modified += 1;
                if changes.iter().any(|c| c.category == Category::Config) {
                    counts.modified_config += 1;
                }
                let modified = changes
                    .into_iter()
                    .map(|c| ctx.record(id, name, ChangeKind::Modified, Some(c)));
                records.extend(modified);
            }
        }
    }
    set_members(tx, scope_id, &members).await?;
    insert_records(tx, ctx.scope, &records).await?;
    Ok(())
}

/// Opens a version for each connection of `changed` whose content is new to the inventory
/// (closing the one it replaces), and looks up the current version of the others; returns
/// connection id -> version id for all.
async fn versions(
    tx: &mut Tx,
    scope: &Scope,
    seq: i64,
    changed: &[Served],
) -> Result<HashMap<String, i64>> {
    let (new, shared): (Vec<&Served>, Vec<&Served>) =
        changed.iter().partition(|s| s.item.is_new_content());
    let replaced: Vec<&str> = new
        .iter()
        .filter(|s| s.item.current_hash.is_some())
        .map(|s| s.item.id.as_str())
        .collect();
    for chunk in replaced.chunks(MAX_PARAMS / 2) {
        tx.execute(close_versions(scope, seq, chunk)).await?;
    }
    let mut version_of = HashMap::with_capacity(changed.len());
    for chunk in new.chunks(MAX_PARAMS / 6) {
        let mut sql = Sql::new(
            "INSERT INTO connection_versions (endpoint, project_id, connection_id, content_hash,
                 body, from_seq) ",
        );
        sql.push_values(chunk.iter().map(|s| {
            vec![
                Cell::from(&scope.endpoint),
                Cell::from(&scope.project_id),
                Cell::from(&s.item.id),
                Cell::from(&s.item.hash),
                Cell::from(s.stored.to_string().as_str()),
                Cell::from(seq),
            ]
        }));
        sql.push(" RETURNING connection_id, id");
        version_of.extend(pairs::<String, i64>(&tx.fetch_all(sql).await?)?);
    }
    let shared: Vec<&str> = shared.iter().map(|s| s.item.id.as_str()).collect();
    let current = || {
        let mut sql = of_project(scope, "SELECT connection_id, id FROM connection_versions");
        sql.push(" AND to_seq IS NULL AND connection_id");
        sql
    };
    version_of.extend(pairs::<String, i64>(
        &select_in(tx, current, &shared).await?,
    )?);
    Ok(version_of)
}

/// Ends the current versions of the connections `ids` of the scope's project at apply `seq`.
fn close_versions<K: Clone + Into<Cell>>(scope: &Scope, seq: i64, ids: &[K]) -> Sql {
    let mut sql = Sql::new("UPDATE connection_versions SET to_seq = ");
    sql.bind(seq)
        .push(" WHERE to_seq IS NULL AND endpoint = ")
        .bind(&scope.endpoint)
        .push(" AND project_id = ")
        .bind(&scope.project_id)
        .push(" AND connection_id")
        .push_in_list(ids.iter().cloned());
    sql
}

/// Points the scope's snapshot at these versions.
async fn set_members(tx: &mut Tx, scope_id: i64, members: &[(&str, i64)]) -> Result<()> {
    for chunk in members.chunks(MAX_PARAMS / 3) {
        let mut sql =
            Sql::new("INSERT INTO scope_connections (scope_id, connection_id, version_id) ");
        sql.push_values(chunk.iter().map(|(id, version_id)| {
            vec![
                Cell::from(scope_id),
                Cell::from(*id),
                Cell::from(*version_id),
            ]
        }));
        sql.push(
            " ON CONFLICT (scope_id, connection_id) DO UPDATE SET version_id = excluded.version_id",
        );
        tx.execute(sql).await?;
    }
    Ok(())
}

impl RecordContext<'_> {
    /// A change record of this run; `field` only for a modification.
    fn record(
        &self,
        id: &str,
        name: Option<&str>,
        change: ChangeKind,
        field: Option<FieldChange>,
    ) -> ChangeRecord {
        let (field, category, old, new) = match field {
            None => (None, Category::Config, None, None),
            Some(f) => (Some(f.field), f.category, f.old, f.new),
        };
        ChangeRecord {
            run_id: self.run_id,
            connection_id: id.to_owned(),
            connection_name: name.map(str::to_owned),
            change,
            category,
            field,
            old: old.unwrap_or_default(),
            new: new.unwrap_or_default(),
            detected_at: self.detected_at,
        }
    }
}

async fn insert_records(tx: &mut Tx, scope: &Scope, records: &[ChangeRecord]) -> Result<()> {
    let context = || vec![Cell::from(&scope.endpoint), Cell::from(&scope.project_id)];
    let rows: Vec<NewRow<ChangeRecord>> = records.iter().map(|r| (context(), r)).collect();
    for sql in CHANGE_RECORDS.inserts(&rows) {
        tx.execute(sql).await?;
    }
    Ok(())
}

async fn record_removals(
    tx: &mut Tx,
    ctx: &RecordContext<'_>,
    scope_id: i64,
    seq: i64,
) -> Result<i64> {
    let scope = ctx.scope;
    let mut removed = 0;
    let mut after = String::new();
    loop {
        let sql = Sql::new(
            "SELECT connection_id FROM scope_connections
             WHERE scope_id = $1 AND connection_id > $2 ORDER BY connection_id LIMIT $3",
        )
        .arg(scope_id)
        .arg(after.as_str())
        .arg(APPLY_CHUNK);
        let members: Vec<String> = tx
            .fetch_all(sql)
            .await?
            .iter()
            .map(|row| row.at(0))
            .collect::<sqlx::Result<_>>()?;
        let Some(last) = members.last() else { break };
        after = last.clone();
        let staged = || {
            let mut sql = Sql::new("SELECT connection_id FROM staged_connections WHERE run_id = ");
            sql.bind(ctx.run_id).push(" AND connection_id");
            sql
        };
        let seen: HashSet<String> = select_in(tx, staged, &members)
            .await?
            .iter()
            .map(|row| row.at(0))
            .collect::<sqlx::Result<_>>()?;
        let gone: Vec<String> = members
            .into_iter()
            .filter(|id| !seen.contains(id))
            .collect();
        if gone.is_empty() {
            continue;
        }
        let names = || {
            let mut sql = of_project(scope, "SELECT id, name FROM connections");
            sql.push(" AND id");
            sql
        };
        let names: HashMap<String, Option<String>> = pairs(&select_in(tx, names, &gone).await?)?;
        let records: Vec<ChangeRecord> = gone
            .iter()
            .map(|id| {
                let name = names.get(id).and_then(|n| n.as_deref());
                ctx.record(id, name, ChangeKind::Removed, None)
            })
            .collect();
        insert_records(tx, scope, &records).await?;
        removed += count(records.len());
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
) -> Result<()> {
    // "No scope of this project holds it any more", completed with the key column.
    let unheld = |sql: &mut Sql, key: &str| {
        sql.push(
            " AND NOT EXISTS (SELECT 1 FROM scope_connections m
                 JOIN scopes sc ON sc.id = m.scope_id WHERE m.connection_id = ",
        )
        .push(key)
        .push(" AND sc.endpoint = ")
        .bind(&scope.endpoint)
        .push(" AND sc.project_id = ")
        .bind(&scope.project_id)
        .push(")");
    };
    for chunk in gone.chunks(MAX_PARAMS / 2) {
        let mut sql = Sql::new("DELETE FROM scope_connections WHERE scope_id = ");
        sql.bind(scope_id)
            .push(" AND connection_id")
            .push_in_list(chunk);
        tx.execute(sql).await?;

        let mut sql = close_versions(scope, seq, chunk);
        unheld(&mut sql, "connection_versions.connection_id");
        tx.execute(sql).await?;

        let mut sql = of_project(scope, "DELETE FROM connections");
        sql.push(" AND id").push_in_list(chunk);
        unheld(&mut sql, "connections.id");
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Clears the staging and marks the run complete.
async fn finish(
    tx: &mut Tx,
    run_id: i64,
    seq: i64,
    counts: &RunCounts,
    skip_removals: Option<&str>,
) -> Result<()> {
    clear_staging(tx, run_id).await?;
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
    .arg(skip_removals)
    .arg(RunStatus::Running.as_str());
    if tx.execute(sql).await? == 0 {
        // Abandoned meanwhile by another process: returning drops (rolls back) the apply.
        let status = RunStatus::Failed.as_str().to_owned();
        return Err(StoreError::NotRunning { run_id, status });
    }
    Ok(())
}
