//! Writing changed connections into the normalized tables, a batch at a time.
//!
//! A batch costs a fixed handful of statements whatever its size: one multi-row upsert of the
//! connection rows, one delete per child table for connections stored before (their children
//! are replaced wholesale), and multi-row inserts per child table. Per-row statements made the
//! first sync of a large inventory pay one database round trip per subnet, rule and tag.

use super::Tx;
use super::error::{Result, inconsistent};
use super::sql::{Cell, MAX_PARAMS, Sql};
use super::tables::{
    BGP_PEERS, CHILD_TABLES, CONNECTIONS, IKE_POLICIES, IPSEC_POLICIES, NewRow, PEER_SUBNETS,
    POLICY_RULE_DESTINATIONS, POLICY_RULES, TAGS, Table,
};
use crate::api::model::{BgpPeer, IkePolicy, IpsecPolicy, PolicyRule, Tag, VpnConnection};
use crate::scope::Scope;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One connection to write: its content, content hash, when it was observed, and whether a row
/// exists already.
pub(super) struct ConnectionWrite<'a> {
    pub conn: &'a VpnConnection,
    pub hash: &'a str,
    pub observed_at: DateTime<Utc>,
    pub stored_before: bool,
}

/// The key a connection row is unique by: one inventory per project.
const CONNECTION_KEY: &[&str] = &["project_id", "id_key"];

/// Writes `batch` for `scope` as changed by `run_id`.
pub(super) async fn write_connections(
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
