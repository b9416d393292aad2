//! Applying a completed sweep: the one transaction in which a run changes the inventory.
//!
//! There is one inventory per project, and every run observes part of it. Each staged
//! connection is compared with the inventory's *current* version, whichever run stored it:
//! - not held: `added`; held with other content: `modified` field by field (`drift::judge`),
//!   or no record when only what is never a change differs; the same content: nothing;
//! - held with a *newer* observation (another run fetched it after this one did): nothing at
//!   all, so an older sweep never overwrites a newer one.
//!
//! Then the connections the run's scope selects (`removals`) that the sweep lacked are removed,
//! unless the sweep is in doubt. Everything is chunked by connection id so memory stays flat,
//! and every lookup goes by explicit keys (`select_in`): PostgreSQL plans joins on statistics
//! that a big apply makes stale, and a mis-planned join turned a 20,000-connection apply
//! quadratic.

use super::connections::current_bodies;
use super::error::{Result, StoreError, inconsistent};
use super::removals::{Absent, Judged, Removals, absent, remove};
use super::runs::{RunStatus, clear_staging, count, origin, prune_staging, sweep_chain};
use super::sql::{Cell, IdKey, MAX_PARAMS, Row, Sql, id_keys};
use super::tables::{
    BGP_PEERS, CHANGE_RECORDS, CONNECTIONS, IKE_POLICIES, IPSEC_POLICIES, NewRow, PEER_SUBNETS,
    POLICY_RULE_DESTINATIONS, POLICY_RULES, TAGS,
};
use super::write::{ConnectionWrite, write_connections};
use super::{ApplyTx, ChangeRecord, RunCounts, Store, Tx};
use crate::api::model::{FieldValue, VpnConnection};
use crate::drift::{self, Category, ChangeKind, FieldChange, Previous, Verdict};
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
    /// Served connections left alone because another run had observed them later.
    pub older_than_stored: i64,
}

/// The tables an apply fills: where they were empty, their indexes are built after
/// (`Tx::defer_indexes`).
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

/// How many staged connections are classified per query while most of them are new: each is
/// read, judged and written, and the chunks in flight are most of the apply's memory.
const NEW_CHUNK: i64 = 500;

/// How many connections are read per query where little is held per connection: staged ones
/// while most are unchanged (a chunk then costs its queries, not its size), and the stored
/// ones the removals go through. 2,000 instead of 500 took 0.6 s off the 2.8 s apply of an
/// unchanged re-sync of 100,000 connections.
pub(super) const APPLY_CHUNK: i64 = 2000;

/// Everything a run's change records and writes share.
pub(super) struct RunContext<'a> {
    pub run_id: i64,
    pub scope_id: i64,
    pub scope: &'a Scope,
    pub seq: i64,
    pub stamp: RecordStamp,
    /// When the run's sweep started (a resumed run's: when the run it resumed started): a
    /// connection observed after it cannot be judged by its sweep.
    pub started_at: DateTime<Utc>,
    /// When each staged page was fetched: the observation time of its connections.
    page_times: HashMap<i64, DateTime<Utc>>,
    /// Another run of the project is sweeping: it may apply older observations after this
    /// one, so even unchanged connections record that they were seen now.
    concurrent: bool,
    /// Whether the project's inventory, and the scope's previous result, held anything when
    /// the apply began. Applies are serialized and each chunk holds other ids, so when they
    /// held nothing no chunk can find anything there: a first sync skips its lookups (which
    /// on PostgreSQL are planned on the statistics of tables this very apply is filling).
    inventory_held: bool,
    scope_held: bool,
}

impl RunContext<'_> {
    /// Whether the scope keeps what it returned (`scope_connections`): only a filtered scope,
    /// whose removals may need it. An unfiltered one selects the project's whole inventory.
    fn keeps_result(&self) -> bool {
        !self.scope.filters.is_empty()
    }
}

/// One staged connection, with what the inventory holds of it.
struct Classified {
    id: String,
    hash: String,
    observed_at: DateTime<Utc>,
    /// The served body: only when its content is new to the inventory.
    body: Option<String>,
    current: Option<Current>,
    /// The inventory's current version of it, as its rows read back (`export`'s JSON): only
    /// when the content differs.
    current_body: Option<String>,
    member: bool,
}

/// A connection as the inventory holds it.
struct Current {
    hash: String,
    observed_at: DateTime<Utc>,
}

impl Classified {
    /// Another run observed this connection after this run did.
    fn is_older_than_stored(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| self.observed_at < c.observed_at)
    }

    /// Content the inventory does not hold: rows and a version must be written.
    fn is_new_content(&self) -> bool {
        !self.is_older_than_stored()
            && self.current.as_ref().map(|c| c.hash.as_str()) != Some(self.hash.as_str())
    }
}

impl Store {
    /// Applies a completed sweep in `tx` (from [`Store::begin_apply`]) and marks the run
    /// complete. Of the connections the sweep lacked, `removals` says which it may remove:
    /// with a doubt, or when its guard finds them implausible, none (what the sweep saw is
    /// stored, connections it lacked stay).
    pub async fn complete_run(
        &self,
        apply: ApplyTx,
        run_id: i64,
        scope_id: i64,
        scope: &Scope,
        removals: Removals,
    ) -> Result<Applied> {
        // Held until the apply ends: the lock serializing applies goes with it.
        let ApplyTx {
            mut tx,
            _serialized,
        } = apply;
        // Another process that took the scope's lock marks a run it finds `running` as
        // abandoned: then this process lost its lock (a killed session, say) and must not
        // apply. Checked first to save the work, and again by `finish`, atomically.
        let sql = Sql::new("SELECT status FROM sync_runs WHERE id = $1").arg(run_id);
        let status: String = tx.fetch_one(sql).await?.at(0)?;
        if status != RunStatus::Running.as_str() {
            return Err(StoreError::NotRunning { run_id, status });
        }
        // A resumed run's sweep started with the run it resumed.
        let origin = origin(&tx.fetch_all(sweep_chain(run_id)).await?)?;
        let next_seq = Sql::new("SELECT COALESCE(MAX(apply_seq), 0) + 1 FROM sync_runs");
        let ctx = RunContext {
            run_id,
            scope_id,
            scope,
            seq: tx.fetch_one(next_seq).await?.at(0)?,
            stamp: RecordStamp {
                run_id,
                detected_at: now_utc(),
            },
            started_at: origin.started_at,
            page_times: page_times(&mut tx, run_id).await?,
            concurrent: others_running(&mut tx, run_id, scope).await?,
            inventory_held: holds_any(&mut tx, "connections", "project_id", &scope.project_id)
                .await?,
            scope_held: holds_any(&mut tx, "scope_connections", "scope_id", scope_id).await?,
        };
        // What the scope selects is judged on the inventory as it was before this run.
        let judged = Judged {
            run_id,
            scope_id,
            scope,
        };
        let Absent { held, gone } = absent(&mut tx, &judged).await?;

        let deferred = tx.defer_indexes(&FILLED).await?;
        let (mut counts, mut older_than_stored) = (RunCounts::default(), 0);
        // A chunk is read and judged while the chunk before it is written: two cores busy
        // instead of one. Chunks hold distinct ids, so writing one cannot change how the next
        // was classified.
        let mut after = String::new();
        let mut ready: Option<Prepared> = None;
        let mut limit = NEW_CHUNK;
        loop {
            let (batch, last) = classify(&mut tx, &ctx, &after, limit).await?;
            if let Some(last) = last {
                after = last;
            }
            // The next chunk is as large as this one's share of new content allows.
            let new = batch.iter().filter(|k| k.is_new_content()).count();
            limit = match new * 4 <= batch.len() {
                true => APPLY_CHUNK,
                false => NEW_CHUNK,
            };
            older_than_stored += count(batch.iter().filter(|k| k.is_older_than_stored()).count());
            let preparing = async {
                match batch.is_empty() {
                    true => Ok(None),
                    false => prepare_apart(batch, ctx.stamp).await.map(Some),
                }
            };
            let writing = async {
                match ready.take() {
                    Some(prepared) => write_chunk(&mut tx, &ctx, prepared, &mut counts).await,
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
        tx.restore_indexes(deferred).await?;
        let (removing, kept): (Vec<_>, Vec<_>) = gone
            .iter()
            .filter(|g| g.observed_at < ctx.started_at)
            .partition(|g| removals.removable.allows(&g.id));
        if !kept.is_empty() {
            tracing::debug!(
                run_id,
                "kept {} lacked connections not confirmed gone",
                kept.len()
            );
        }
        let Removals { doubt, guard, .. } = removals;
        let removals_skipped = doubt.or_else(|| guard.doubt(held, count(removing.len())));
        if removals_skipped.is_none() {
            counts.removed = remove(&mut tx, &ctx, &removing).await?;
            // The scope's result is what it returned: the rest leaves its selection.
            if ctx.keeps_result() {
                let ids: Vec<&str> = gone.iter().map(|g| g.id.as_str()).collect();
                forget_members(&mut tx, scope_id, &ids).await?;
            }
        }
        finish(&mut tx, &ctx, &counts, removals_skipped.as_deref()).await?;
        tx.commit().await?;
        if let Err(e) = self.tidy_after_apply(&counts).await {
            tracing::warn!(run_id, "cannot vacuum or analyze after the apply: {e}");
        }
        Ok(Applied {
            counts,
            removals_skipped,
            older_than_stored,
        })
    }
}

/// Whether `table` has a row whose `column` is `value`.
async fn holds_any(tx: &mut Tx, table: &str, column: &str, value: impl Into<Cell>) -> Result<bool> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM ");
    sql.push(table).push(" WHERE ").push(column).push(" = ");
    sql.bind(value).push(" LIMIT 1) AS held");
    Ok(tx.fetch_one(sql).await?.at::<i64>(0)? > 0)
}

/// When each page of the run was fetched.
async fn page_times(tx: &mut Tx, run_id: i64) -> Result<HashMap<i64, DateTime<Utc>>> {
    let sql = Sql::new("SELECT page_no, fetched_at FROM staged_pages WHERE run_id = $1");
    pairs(&tx.fetch_all(sql.arg(run_id)).await?)
}

/// Whether another run of the scope's project is sweeping now.
async fn others_running(tx: &mut Tx, run_id: i64, scope: &Scope) -> Result<bool> {
    let sql = Sql::new(
        "SELECT COUNT(*) FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
         WHERE s.project_id = $1 AND r.status = $2 AND r.id <> $3",
    )
    .arg(&scope.project_id)
    .arg(RunStatus::Running.as_str())
    .arg(run_id);
    let running: i64 = tx.fetch_one(sql).await?.at(0)?;
    Ok(running > 0)
}

/// Runs the statement `prefix` builds, completed with ` IN (...)` over chunks of `keys`, and
/// returns every row.
pub(super) async fn select_in<K>(
    tx: &mut Tx,
    prefix: impl Fn() -> Sql,
    keys: &[K],
) -> Result<Vec<Row>>
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
pub(super) fn pairs<K, V>(rows: &[Row]) -> Result<HashMap<K, V>>
where
    K: super::sql::Decoded + std::hash::Hash + Eq,
    V: super::sql::Decoded,
{
    rows.iter()
        .map(|row| Ok((row.at(0)?, row.at(1)?)))
        .collect()
}

/// `<select> WHERE project_id = $1`: rows of the scope's project, to be completed with
/// ` AND <key>` and an ` IN (...)` list.
pub(super) fn of_project(scope: &Scope, select: &str) -> Sql {
    let mut sql = Sql::new("");
    sql.push(select)
        .push(" WHERE project_id = ")
        .bind(&scope.project_id);
    sql
}

/// The ids of `ids` that `prefix` (completed with ` IN (...)` over their keys) returns.
pub(super) async fn existing(
    tx: &mut Tx,
    prefix: impl Fn() -> Sql,
    ids: &[&str],
) -> Result<HashSet<String>> {
    let rows = select_in(tx, prefix, &id_keys(ids)).await?;
    Ok(rows
        .iter()
        .map(|row| row.at(0))
        .collect::<sqlx::Result<_>>()?)
}

/// `SELECT connection_id FROM staged_connections WHERE run_id = ... AND connection_key`.
pub(super) fn staged_ids(run_id: i64) -> impl Fn() -> Sql {
    move || {
        let mut sql = Sql::new("SELECT connection_id FROM staged_connections WHERE run_id = ");
        sql.bind(run_id).push(" AND connection_key");
        sql
    }
}

/// `SELECT connection_id FROM scope_connections WHERE scope_id = ... AND connection_key`.
pub(super) fn member_ids(scope_id: i64) -> impl Fn() -> Sql {
    move || {
        let mut sql = Sql::new("SELECT connection_id FROM scope_connections WHERE scope_id = ");
        sql.bind(scope_id).push(" AND connection_key");
        sql
    }
}

/// The next `limit` of the run's staged connections after the key `after` (keyset order by
/// `connection_key`, which a btree index holds whatever the id's length), classified; and the
/// key of its last one.
async fn classify(
    tx: &mut Tx,
    ctx: &RunContext<'_>,
    after: &str,
    limit: i64,
) -> Result<(Vec<Classified>, Option<String>)> {
    let sql = Sql::new(
        "SELECT connection_id, content_hash, page_no, connection_key FROM staged_connections
         WHERE run_id = $1 AND connection_key > $2 ORDER BY connection_key LIMIT $3",
    )
    .arg(ctx.run_id)
    .arg(after)
    .arg(limit);
    let staged = tx.fetch_all(sql).await?;
    let ids: Vec<String> = staged
        .iter()
        .map(|row| row.at(0))
        .collect::<sqlx::Result<_>>()?;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();

    let current = || {
        let mut sql = of_project(
            ctx.scope,
            "SELECT id, content_hash, observed_at FROM connections",
        );
        sql.push(" AND id_key");
        sql
    };
    let held_ids = if ctx.inventory_held { &ids[..] } else { &[] };
    let mut current: HashMap<String, Current> = select_in(tx, current, &id_keys(held_ids))
        .await?
        .iter()
        .map(|row| {
            let current = Current {
                hash: row.at(1)?,
                observed_at: row.at(2)?,
            };
            Ok((row.at(0)?, current))
        })
        .collect::<Result<_>>()?;
    let member_ids_held = if ctx.scope_held { &ids[..] } else { &[] };
    let members = existing(tx, member_ids(ctx.scope_id), member_ids_held).await?;

    let mut classified = Vec::with_capacity(staged.len());
    for row in &staged {
        let (id, page_no): (String, i64) = (row.at(0)?, row.at(2)?);
        let observed_at = *ctx
            .page_times
            .get(&page_no)
            .ok_or_else(|| inconsistent(format!("staged page {page_no} is missing")))?;
        classified.push(Classified {
            hash: row.at(1)?,
            observed_at,
            body: None,
            current: current.remove(&id),
            current_body: None,
            member: members.contains(&id),
            id,
        });
    }
    // Bodies only where the content is new: an unchanged connection is never parsed.
    let need_body: Vec<&str> = classified
        .iter()
        .filter(|k| k.is_new_content())
        .map(|k| k.id.as_str())
        .collect();
    let bodies = || {
        let mut sql = Sql::new("SELECT connection_id, body FROM staged_connections");
        sql.push(" WHERE run_id = ")
            .bind(ctx.run_id)
            .push(" AND connection_key");
        sql
    };
    let mut bodies: HashMap<String, Option<String>> =
        pairs(&select_in(tx, bodies, &id_keys(&need_body)).await?)?;
    let need_current: Vec<&str> = classified
        .iter()
        .filter(|k| k.is_new_content() && k.current.is_some())
        .map(|k| k.id.as_str())
        .collect();
    let mut current_bodies = current_bodies(tx, &ctx.scope.project_id, &need_current).await?;
    for k in &mut classified {
        k.body = match bodies.remove(&k.id) {
            Some(Some(body)) => Some(body),
            // Staged without its body, the inventory holding this content then: another run
            // has changed it since, and the content is among its versions.
            Some(None) => Some(held_body(tx, ctx.scope, &k.id, &k.hash).await?),
            None => None,
        };
        k.current_body = current_bodies.remove(&k.id);
    }
    let last = staged.last().map(|row| row.at(3)).transpose()?;
    Ok((classified, last))
}

/// The body of the version of connection `id` with content `hash`. It is asked for only when
/// the inventory now holds other content, so that version has ended and archived its body.
async fn held_body(tx: &mut Tx, scope: &Scope, id: &str, hash: &str) -> Result<String> {
    let sql = Sql::new(
        "SELECT body FROM connection_versions
         WHERE project_id = $1 AND connection_id = $2 AND content_hash = $3
             AND body IS NOT NULL
         ORDER BY from_seq DESC LIMIT 1",
    )
    .arg(&scope.project_id)
    .arg(id)
    .arg(hash);
    match tx.fetch_all(sql).await?.first() {
        Some(row) => Ok(row.at(0)?),
        None => Err(inconsistent(format!(
            "connection {id} was staged as the inventory held it, and that version is gone \
             (pruned meanwhile?): sync again"
        ))),
    }
}

/// A staged connection whose served body was read: the model, and the body of the version it
/// replaces, which is archived as that version closes (the served body, parsed already, is
/// dropped: a chunk of them held in memory is most of the apply's peak).
struct Served {
    item: Classified,
    conn: VpnConnection,
    replaced: Option<String>,
}

/// A classified chunk made ready to write: the connections whose content is new, read and
/// judged, with their change records. Computed without the database, so that it runs while
/// the chunk before it is being written (`complete_run`).
struct Prepared {
    /// The chunk's connections whose content the inventory holds (or holds newer).
    same: Vec<Classified>,
    changed: Vec<Served>,
    records: Vec<ChangeRecord>,
    counts: RunCounts,
}

/// What stamps a run's change records.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecordStamp {
    run_id: i64,
    detected_at: DateTime<Utc>,
}

/// Reads the served bodies of what is new in `batch` and judges each against the version it
/// replaces, field by field.
fn prepare_chunk(batch: Vec<Classified>, stamp: RecordStamp) -> Result<Prepared> {
    let mut counts = RunCounts::default();
    let (fresh, same): (Vec<Classified>, Vec<Classified>) =
        batch.into_iter().partition(Classified::is_new_content);
    counts.unchanged += count(same.len());
    let mut changed = Vec::with_capacity(fresh.len());
    let mut records = Vec::new();
    for mut item in fresh {
        let id = item.id.as_str();
        let conn = item
            .body
            .as_deref()
            .and_then(|body| crate::json::parse(body).ok())
            .and_then(|served| VpnConnection::from_json(&served))
            .ok_or_else(|| inconsistent(format!("staged connection {id} is no JSON object")))?;
        let stored = conn.to_json();
        let current_body: Option<Value> = item
            .current_body
            .as_deref()
            .map(crate::json::parse)
            .transpose()
            .map_err(|e| inconsistent(format!("stored version of {id} is not JSON: {e}")))?;
        let previous = match (&item.current, &current_body) {
            (None, _) => Previous::Absent,
            (Some(_), Some(body)) => Previous::Other(body),
            (Some(_), None) => {
                return Err(inconsistent(format!(
                    "no current version of connection {id}"
                )));
            }
        };
        let name = conn.name.as_deref();
        match drift::judge(previous, &stored) {
            Verdict::Added => {
                records.push(stamp.record(id, name, ChangeKind::Added, None));
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
                    .map(|c| stamp.record(id, name, ChangeKind::Modified, Some(c)));
                records.extend(modified);
            }
        }
        item.body = None;
        let replaced = item.current_body.take();
        changed.push(Served {
            item,
            conn,
            replaced,
        });
    }
    Ok(Prepared {
        same,
        changed,
        records,
        counts,
    })
}

/// [`prepare_chunk`] on a thread of its own, so the caller's database work goes on meanwhile.
async fn prepare_apart(batch: Vec<Classified>, stamp: RecordStamp) -> Result<Prepared> {
    tokio::task::spawn_blocking(move || prepare_chunk(batch, stamp))
        .await
        .map_err(|e| inconsistent(format!("preparing a chunk of the apply failed: {e}")))?
}

/// Writes one prepared chunk: the scope's result, the observation times of what is unchanged,
/// then what is new in one batch, its versions and its change records.
async fn write_chunk(
    tx: &mut Tx,
    ctx: &RunContext<'_>,
    prepared: Prepared,
    counts: &mut RunCounts,
) -> Result<()> {
    let Prepared {
        same,
        changed,
        records,
        counts: chunk_counts,
    } = prepared;
    if ctx.keeps_result() {
        let new_members: Vec<&str> = same
            .iter()
            .chain(changed.iter().map(|s| &s.item))
            .filter(|k| !k.member)
            .map(|k| k.id.as_str())
            .collect();
        add_members(tx, ctx.scope_id, &new_members).await?;
    }
    let seen_again: Vec<(&str, DateTime<Utc>)> = same
        .iter()
        .filter(|item| {
            let newer = item
                .current
                .as_ref()
                .is_some_and(|c| item.observed_at > c.observed_at);
            ctx.concurrent && newer
        })
        .map(|item| (item.id.as_str(), item.observed_at))
        .collect();
    touch_observed(tx, ctx, &seen_again).await?;
    let writes: Vec<ConnectionWrite> = changed
        .iter()
        .map(|s| ConnectionWrite {
            conn: &s.conn,
            hash: &s.item.hash,
            observed_at: s.item.observed_at,
            stored_before: s.item.current.is_some(),
        })
        .collect();
    write_connections(tx, ctx.scope, ctx.run_id, &writes).await?;
    open_versions(tx, ctx, &changed).await?;
    insert_records(tx, ctx.scope, &records).await?;
    counts.add(&chunk_counts);
    Ok(())
}

/// Records that these unchanged connections were observed again, at these times.
async fn touch_observed(
    tx: &mut Tx,
    ctx: &RunContext<'_>,
    seen: &[(&str, DateTime<Utc>)],
) -> Result<()> {
    // One statement per page fetch time; this happens only while runs overlap.
    let mut by_time: HashMap<DateTime<Utc>, Vec<&str>> = HashMap::new();
    for (id, time) in seen {
        by_time.entry(*time).or_default().push(id);
    }
    for (time, ids) in by_time {
        for chunk in ids.chunks(MAX_PARAMS / 2) {
            let mut sql = Sql::new("UPDATE connections SET observed_at = ");
            sql.bind(time)
                .push(" WHERE project_id = ")
                .bind(&ctx.scope.project_id)
                .push(" AND id_key")
                .push_in_list(chunk.iter().map(|id| IdKey(id)));
            tx.execute(sql).await?;
        }
    }
    Ok(())
}

/// Opens a version for each connection of `changed` (closing the one it replaces). A current
/// version stores no body: the connection's rows are its content.
async fn open_versions(tx: &mut Tx, ctx: &RunContext<'_>, changed: &[Served]) -> Result<()> {
    let replaced: Vec<(&str, &str)> = changed
        .iter()
        .filter_map(|s| Some((s.item.id.as_str(), s.replaced.as_deref()?)))
        .collect();
    close_versions(tx, ctx, &replaced).await?;
    for chunk in changed.chunks(MAX_PARAMS / 6) {
        let mut sql = Sql::new(
            "INSERT INTO connection_versions (project_id, connection_id, content_hash,
                 observed_at, from_seq, from_run_id) ",
        );
        sql.push_values(chunk.iter().map(|s| {
            vec![
                Cell::from(&ctx.scope.project_id),
                Cell::from(&s.item.id),
                Cell::from(&s.item.hash),
                Cell::from(s.item.observed_at),
                Cell::from(ctx.seq),
                Cell::from(ctx.run_id),
            ]
        }));
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Ends the current versions of these connections (id, and its body as the inventory holds it
/// now, which the version archives) of the scope's project at this run (its apply `seq` and
/// its id).
pub(super) async fn close_versions(
    tx: &mut Tx,
    ctx: &RunContext<'_>,
    closing: &[(&str, &str)],
) -> Result<()> {
    // A CASE over the chunk's ids, not UPDATE ... FROM (VALUES ...): SQLite planned that join
    // as a scan of every version per row closed (6 ms each at 100,000 connections).
    for chunk in closing.chunks(CLOSE_CHUNK) {
        let mut sql = Sql::new("UPDATE connection_versions SET to_seq = ");
        sql.bind(ctx.seq)
            .push(", to_run_id = ")
            .bind(ctx.run_id)
            .push(", body = CASE connection_id");
        for (id, body) in chunk {
            sql.push(" WHEN ").bind(*id).push(" THEN ").bind(*body);
        }
        sql.push(" END WHERE to_seq IS NULL AND project_id = ")
            .bind(&ctx.scope.project_id)
            .push(" AND connection_id")
            .push_in_list(chunk.iter().map(|(id, _)| *id));
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Versions closed per statement: their bodies are bound, a few MB in all.
pub(super) const CLOSE_CHUNK: usize = 500;

/// Adds these connections to what the scope returned.
async fn add_members(tx: &mut Tx, scope_id: i64, ids: &[&str]) -> Result<()> {
    for chunk in ids.chunks(MAX_PARAMS / 2) {
        let mut sql = Sql::new("INSERT INTO scope_connections (scope_id, connection_id) ");
        sql.push_values(
            chunk
                .iter()
                .map(|id| vec![Cell::from(scope_id), Cell::from(*id)]),
        );
        sql.push(" ON CONFLICT (scope_id, connection_key) DO NOTHING");
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Drops these connections from what the scope returned.
async fn forget_members(tx: &mut Tx, scope_id: i64, ids: &[&str]) -> Result<()> {
    for chunk in ids.chunks(MAX_PARAMS / 2) {
        let mut sql = Sql::new("DELETE FROM scope_connections WHERE scope_id = ");
        sql.bind(scope_id)
            .push(" AND connection_key")
            .push_in_list(chunk.iter().map(|id| IdKey(id)));
        tx.execute(sql).await?;
    }
    Ok(())
}

impl RecordStamp {
    /// A change record of this run; `field` only for a modification.
    pub(super) fn record(
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
            old,
            new,
            detected_at: self.detected_at,
        }
    }
}

pub(super) async fn insert_records(
    tx: &mut Tx,
    scope: &Scope,
    records: &[ChangeRecord],
) -> Result<()> {
    let context = || vec![Cell::from(&scope.project_id)];
    let rows: Vec<NewRow<ChangeRecord>> = records.iter().map(|r| (context(), r)).collect();
    for sql in CHANGE_RECORDS.inserts(&rows) {
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Clears the staging (the run's, and what the scope kept of failed runs) and marks the run
/// complete.
async fn finish(
    tx: &mut Tx,
    ctx: &RunContext<'_>,
    counts: &RunCounts,
    skip_removals: Option<&str>,
) -> Result<()> {
    clear_staging(tx, ctx.run_id).await?;
    prune_staging(tx, ctx.scope_id).await?;
    let sql = Sql::new(
        "UPDATE sync_runs SET status = $8, finished_at = $2, apply_seq = $3,
             added = $4, removed = $5, modified = $6, unchanged = $7, removals_skipped = $9
         WHERE id = $1 AND status = $10",
    )
    .arg(ctx.run_id)
    .arg(now_utc())
    .arg(ctx.seq)
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
        return Err(StoreError::NotRunning {
            run_id: ctx.run_id,
            status,
        });
    }
    Ok(())
}
