//! Normalized connection rows read back into the API's shape for `export` (`write` stores them;
//! `tables` declares how each column maps to the model).

use super::error::{Result, inconsistent};
use super::sql::{Row, Sql};
use super::tables::{
    BGP_PEERS, CONNECTIONS, IKE_POLICIES, IPSEC_POLICIES, PEER_SUBNETS, POLICY_RULE_DESTINATIONS,
    POLICY_RULES, TAGS, Table,
};
use super::{Store, Tx};
use crate::api::model::{PolicyRule, VpnConnection};
use std::collections::BTreeMap;

/// Connections read so far in one chunk, by `pk`.
type Chunk = BTreeMap<i64, VpnConnection>;

/// Reads every stored connection back in the API's shape, a chunk at a time, inside one read
/// transaction so a sync finishing meanwhile cannot give a mixed answer.
pub struct ExportCursor {
    tx: Tx,
    after_pk: i64,
}

/// Connections per chunk.
const EXPORT_CHUNK: i64 = 500;

impl Store {
    pub async fn export_cursor(&self) -> Result<ExportCursor> {
        Ok(ExportCursor {
            tx: self.begin().await?,
            after_pk: 0,
        })
    }
}

impl ExportCursor {
    /// The next connections in storage order; empty when all have been read.
    pub async fn next_chunk(&mut self) -> Result<Vec<VpnConnection>> {
        let (after, tx) = (self.after_pk, &mut self.tx);
        let mut sql = Sql::new("SELECT pk, ");
        sql.push(&CONNECTIONS.read_columns())
            .push(" FROM connections WHERE pk > ")
            .bind(after)
            .push(" ORDER BY pk LIMIT ")
            .bind(EXPORT_CHUNK);
        let mut by_pk = Chunk::new();
        for row in tx.fetch_all(sql).await? {
            by_pk.insert(row.get("pk")?, CONNECTIONS.read(&row)?);
        }
        let Some(&last) = by_pk.keys().next_back() else {
            return Ok(Vec::new());
        };
        let range = (after, last);

        for row in children(tx, &PEER_SUBNETS, "ip_version, position", range).await? {
            let cidr = PEER_SUBNETS.read(&row)?;
            let conn = parent(&mut by_pk, &row)?;
            let list = match row.get::<i64>("ip_version")? {
                6 => &mut conn.peer_subnets_v6,
                _ => &mut conn.peer_subnets,
            };
            list.get_or_insert_with(Vec::new).push(cidr);
        }
        for row in children(tx, &POLICY_RULES, "ip_version, position", range).await? {
            let rule = POLICY_RULES.read(&row)?;
            rules(parent(&mut by_pk, &row)?, &row)?.push(rule);
        }
        let order = "ip_version, rule_position, position";
        for row in children(tx, &POLICY_RULE_DESTINATIONS, order, range).await? {
            let cidr = POLICY_RULE_DESTINATIONS.read(&row)?;
            let position: i64 = row.get("rule_position")?;
            let rule = rules(parent(&mut by_pk, &row)?, &row)?
                .get_mut(usize::try_from(position).unwrap_or(usize::MAX))
                .ok_or_else(|| inconsistent("a policy rule destination without its rule"))?;
            rule.destination.get_or_insert_with(Vec::new).push(cidr);
        }
        for row in children(tx, &TAGS, "position", range).await? {
            let tag = TAGS.read(&row)?;
            let conn = parent(&mut by_pk, &row)?;
            conn.tags.get_or_insert_with(Vec::new).push(tag);
        }
        for row in children(tx, &IKE_POLICIES, "connection_pk", range).await? {
            parent(&mut by_pk, &row)?.ikepolicy = Some(IKE_POLICIES.read(&row)?);
        }
        for row in children(tx, &IPSEC_POLICIES, "connection_pk", range).await? {
            parent(&mut by_pk, &row)?.ipsecpolicy = Some(IPSEC_POLICIES.read(&row)?);
        }
        for row in children(tx, &BGP_PEERS, "connection_pk", range).await? {
            parent(&mut by_pk, &row)?.bgp_peer = Some(BGP_PEERS.read(&row)?);
        }
        self.after_pk = last;
        Ok(by_pk.into_values().collect())
    }
}

/// Rows of a child table for the connections with `after < pk <= last`, in list order.
async fn children<T>(
    tx: &mut Tx,
    table: &Table<T>,
    order: &str,
    (after, last): (i64, i64),
) -> Result<Vec<Row>> {
    let mut sql = Sql::new("SELECT ");
    sql.push(&table.context.join(", "))
        .push(", ")
        .push(&table.read_columns())
        .push(" FROM ")
        .push(table.name)
        .push(" WHERE connection_pk > ")
        .bind(after)
        .push(" AND connection_pk <= ")
        .bind(last)
        .push(" ORDER BY connection_pk, ")
        .push(order);
    Ok(tx.fetch_all(sql).await?)
}

/// The connection a child row belongs to; the foreign keys make a miss a corrupt database.
fn parent<'a>(by_pk: &'a mut Chunk, row: &Row) -> Result<&'a mut VpnConnection> {
    let pk: i64 = row.get("connection_pk")?;
    by_pk
        .get_mut(&pk)
        .ok_or_else(|| inconsistent(format!("child row of missing connection {pk}")))
}

/// The IPv4 or IPv6 policy rules of `conn`, as the row's `ip_version` says.
fn rules<'a>(conn: &'a mut VpnConnection, row: &Row) -> Result<&'a mut Vec<PolicyRule>> {
    let list = match row.get::<i64>("ip_version")? {
        6 => &mut conn.policy_rules_v6,
        _ => &mut conn.policy_rules,
    };
    Ok(list.get_or_insert_with(Vec::new))
}
