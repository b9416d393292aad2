//! What an apply writes ([`ApplyTx`]): changed connections into the normalized tables, their
//! versions, change records, what a scope returned, observation times, and removals. Each
//! call writes what it is given, in as few statements as the bind limits allow.
//!
//! A batch of connections costs a fixed handful of statements whatever its size: one
//! multi-row upsert of the connection rows, one delete per child table for connections stored
//! before (their children are replaced wholesale), and multi-row inserts per child table.
//! Per-row statements made the first sync of a large inventory pay one database round trip per
//! subnet, rule and tag.

use super::apply::ApplyTx;
use super::dialect::{Cell, IdKey, MAX_PARAMS, Sql, Tx};
use super::error::{Result, inconsistent};
use super::lookup::of_project;
use super::records::ChangeRecord;
use super::tables::{
    BGP_PEERS, CHANGE_RECORDS, CHILD_TABLES, CONNECTIONS, IKE_POLICIES, IPSEC_POLICIES, NewRow,
    PEER_SUBNETS, POLICY_RULE_DESTINATIONS, POLICY_RULES, TAGS, Table,
};
use crate::api::model::{BgpPeer, IkePolicy, IpsecPolicy, PolicyRule, Tag, VpnConnection};
use crate::scope::Scope;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One connection to write: its content, content hash, when it was observed, and whether a row
/// exists already.
pub struct ConnectionWrite<'a> {
    pub conn: &'a VpnConnection,
    pub hash: &'a str,
    /// The hash of the bytes it was served as, when kept.
    pub served_hash: Option<u128>,
    pub observed_at: DateTime<Utc>,
    pub stored_before: bool,
}

/// The key a connection row is unique by: one inventory per project.
const CONNECTION_KEY: &[&str] = &["project_id", "id_key"];

/// Which apply, and which run, opens or closes a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionStamp {
    pub seq: i64,
    pub run_id: i64,
}

/// A version to open: the connection, its content hash and when it was observed.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    pub id: &'a str,
    pub hash: &'a str,
    pub observed_at: DateTime<Utc>,
}

/// Versions closed per statement: their bodies are bound, a few MB in all.
const CLOSE_CHUNK: usize = 500;

impl ApplyTx {
    /// Writes `batch` for `scope` as changed by `run_id`: the connection rows (upserted) and
    /// their child rows (replaced).
    pub async fn write_connections(
        &mut self,
        scope: &Scope,
        run_id: i64,
        batch: &[ConnectionWrite<'_>],
    ) -> Result<()> {
        write_connections(&mut self.sweep.tx, scope, run_id, batch).await
    }

    /// Records that these connections of the project were observed again, at these times.
    pub async fn touch_observed(
        &mut self,
        project_id: &str,
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
                    .bind(project_id)
                    .push(" AND id_key")
                    .push_in_list(chunk.iter().map(|id| IdKey(id)));
                self.sweep.tx.execute(sql).await?;
            }
        }
        Ok(())
    }

    /// Records the hash of the bytes these connections of the project were served as, by id:
    /// their content is unchanged, their bytes are not what the inventory knew.
    pub async fn set_served_hashes(
        &mut self,
        project_id: &str,
        served: &[(&str, u128)],
    ) -> Result<()> {
        // One statement per chunk: `CASE` picks each row's hash by its key.
        for chunk in served.chunks(MAX_PARAMS / 4) {
            let mut sql = Sql::new("UPDATE connections SET served_hash = CASE id_key");
            for (id, hash) in chunk {
                sql.push(" WHEN ")
                    .bind(IdKey(id))
                    .push(" THEN ")
                    .bind(Some(*hash));
            }
            sql.push(" END WHERE project_id = ")
                .bind(project_id)
                .push(" AND id_key")
                .push_in_list(chunk.iter().map(|(id, _)| IdKey(id)));
            self.sweep.tx.execute(sql).await?;
        }
        Ok(())
    }

    /// Opens these versions of connections of the project. A current version stores no body:
    /// the connection's rows are its content.
    pub async fn open_versions(
        &mut self,
        project_id: &str,
        at: VersionStamp,
        versions: &[NewVersion<'_>],
    ) -> Result<()> {
        for chunk in versions.chunks(MAX_PARAMS / 6) {
            let mut sql = Sql::new(
                "INSERT INTO connection_versions (project_id, connection_id, content_hash,
                     observed_at, from_seq, from_run_id) ",
            );
            sql.push_values(chunk.iter().map(|v| {
                vec![
                    Cell::from(project_id),
                    Cell::from(v.id),
                    Cell::from(v.hash),
                    Cell::from(v.observed_at),
                    Cell::from(at.seq),
                    Cell::from(at.run_id),
                ]
            }));
            self.sweep.tx.execute(sql).await?;
        }
        Ok(())
    }

    /// Ends the current versions of these connections of the project (id, and its body as
    /// the inventory holds it now, which the version archives).
    pub async fn close_versions(
        &mut self,
        project_id: &str,
        at: VersionStamp,
        closing: &[(&str, &str)],
    ) -> Result<()> {
        // A CASE over the chunk's ids, not UPDATE ... FROM (VALUES ...): SQLite planned that
        // join as a scan of every version per row closed (6 ms each at 100,000 connections).
        for chunk in closing.chunks(CLOSE_CHUNK) {
            let mut sql = Sql::new("UPDATE connection_versions SET to_seq = ");
            sql.bind(at.seq)
                .push(", to_run_id = ")
                .bind(at.run_id)
                .push(", body = CASE connection_id");
            for (id, body) in chunk {
                sql.push(" WHEN ").bind(*id).push(" THEN ").bind(*body);
            }
            sql.push(" END WHERE to_seq IS NULL AND project_id = ")
                .bind(project_id)
                .push(" AND connection_id")
                .push_in_list(chunk.iter().map(|(id, _)| *id));
            self.sweep.tx.execute(sql).await?;
        }
        Ok(())
    }

    /// Inserts change records of the project.
    pub async fn insert_records(
        &mut self,
        project_id: &str,
        records: &[ChangeRecord],
    ) -> Result<()> {
        let context = || vec![Cell::from(project_id)];
        let rows: Vec<NewRow<ChangeRecord>> = records.iter().map(|r| (context(), r)).collect();
        for sql in CHANGE_RECORDS.inserts(&rows) {
            self.sweep.tx.execute(sql).await?;
        }
        Ok(())
    }

    /// Adds these connections to what the scope returned.
    pub async fn add_members(&mut self, scope_id: i64, ids: &[&str]) -> Result<()> {
        for chunk in ids.chunks(MAX_PARAMS / 2) {
            let mut sql = Sql::new("INSERT INTO scope_connections (scope_id, connection_id) ");
            sql.push_values(
                chunk
                    .iter()
                    .map(|id| vec![Cell::from(scope_id), Cell::from(*id)]),
            );
            sql.push(" ON CONFLICT (scope_id, connection_key) DO NOTHING");
            self.sweep.tx.execute(sql).await?;
        }
        Ok(())
    }

    /// Drops these connections from what the scope returned.
    pub async fn forget_members(&mut self, scope_id: i64, ids: &[&str]) -> Result<()> {
        for chunk in ids.chunks(MAX_PARAMS / 2) {
            let mut sql = Sql::new("DELETE FROM scope_connections WHERE scope_id = ");
            sql.bind(scope_id)
                .push(" AND connection_key")
                .push_in_list(chunk.iter().map(|id| IdKey(id)));
            self.sweep.tx.execute(sql).await?;
        }
        Ok(())
    }

    /// Deletes these connections from the project's inventory (their child rows go with
    /// them) and from what every scope of the project returned.
    pub async fn delete_connections(&mut self, project_id: &str, ids: &[&str]) -> Result<()> {
        for chunk in ids.chunks(MAX_PARAMS / 2) {
            let mut sql = of_project(project_id, "DELETE FROM connections");
            sql.push(" AND id_key")
                .push_in_list(chunk.iter().map(|id| IdKey(id)));
            self.sweep.tx.execute(sql).await?;
            let mut sql = Sql::new("DELETE FROM scope_connections WHERE scope_id IN (");
            sql.push("SELECT id FROM scopes WHERE project_id = ")
                .bind(project_id)
                .push(") AND connection_key")
                .push_in_list(chunk.iter().map(|id| IdKey(id)));
            self.sweep.tx.execute(sql).await?;
        }
        Ok(())
    }
}

/// Writes `batch` for `scope` as changed by `run_id`.
async fn write_connections(
    tx: &mut Tx,
    scope: &Scope,
    run_id: i64,
    batch: &[ConnectionWrite<'_>],
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let pks = upsert_connections(tx, scope, run_id, batch).await?;
    let replaced: Vec<i64> = batch
        .iter()
        .zip(&pks)
        .filter(|(w, _)| w.stored_before)
        .map(|(_, pk)| *pk)
        .collect();
    for table in CHILD_TABLES {
        for chunk in replaced.chunks(MAX_PARAMS) {
            let mut sql = Sql::new("DELETE FROM ");
            sql.push(table)
                .push(" WHERE connection_pk")
                .push_in_list(chunk.iter().copied());
            tx.execute(sql).await?;
        }
    }
    let children = Children::of(batch, &pks);
    insert(tx, &PEER_SUBNETS, &children.subnets).await?;
    insert(tx, &POLICY_RULES, &children.rules).await?;
    insert(tx, &POLICY_RULE_DESTINATIONS, &children.destinations).await?;
    insert(tx, &TAGS, &children.tags).await?;
    insert(tx, &IKE_POLICIES, &children.ike).await?;
    insert(tx, &IPSEC_POLICIES, &children.ipsec).await?;
    insert(tx, &BGP_PEERS, &children.bgp).await?;
    Ok(())
}

/// Upserts the connection rows of `batch`; returns their `pk`s in batch order.
async fn upsert_connections(
    tx: &mut Tx,
    scope: &Scope,
    run_id: i64,
    batch: &[ConnectionWrite<'_>],
) -> Result<Vec<i64>> {
    let rows: Vec<NewRow<VpnConnection>> = batch
        .iter()
        .map(|w| {
            let context = vec![
                Cell::from(&scope.region),
                Cell::from(&scope.project_id),
                Cell::from(w.hash),
                Cell::from(w.served_hash),
                Cell::from(w.observed_at),
                Cell::from(run_id),
                Cell::from(run_id),
            ];
            (context, w.conn)
        })
        .collect();
    let upsert = CONNECTIONS.on_conflict_update(CONNECTION_KEY, &["id", "first_seen_run_id"]);
    let mut pk_of: HashMap<String, i64> = HashMap::with_capacity(batch.len());
    for mut sql in CONNECTIONS.inserts(&rows) {
        sql.push(&upsert).push(" RETURNING pk, id");
        for row in tx.fetch_all(sql).await? {
            pk_of.insert(row.get("id")?, row.get("pk")?);
        }
    }
    batch
        .iter()
        .map(|w| {
            let id = w.conn.id.as_deref().unwrap_or_default();
            pk_of
                .get(id)
                .copied()
                .ok_or_else(|| inconsistent(format!("upsert of connection {id} returned no row")))
        })
        .collect()
}

async fn insert<T>(tx: &mut Tx, table: &Table<T>, rows: &[NewRow<'_, T>]) -> Result<()> {
    for sql in table.inserts(rows) {
        tx.execute(sql).await?;
    }
    Ok(())
}

/// The child rows of a batch, per table, with their context cells.
#[derive(Default)]
struct Children<'a> {
    subnets: Vec<NewRow<'a, String>>,
    rules: Vec<NewRow<'a, PolicyRule>>,
    destinations: Vec<NewRow<'a, String>>,
    tags: Vec<NewRow<'a, Tag>>,
    ike: Vec<NewRow<'a, IkePolicy>>,
    ipsec: Vec<NewRow<'a, IpsecPolicy>>,
    bgp: Vec<NewRow<'a, BgpPeer>>,
}

/// Context cells from integers (connection pk, ip version, positions).
fn keys<const N: usize>(values: [i64; N]) -> Vec<Cell> {
    values.into_iter().map(Cell::from).collect()
}

/// A list position as stored.
fn position(index: usize) -> i64 {
    i64::try_from(index).expect("a list shorter than i64::MAX")
}

impl<'a> Children<'a> {
    fn of(batch: &[ConnectionWrite<'a>], pks: &[i64]) -> Self {
        let mut out = Self::default();
        for (w, &pk) in batch.iter().zip(pks) {
            let conn = w.conn;
            for (ip_version, subnets) in [(4, &conn.peer_subnets), (6, &conn.peer_subnets_v6)] {
                for (i, cidr) in subnets.iter().flatten().enumerate() {
                    out.subnets
                        .push((keys([pk, ip_version, position(i)]), cidr));
                }
            }
            for (ip_version, rules) in [(4, &conn.policy_rules), (6, &conn.policy_rules_v6)] {
                for (i, rule) in rules.iter().flatten().enumerate() {
                    out.rules.push((keys([pk, ip_version, position(i)]), rule));
                    for (d, cidr) in rule.destination.iter().flatten().enumerate() {
                        let context = keys([pk, ip_version, position(i), position(d)]);
                        out.destinations.push((context, cidr));
                    }
                }
            }
            for (i, tag) in conn.tags.iter().flatten().enumerate() {
                out.tags.push((keys([pk, position(i)]), tag));
            }
            out.ike
                .extend(conn.ikepolicy.iter().map(|p| (keys([pk]), p)));
            out.ipsec
                .extend(conn.ipsecpolicy.iter().map(|p| (keys([pk]), p)));
            out.bgp
                .extend(conn.bgp_peer.iter().map(|p| (keys([pk]), p)));
        }
        out
    }
}
