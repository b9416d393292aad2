//! Normalized connection rows read back into the API's shape for `export` (`write` stores them).
//!
//! Lists keep their order in `position` columns and whether they were sent at all in `has_*`
//! columns, and every object keeps its unmodelled fields in `extra`, so tables -> JSON gives back
//! exactly what was stored.

use super::{Store, Tx, on_tx};
use crate::api::model::{BgpPeer, Dpd, IkePolicy, IpsecPolicy, PolicyRule, Tag, VpnConnection};
use serde_json::{Map, Value};
use sqlx::Row;
use std::collections::BTreeMap;

fn extra_map(stored: Option<Value>) -> sqlx::Result<Map<String, Value>> {
    match stored {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(sqlx::Error::Decode(
            format!("column extra holds no JSON object: {other}").into(),
        )),
    }
}

/// Rows of a child table for the connections with `after < pk <= last`, on connection `$c`.
macro_rules! child_rows {
    ($c:expr, $sql:expr, $after:expr, $last:expr) => {
        sqlx::query($sql)
            .bind($after)
            .bind($last)
            .fetch_all(&mut *$c)
            .await?
    };
}

/// The connection a child row belongs to; the foreign keys make a miss a corrupt database.
fn parent(by_pk: &mut BTreeMap<i64, VpnConnection>, pk: i64) -> sqlx::Result<&mut VpnConnection> {
    by_pk
        .get_mut(&pk)
        .ok_or_else(|| sqlx::Error::Decode(format!("child row of missing connection {pk}").into()))
}

/// Reads every stored connection back in the API's shape, a chunk at a time, inside one read
/// transaction so a sync finishing meanwhile cannot give a mixed answer.
pub struct ExportCursor {
    tx: Tx,
    after_pk: i64,
    chunk: i64,
}

impl Store {
    pub async fn export_cursor(&self) -> sqlx::Result<ExportCursor> {
        Ok(ExportCursor {
            tx: self.begin().await?,
            after_pk: 0,
            chunk: 500,
        })
    }
}

impl ExportCursor {
    /// The next connections in storage order; empty when all have been read.
    pub async fn next_chunk(&mut self) -> sqlx::Result<Vec<VpnConnection>> {
        let after = self.after_pk;
        let mut by_pk: BTreeMap<i64, VpnConnection> = BTreeMap::new();
        on_tx!(&mut self.tx, c => {
            let rows = sqlx::query(
                "SELECT pk, id, name, status, vgw_id, vgw_ip, style, cgw_id, tunnel_local_address,
                     tunnel_peer_address, enable_nqa, enable_hub, created_at, updated_at,
                     enterprise_project_id, connection_monitor_id, ha_role, has_peer_subnets,
                     has_peer_subnets_v6, has_policy_rules, has_policy_rules_v6, has_tags, extra
                 FROM connections WHERE pk > $1 ORDER BY pk LIMIT $2",
            )
            .bind(after)
            .bind(self.chunk)
            .fetch_all(&mut *c)
            .await?;
            let Some(last) = rows.last() else {
                return Ok(Vec::new());
            };
            let last_pk: i64 = last.try_get("pk")?;
            for row in &rows {
                let conn = VpnConnection {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    status: row.try_get("status")?,
                    vgw_id: row.try_get("vgw_id")?,
                    vgw_ip: row.try_get("vgw_ip")?,
                    style: row.try_get("style")?,
                    cgw_id: row.try_get("cgw_id")?,
                    peer_subnets: row.try_get::<bool, _>("has_peer_subnets")?.then(Vec::new),
                    tunnel_local_address: row.try_get("tunnel_local_address")?,
                    tunnel_peer_address: row.try_get("tunnel_peer_address")?,
                    enable_nqa: row.try_get("enable_nqa")?,
                    policy_rules: row.try_get::<bool, _>("has_policy_rules")?.then(Vec::new),
                    ikepolicy: None,
                    ipsecpolicy: None,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                    enterprise_project_id: row.try_get("enterprise_project_id")?,
                    connection_monitor_id: row.try_get("connection_monitor_id")?,
                    ha_role: row.try_get("ha_role")?,
                    tags: row.try_get::<bool, _>("has_tags")?.then(Vec::new),
                    peer_subnets_v6: row.try_get::<bool, _>("has_peer_subnets_v6")?.then(Vec::new),
                    policy_rules_v6: row.try_get::<bool, _>("has_policy_rules_v6")?.then(Vec::new),
                    bgp_peer: None,
                    enable_hub: row.try_get("enable_hub")?,
                    extra: extra_map(row.try_get("extra")?)?,
                };
                by_pk.insert(row.try_get("pk")?, conn);
            }

            let rows = child_rows!(c, "SELECT connection_pk, ip_version, cidr FROM peer_subnets
                 WHERE connection_pk > $1 AND connection_pk <= $2
                 ORDER BY connection_pk, ip_version, position", after, last_pk);
            for row in &rows {
                let conn = parent(&mut by_pk, row.try_get("connection_pk")?)?;
                let list = if row.try_get::<i64, _>("ip_version")? == 6 {
                    &mut conn.peer_subnets_v6
                } else {
                    &mut conn.peer_subnets
                };
                list.get_or_insert_with(Vec::new).push(row.try_get("cidr")?);
            }

            let rows = child_rows!(c, "SELECT connection_pk, ip_version, rule_index, source, has_destination, extra
                 FROM policy_rules WHERE connection_pk > $1 AND connection_pk <= $2
                 ORDER BY connection_pk, ip_version, position", after, last_pk);
            for row in &rows {
                let conn = parent(&mut by_pk, row.try_get("connection_pk")?)?;
                let list = if row.try_get::<i64, _>("ip_version")? == 6 {
                    &mut conn.policy_rules_v6
                } else {
                    &mut conn.policy_rules
                };
                list.get_or_insert_with(Vec::new).push(PolicyRule {
                    rule_index: row.try_get("rule_index")?,
                    source: row.try_get("source")?,
                    destination: row.try_get::<bool, _>("has_destination")?.then(Vec::new),
                    extra: extra_map(row.try_get("extra")?)?,
                });
            }

            let rows = child_rows!(c, "SELECT connection_pk, ip_version, rule_position, cidr
                 FROM policy_rule_destinations WHERE connection_pk > $1 AND connection_pk <= $2
                 ORDER BY connection_pk, ip_version, rule_position, position", after, last_pk);
            for row in &rows {
                let conn = parent(&mut by_pk, row.try_get("connection_pk")?)?;
                let rules = if row.try_get::<i64, _>("ip_version")? == 6 {
                    &mut conn.policy_rules_v6
                } else {
                    &mut conn.policy_rules
                };
                let position: i64 = row.try_get("rule_position")?;
                let rule = rules
                    .as_mut()
                    .and_then(|r| r.get_mut(position as usize))
                    .ok_or_else(|| sqlx::Error::Decode("destination without its rule".into()))?;
                rule.destination.get_or_insert_with(Vec::new).push(row.try_get("cidr")?);
            }

            let rows = child_rows!(c, "SELECT connection_pk, key, value, extra FROM tags
                 WHERE connection_pk > $1 AND connection_pk <= $2 ORDER BY connection_pk, position", after, last_pk);
            for row in &rows {
                let conn = parent(&mut by_pk, row.try_get("connection_pk")?)?;
                conn.tags.get_or_insert_with(Vec::new).push(Tag {
                    key: row.try_get("key")?,
                    value: row.try_get("value")?,
                    extra: extra_map(row.try_get("extra")?)?,
                });
            }

            let rows = child_rows!(c, "SELECT * FROM ike_policies WHERE connection_pk > $1 AND connection_pk <= $2", after, last_pk);
            for row in &rows {
                let conn = parent(&mut by_pk, row.try_get("connection_pk")?)?;
                let dpd = if row.try_get::<bool, _>("has_dpd")? {
                    Some(Dpd {
                        timeout: row.try_get("dpd_timeout")?,
                        interval: row.try_get("dpd_interval")?,
                        msg: row.try_get("dpd_msg")?,
                        extra: extra_map(row.try_get("dpd_extra")?)?,
                    })
                } else {
                    None
                };
                conn.ikepolicy = Some(IkePolicy {
                    ike_version: row.try_get("ike_version")?,
                    phase1_negotiation_mode: row.try_get("phase1_negotiation_mode")?,
                    authentication_algorithm: row.try_get("authentication_algorithm")?,
                    encryption_algorithm: row.try_get("encryption_algorithm")?,
                    dh_group: row.try_get("dh_group")?,
                    authentication_method: row.try_get("authentication_method")?,
                    lifetime_seconds: row.try_get("lifetime_seconds")?,
                    local_id_type: row.try_get("local_id_type")?,
                    local_id: row.try_get("local_id")?,
                    peer_id_type: row.try_get("peer_id_type")?,
                    peer_id: row.try_get("peer_id")?,
                    dpd,
                    extra: extra_map(row.try_get("extra")?)?,
                });
            }

            let rows = child_rows!(c, "SELECT * FROM ipsec_policies WHERE connection_pk > $1 AND connection_pk <= $2", after, last_pk);
            for row in &rows {
                let conn = parent(&mut by_pk, row.try_get("connection_pk")?)?;
                conn.ipsecpolicy = Some(IpsecPolicy {
                    authentication_algorithm: row.try_get("authentication_algorithm")?,
                    encryption_algorithm: row.try_get("encryption_algorithm")?,
                    pfs: row.try_get("pfs")?,
                    transform_protocol: row.try_get("transform_protocol")?,
                    lifetime_seconds: row.try_get("lifetime_seconds")?,
                    encapsulation_mode: row.try_get("encapsulation_mode")?,
                    extra: extra_map(row.try_get("extra")?)?,
                });
            }

            let rows = child_rows!(c, "SELECT * FROM bgp_peers WHERE connection_pk > $1 AND connection_pk <= $2", after, last_pk);
            for row in &rows {
                let conn = parent(&mut by_pk, row.try_get("connection_pk")?)?;
                conn.bgp_peer = Some(BgpPeer {
                    peer_ip_address: row.try_get("peer_ip_address")?,
                    peer_asn: row.try_get("peer_asn")?,
                    state: row.try_get("state")?,
                    state_duration: row.try_get("state_duration")?,
                    num_received_routes: row.try_get("num_received_routes")?,
                    num_message_received: row.try_get("num_message_received")?,
                    num_message_sent: row.try_get("num_message_sent")?,
                    extra: extra_map(row.try_get("extra")?)?,
                });
            }
            self.after_pk = last_pk;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(by_pk.into_values().collect())
    }
}
