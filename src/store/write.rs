//! Writing changed connections into the normalized tables, a batch at a time.
//!
//! A batch costs a fixed handful of statements whatever its size: one multi-row upsert of the
//! connection rows, one delete per child table for connections stored before (their children
//! are replaced wholesale), and multi-row inserts per child table. Per-row statements made the
//! first sync of a large inventory pay one database round trip per subnet, rule and tag.

use super::{Tx, on_tx};
use crate::api::model::VpnConnection;
use crate::scope::Scope;
use crate::time::parse_api_time;
use serde_json::{Map, Value};
use sqlx::Row;
use std::collections::HashMap;

/// One connection to write: its content, content hash, and whether a row exists already.
pub(super) struct ConnectionWrite<'a> {
    pub conn: &'a VpnConnection,
    pub hash: &'a str,
    pub stored_before: bool,
}

/// Bind parameters per statement: well under SQLite's 32,766 and PostgreSQL's 65,535.
pub(super) const MAX_PARAMS: usize = 30_000;

/// `extra` as stored: NULL when empty, else a JSON object (text in SQLite, jsonb in PostgreSQL).
pub(super) fn extra_json(extra: &Map<String, Value>) -> Option<Value> {
    (!extra.is_empty()).then(|| Value::Object(extra.clone()))
}

/// Inserts `$rows` with `$cols` columns each in as few statements as the parameter limit
/// allows; `$push` binds one row's values to a `Separated` builder.
macro_rules! insert_rows {
    ($c:expr, $head:expr, $cols:expr, $rows:expr, |$b:ident, $row:ident| $push:block) => {
        for chunk in $rows.chunks($crate::store::write::MAX_PARAMS / $cols) {
            let mut query = sqlx::QueryBuilder::new($head);
            query.push_values(chunk, |mut $b, $row| $push);
            query.build().persistent(false).execute(&mut *$c).await?;
        }
    };
}
pub(super) use insert_rows;

/// Writes `batch` for `scope` as changed by `run_id`.
pub(super) async fn write_connections(
    tx: &mut Tx,
    scope: &Scope,
    run_id: i64,
    batch: &[ConnectionWrite<'_>],
) -> sqlx::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let times: Vec<_> = batch
        .iter()
        .map(|w| {
            let parse = |t: &Option<String>| t.as_deref().and_then(parse_api_time);
            (parse(&w.conn.created_at), parse(&w.conn.updated_at))
        })
        .collect();
    let mut pk_of: HashMap<String, i64> = HashMap::with_capacity(batch.len());
    on_tx!(tx, c => {
        let rows: Vec<(usize, &ConnectionWrite)> = batch.iter().enumerate().collect();
        for chunk in rows.chunks(MAX_PARAMS / 30) {
            let mut query = sqlx::QueryBuilder::new(
                "INSERT INTO connections (endpoint, region, project_id, id, name, status, vgw_id,
                     vgw_ip, style, cgw_id, tunnel_local_address, tunnel_peer_address, enable_nqa,
                     enable_hub, created_at, created_at_utc, updated_at, updated_at_utc,
                     enterprise_project_id, connection_monitor_id, ha_role, has_peer_subnets,
                     has_peer_subnets_v6, has_policy_rules, has_policy_rules_v6, has_tags, extra,
                     content_hash, first_seen_run_id, last_changed_run_id) ",
            );
            query.push_values(chunk, |mut b, (i, w)| {
                let conn = w.conn;
                b.push_bind(&scope.endpoint)
                    .push_bind(&scope.region)
                    .push_bind(&scope.project_id)
                    .push_bind(&conn.id)
                    .push_bind(&conn.name)
                    .push_bind(&conn.status)
                    .push_bind(&conn.vgw_id)
                    .push_bind(&conn.vgw_ip)
                    .push_bind(&conn.style)
                    .push_bind(&conn.cgw_id)
                    .push_bind(&conn.tunnel_local_address)
                    .push_bind(&conn.tunnel_peer_address)
                    .push_bind(conn.enable_nqa)
                    .push_bind(conn.enable_hub)
                    .push_bind(&conn.created_at)
                    .push_bind(times[*i].0)
                    .push_bind(&conn.updated_at)
                    .push_bind(times[*i].1)
                    .push_bind(&conn.enterprise_project_id)
                    .push_bind(&conn.connection_monitor_id)
                    .push_bind(&conn.ha_role)
                    .push_bind(conn.peer_subnets.is_some())
                    .push_bind(conn.peer_subnets_v6.is_some())
                    .push_bind(conn.policy_rules.is_some())
                    .push_bind(conn.policy_rules_v6.is_some())
                    .push_bind(conn.tags.is_some())
                    .push_bind(extra_json(&conn.extra))
                    .push_bind(w.hash)
                    .push_bind(run_id)
                    .push_bind(run_id);
            });
            query.push(
                " ON CONFLICT (endpoint, project_id, id) DO UPDATE SET
                     region = excluded.region, name = excluded.name, status = excluded.status,
                     vgw_id = excluded.vgw_id, vgw_ip = excluded.vgw_ip, style = excluded.style,
                     cgw_id = excluded.cgw_id, tunnel_local_address = excluded.tunnel_local_address,
                     tunnel_peer_address = excluded.tunnel_peer_address,
                     enable_nqa = excluded.enable_nqa, enable_hub = excluded.enable_hub,
                     created_at = excluded.created_at, created_at_utc = excluded.created_at_utc,
                     updated_at = excluded.updated_at, updated_at_utc = excluded.updated_at_utc,
                     enterprise_project_id = excluded.enterprise_project_id,
                     connection_monitor_id = excluded.connection_monitor_id,
                     ha_role = excluded.ha_role, has_peer_subnets = excluded.has_peer_subnets,
                     has_peer_subnets_v6 = excluded.has_peer_subnets_v6,
                     has_policy_rules = excluded.has_policy_rules,
                     has_policy_rules_v6 = excluded.has_policy_rules_v6,
                     has_tags = excluded.has_tags, extra = excluded.extra,
                     content_hash = excluded.content_hash,
                     last_changed_run_id = excluded.last_changed_run_id
                 RETURNING pk, id",
            );
            for row in query.build().persistent(false).fetch_all(&mut *c).await? {
                pk_of.insert(row.try_get("id")?, row.try_get("pk")?);
            }
        }
    });
    let pks = batch
        .iter()
        .map(|w| {
            let id = w.conn.id.as_deref().unwrap_or_default();
            pk_of.get(id).copied().ok_or_else(|| {
                sqlx::Error::Protocol(format!("upsert of connection {id} returned no row"))
            })
        })
        .collect::<sqlx::Result<Vec<i64>>>()?;

    let replaced: Vec<i64> = batch
        .iter()
        .zip(&pks)
        .filter(|(w, _)| w.stored_before)
        .map(|(_, pk)| *pk)
        .collect();
    let children = Children::of(batch, &pks);
    on_tx!(tx, c => {
        // Destinations go with their rules (ON DELETE CASCADE).
        for table in ["peer_subnets", "policy_rules", "tags", "ike_policies", "ipsec_policies", "bgp_peers"] {
            for chunk in replaced.chunks(MAX_PARAMS) {
                let mut query = sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE connection_pk IN ("));
                let mut list = query.separated(", ");
                for pk in chunk {
                    list.push_bind(*pk);
                }
                query.push(")");
                query.build().persistent(false).execute(&mut *c).await?;
            }
        }
        insert_rows!(c, "INSERT INTO peer_subnets (connection_pk, ip_version, position, cidr) ",
            4, children.subnets, |b, row| {
                b.push_bind(row.0).push_bind(row.1).push_bind(row.2).push_bind(row.3);
            });
        insert_rows!(c, "INSERT INTO policy_rules (connection_pk, ip_version, position, rule_index,
                source, has_destination, extra) ",
            7, children.rules, |b, row| {
                let (pk, ip_version, position, rule) = row;
                b.push_bind(*pk)
                    .push_bind(*ip_version)
                    .push_bind(*position)
                    .push_bind(rule.rule_index)
                    .push_bind(&rule.source)
                    .push_bind(rule.destination.is_some())
                    .push_bind(extra_json(&rule.extra));
            });
        insert_rows!(c, "INSERT INTO policy_rule_destinations (connection_pk, ip_version,
                rule_position, position, cidr) ",
            5, children.destinations, |b, row| {
                b.push_bind(row.0).push_bind(row.1).push_bind(row.2).push_bind(row.3).push_bind(row.4);
            });
        insert_rows!(c, "INSERT INTO tags (connection_pk, position, key, value, extra) ",
            5, children.tags, |b, row| {
                let (pk, position, tag) = row;
                b.push_bind(*pk)
                    .push_bind(*position)
                    .push_bind(&tag.key)
                    .push_bind(&tag.value)
                    .push_bind(extra_json(&tag.extra));
            });
        insert_rows!(c, "INSERT INTO ike_policies (connection_pk, ike_version,
                phase1_negotiation_mode, authentication_algorithm, encryption_algorithm, dh_group,
                authentication_method, lifetime_seconds, local_id_type, local_id, peer_id_type,
                peer_id, has_dpd, dpd_timeout, dpd_interval, dpd_msg, dpd_extra, extra) ",
            18, children.ike, |b, row| {
                let (pk, ike) = row;
                let dpd = ike.dpd.as_ref();
                b.push_bind(*pk)
                    .push_bind(&ike.ike_version)
                    .push_bind(&ike.phase1_negotiation_mode)
                    .push_bind(&ike.authentication_algorithm)
                    .push_bind(&ike.encryption_algorithm)
                    .push_bind(&ike.dh_group)
                    .push_bind(&ike.authentication_method)
                    .push_bind(ike.lifetime_seconds)
                    .push_bind(&ike.local_id_type)
                    .push_bind(&ike.local_id)
                    .push_bind(&ike.peer_id_type)
                    .push_bind(&ike.peer_id)
                    .push_bind(dpd.is_some())
                    .push_bind(dpd.and_then(|d| d.timeout))
                    .push_bind(dpd.and_then(|d| d.interval))
                    .push_bind(dpd.and_then(|d| d.msg.clone()))
                    .push_bind(dpd.and_then(|d| extra_json(&d.extra)))
                    .push_bind(extra_json(&ike.extra));
            });
        insert_rows!(c, "INSERT INTO ipsec_policies (connection_pk, authentication_algorithm,
                encryption_algorithm, pfs, transform_protocol, lifetime_seconds,
                encapsulation_mode, extra) ",
            8, children.ipsec, |b, row| {
                let (pk, ipsec) = row;
                b.push_bind(*pk)
                    .push_bind(&ipsec.authentication_algorithm)
                    .push_bind(&ipsec.encryption_algorithm)
                    .push_bind(&ipsec.pfs)
                    .push_bind(&ipsec.transform_protocol)
                    .push_bind(ipsec.lifetime_seconds)
                    .push_bind(&ipsec.encapsulation_mode)
                    .push_bind(extra_json(&ipsec.extra));
            });
        insert_rows!(c, "INSERT INTO bgp_peers (connection_pk, peer_ip_address, peer_asn, state,
                state_duration, num_received_routes, num_message_received, num_message_sent,
                extra) ",
            9, children.bgp, |b, row| {
                let (pk, bgp) = row;
                b.push_bind(*pk)
                    .push_bind(&bgp.peer_ip_address)
                    .push_bind(bgp.peer_asn)
                    .push_bind(&bgp.state)
                    .push_bind(bgp.state_duration)
                    .push_bind(bgp.num_received_routes)
                    .push_bind(bgp.num_message_received)
                    .push_bind(bgp.num_message_sent)
                    .push_bind(extra_json(&bgp.extra));
            });
    });
    Ok(())
}

/// The child rows of a batch, per table, keyed by their connection's `pk`.
#[derive(Default)]
struct Children<'a> {
    subnets: Vec<(i64, i64, i64, &'a str)>,
    rules: Vec<(i64, i64, i64, &'a crate::api::model::PolicyRule)>,
    destinations: Vec<(i64, i64, i64, i64, &'a str)>,
    tags: Vec<(i64, i64, &'a crate::api::model::Tag)>,
    ike: Vec<(i64, &'a crate::api::model::IkePolicy)>,
    ipsec: Vec<(i64, &'a crate::api::model::IpsecPolicy)>,
    bgp: Vec<(i64, &'a crate::api::model::BgpPeer)>,
}

impl<'a> Children<'a> {
    fn of(batch: &[ConnectionWrite<'a>], pks: &[i64]) -> Self {
        let mut out = Self::default();
        for (w, &pk) in batch.iter().zip(pks) {
            let conn = w.conn;
            for (ip_version, subnets) in [(4, &conn.peer_subnets), (6, &conn.peer_subnets_v6)] {
                for (position, cidr) in subnets.iter().flatten().enumerate() {
                    out.subnets.push((pk, ip_version, position as i64, cidr));
                }
            }
            for (ip_version, rules) in [(4, &conn.policy_rules), (6, &conn.policy_rules_v6)] {
                for (position, rule) in rules.iter().flatten().enumerate() {
                    out.rules.push((pk, ip_version, position as i64, rule));
                    for (dest, cidr) in rule.destination.iter().flatten().enumerate() {
                        out.destinations
                            .push((pk, ip_version, position as i64, dest as i64, cidr));
                    }
                }
            }
            for (position, tag) in conn.tags.iter().flatten().enumerate() {
                out.tags.push((pk, position as i64, tag));
            }
            out.ike.extend(conn.ikepolicy.as_ref().map(|p| (pk, p)));
            out.ipsec.extend(conn.ipsecpolicy.as_ref().map(|p| (pk, p)));
            out.bgp.extend(conn.bgp_peer.as_ref().map(|p| (pk, p)));
        }
        out
    }
}
