//! Normalized connection rows: writing one connection into its tables, and reading them back
//! into the API's shape for `export`.
//!
//! Lists keep their order in `position` columns and whether they were sent at all in `has_*`
//! columns, and every object keeps its unmodelled fields in `extra`, so tables -> JSON gives back
//! exactly what was stored.

use super::{Store, Tx, on_tx};
use crate::api::model::{BgpPeer, Dpd, IkePolicy, IpsecPolicy, PolicyRule, Tag, VpnConnection};
use crate::scope::Scope;
use crate::time::parse_api_time;
use serde_json::{Map, Value};
use sqlx::Row;
use std::collections::BTreeMap;

/// `extra` as stored: NULL when empty, else a JSON object (text in SQLite, jsonb in PostgreSQL).
fn extra_json(extra: &Map<String, Value>) -> Option<Value> {
    (!extra.is_empty()).then(|| Value::Object(extra.clone()))
}

fn extra_map(stored: Option<Value>) -> sqlx::Result<Map<String, Value>> {
    match stored {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(sqlx::Error::Decode(
            format!("column extra holds no JSON object: {other}").into(),
        )),
    }
}

/// Writes `conn` (content hash `hash`) for `scope` as changed by `run_id`; returns its `pk`.
/// Child rows are replaced wholesale: a changed connection is rare and small. `stored_before`
/// says whether the inventory already has a row for it (a new one has no children to delete).
pub(super) async fn write_connection(
    tx: &mut Tx,
    scope: &Scope,
    run_id: i64,
    conn: &VpnConnection,
    hash: &str,
    stored_before: bool,
) -> sqlx::Result<i64> {
    let created_at_utc = conn.created_at.as_deref().and_then(parse_api_time);
    let updated_at_utc = conn.updated_at.as_deref().and_then(parse_api_time);
    on_tx!(tx, c => {
        let pk: i64 = sqlx::query(
            "INSERT INTO connections (endpoint, region, project_id, id, name, status, vgw_id,
                 vgw_ip, style, cgw_id, tunnel_local_address, tunnel_peer_address, enable_nqa,
                 enable_hub, created_at, created_at_utc, updated_at, updated_at_utc,
                 enterprise_project_id, connection_monitor_id, ha_role, has_peer_subnets,
                 has_peer_subnets_v6, has_policy_rules, has_policy_rules_v6, has_tags, extra,
                 content_hash, first_seen_run_id, last_changed_run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $29)
             ON CONFLICT (endpoint, project_id, id) DO UPDATE SET
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
             RETURNING pk",
        )
        .bind(&scope.endpoint)
        .bind(&scope.region)
        .bind(&scope.project_id)
        .bind(&conn.id)
        .bind(&conn.name)
        .bind(&conn.status)
        .bind(&conn.vgw_id)
        .bind(&conn.vgw_ip)
        .bind(&conn.style)
        .bind(&conn.cgw_id)
        .bind(&conn.tunnel_local_address)
        .bind(&conn.tunnel_peer_address)
        .bind(conn.enable_nqa)
        .bind(conn.enable_hub)
        .bind(&conn.created_at)
        .bind(created_at_utc)
        .bind(&conn.updated_at)
        .bind(updated_at_utc)
        .bind(&conn.enterprise_project_id)
        .bind(&conn.connection_monitor_id)
        .bind(&conn.ha_role)
        .bind(conn.peer_subnets.is_some())
        .bind(conn.peer_subnets_v6.is_some())
        .bind(conn.policy_rules.is_some())
        .bind(conn.policy_rules_v6.is_some())
        .bind(conn.tags.is_some())
        .bind(extra_json(&conn.extra))
        .bind(hash)
        .bind(run_id)
        .fetch_one(&mut *c)
        .await?
        .try_get(0)?;

        let deletes = [
            "DELETE FROM peer_subnets WHERE connection_pk = $1",
            "DELETE FROM policy_rules WHERE connection_pk = $1",
            "DELETE FROM tags WHERE connection_pk = $1",
            "DELETE FROM ike_policies WHERE connection_pk = $1",
            "DELETE FROM ipsec_policies WHERE connection_pk = $1",
            "DELETE FROM bgp_peers WHERE connection_pk = $1",
        ];
        for table in deletes.iter().filter(|_| stored_before) {
            sqlx::query(*table).bind(pk).execute(&mut *c).await?;
        }

        for (ip_version, subnets) in [(4i64, &conn.peer_subnets), (6, &conn.peer_subnets_v6)] {
            for (position, cidr) in subnets.iter().flatten().enumerate() {
                sqlx::query(
                    "INSERT INTO peer_subnets (connection_pk, ip_version, position, cidr)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(pk)
                .bind(ip_version)
                .bind(position as i64)
                .bind(cidr)
                .execute(&mut *c)
                .await?;
            }
        }

        for (ip_version, rules) in [(4i64, &conn.policy_rules), (6, &conn.policy_rules_v6)] {
            for (position, rule) in rules.iter().flatten().enumerate() {
                sqlx::query(
                    "INSERT INTO policy_rules (connection_pk, ip_version, position, rule_index,
                         source, has_destination, extra)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(pk)
                .bind(ip_version)
                .bind(position as i64)
                .bind(rule.rule_index)
                .bind(&rule.source)
                .bind(rule.destination.is_some())
                .bind(extra_json(&rule.extra))
                .execute(&mut *c)
                .await?;
                for (dest_position, cidr) in rule.destination.iter().flatten().enumerate() {
                    sqlx::query(
                        "INSERT INTO policy_rule_destinations (connection_pk, ip_version,
                             rule_position, position, cidr)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(pk)
                    .bind(ip_version)
                    .bind(position as i64)
                    .bind(dest_position as i64)
                    .bind(cidr)
                    .execute(&mut *c)
                    .await?;
                }
            }
        }

        for (position, tag) in conn.tags.iter().flatten().enumerate() {
            sqlx::query(
                "INSERT INTO tags (connection_pk, position, key, value, extra)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(pk)
            .bind(position as i64)
            .bind(&tag.key)
            .bind(&tag.value)
            .bind(extra_json(&tag.extra))
            .execute(&mut *c)
            .await?;
        }

        if let Some(ike) = &conn.ikepolicy {
            let dpd = ike.dpd.as_ref();
            sqlx::query(
                "INSERT INTO ike_policies (connection_pk, ike_version, phase1_negotiation_mode,
                     authentication_algorithm, encryption_algorithm, dh_group,
                     authentication_method, lifetime_seconds, local_id_type, local_id,
                     peer_id_type, peer_id, has_dpd, dpd_timeout, dpd_interval, dpd_msg,
                     dpd_extra, extra)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18)",
            )
            .bind(pk)
            .bind(&ike.ike_version)
            .bind(&ike.phase1_negotiation_mode)
            .bind(&ike.authentication_algorithm)
            .bind(&ike.encryption_algorithm)
            .bind(&ike.dh_group)
            .bind(&ike.authentication_method)
            .bind(ike.lifetime_seconds)
            .bind(&ike.local_id_type)
            .bind(&ike.local_id)
            .bind(&ike.peer_id_type)
            .bind(&ike.peer_id)
            .bind(dpd.is_some())
            .bind(dpd.and_then(|d| d.timeout))
            .bind(dpd.and_then(|d| d.interval))
            .bind(dpd.and_then(|d| d.msg.as_deref()))
            .bind(dpd.and_then(|d| extra_json(&d.extra)))
            .bind(extra_json(&ike.extra))
            .execute(&mut *c)
            .await?;
        }

        if let Some(ipsec) = &conn.ipsecpolicy {
            sqlx::query(
                "INSERT INTO ipsec_policies (connection_pk, authentication_algorithm,
                     encryption_algorithm, pfs, transform_protocol, lifetime_seconds,
                     encapsulation_mode, extra)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(pk)
            .bind(&ipsec.authentication_algorithm)
            .bind(&ipsec.encryption_algorithm)
            .bind(&ipsec.pfs)
            .bind(&ipsec.transform_protocol)
            .bind(ipsec.lifetime_seconds)
            .bind(&ipsec.encapsulation_mode)
            .bind(extra_json(&ipsec.extra))
            .execute(&mut *c)
            .await?;
        }

        if let Some(bgp) = &conn.bgp_peer {
            sqlx::query(
                "INSERT INTO bgp_peers (connection_pk, peer_ip_address, peer_asn, state,
                     state_duration, num_received_routes, num_message_received,
                     num_message_sent, extra)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(pk)
            .bind(&bgp.peer_ip_address)
            .bind(bgp.peer_asn)
            .bind(&bgp.state)
            .bind(bgp.state_duration)
            .bind(bgp.num_received_routes)
            .bind(bgp.num_message_received)
            .bind(bgp.num_message_sent)
            .bind(extra_json(&bgp.extra))
            .execute(&mut *c)
            .await?;
        }
        Ok(pk)
    })
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
