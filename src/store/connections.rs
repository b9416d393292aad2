//! Normalized connection rows read back into the API's shape for `export` (`write` stores them;
//! `tables` declares how each column maps to the model).

use super::Store;
use super::as_of::{Applied, applied};
use super::dialect::{IdKey, Row, Sql, Tx};
use super::error::{Result, inconsistent};
use super::tables::{
    BGP_PEERS, CONNECTIONS, IKE_POLICIES, IPSEC_POLICIES, PEER_SUBNETS, POLICY_RULE_DESTINATIONS,
    POLICY_RULES, TAGS, Table,
};
use crate::api::model::{FieldValue, PolicyRule, VpnConnection};
use std::collections::{BTreeMap, HashMap};

/// Connections read so far in one chunk, by `pk`.
type Chunk = BTreeMap<i64, VpnConnection>;

/// Which connections to read, by where they belong; unset parts do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProjectFilter {
    pub project_id: Option<String>,
    /// `Some(None)`: the connections stored without a region.
    pub region: Option<Option<String>>,
}

impl ProjectFilter {
    /// The one (project, region) group `group` names.
    pub fn group(group: &ProjectGroup) -> Self {
        Self {
            project_id: Some(group.project_id.clone()),
            region: Some(group.region.clone()),
        }
    }

    /// Appends ` AND ...` conditions on the columns `project` and `region` for what this
    /// selects.
    pub(super) fn push_to(&self, sql: &mut Sql, project: &str, region: &str) {
        if let Some(project_id) = &self.project_id {
            sql.push(" AND ").push(project).push(" = ").bind(project_id);
        }
        match &self.region {
            None => {}
            Some(None) => {
                sql.push(" AND ").push(region).push(" IS NULL");
            }
            Some(Some(name)) => {
                sql.push(" AND ").push(region).push(" = ").bind(name);
            }
        }
    }
}

/// A project and region whose connections are read together (`export --format projects`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProjectGroup {
    pub project_id: String,
    pub region: Option<String>,
}

/// The groups of `sql`'s rows (project id, region), by project then region (no region last),
/// sorted here so both databases give one order.
pub(super) async fn groups(tx: &mut Tx, sql: Sql) -> Result<Vec<ProjectGroup>> {
    let mut groups = Vec::new();
    for row in tx.fetch_all(sql).await? {
        groups.push(ProjectGroup {
            project_id: row.at(0)?,
            region: row.at(1)?,
        });
    }
    groups.sort_by(|a, b| {
        (&a.project_id, a.region.is_none(), &a.region).cmp(&(
            &b.project_id,
            b.region.is_none(),
            &b.region,
        ))
    });
    Ok(groups)
}

/// Reads stored connections back in the API's shape, a chunk at a time, inside one read
/// transaction so a sync finishing meanwhile cannot give a mixed answer.
pub struct ExportCursor {
    tx: Tx,
    filter: ProjectFilter,
    after_pk: i64,
}

/// Connections per chunk.
const EXPORT_CHUNK: i64 = 500;

impl Store {
    /// Reads the connections `filter` selects.
    pub async fn export_cursor(&self, filter: ProjectFilter) -> Result<ExportCursor> {
        Ok(ExportCursor {
            tx: self.db.begin().await?,
            filter,
            after_pk: 0,
        })
    }

    /// The connections `ids` of project `project_id` as the inventory holds them now (the JSON
    /// text of their current versions), by id: what a dry run judges changed content against.
    pub async fn held_bodies(
        &self,
        project_id: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, String>> {
        let mut tx = self.db.begin().await?;
        let bodies = current_bodies(&mut tx, project_id, ids).await?;
        tx.commit().await?;
        Ok(bodies)
    }
}

impl ExportCursor {
    /// The next connections in storage order; empty when all have been read.
    pub async fn next_chunk(&mut self) -> Result<Vec<VpnConnection>> {
        let (after, tx) = (self.after_pk, &mut self.tx);
        let mut sql = Sql::new("SELECT pk, ");
        sql.push(&CONNECTIONS.read_columns())
            .push(" FROM connections WHERE pk > ")
            .bind(after);
        self.filter.push_to(&mut sql, "project_id", "region");
        sql.push(" ORDER BY pk LIMIT ").bind(EXPORT_CHUNK);
        let rows = tx.fetch_all(sql).await?;
        let Some(last) = rows.last().map(|row| row.get::<i64>("pk")).transpose()? else {
            return Ok(Vec::new());
        };
        // A range holds connections not selected too, whose children would have no parent.
        let listed: Vec<i64> = rows.iter().map(|r| r.get("pk")).collect::<Result<_, _>>()?;
        let pks = if self.filter == ProjectFilter::default() {
            Pks::Range(after, last)
        } else {
            Pks::List(&listed)
        };
        let by_pk = read_children(tx, &rows, pks).await?;
        self.after_pk = last;
        Ok(by_pk.into_values().collect())
    }

    /// The (project, region) groups of the connections selected, in the same snapshot.
    pub async fn groups(&mut self) -> Result<Vec<ProjectGroup>> {
        let mut sql = Sql::new("SELECT DISTINCT project_id, region FROM connections WHERE 1 = 1");
        self.filter.push_to(&mut sql, "project_id", "region");
        groups(&mut self.tx, sql).await
    }

    /// Reads what `filter` selects from the start, in the same snapshot.
    pub fn restart(&mut self, filter: ProjectFilter) {
        self.filter = filter;
        self.after_pk = 0;
    }

    /// The apply the snapshot holds the inventory after: the latest, if any.
    pub async fn applied(&mut self) -> Result<Option<Applied>> {
        applied(&mut self.tx, None).await
    }
}

/// The connections `ids` of project `project_id` as the inventory holds them now, as the JSON
/// text a version's body is (`export`'s shape), by id; an id not held is left out. The body
/// of a connection's current version is not stored apart: it is this.
pub(super) async fn current_bodies(
    tx: &mut Tx,
    project_id: &str,
    ids: &[&str],
) -> Result<HashMap<String, String>> {
    let mut bodies = HashMap::with_capacity(ids.len());
    // Few enough per round that the children's IN lists stay short.
    for chunk in ids.chunks(EXPORT_CHUNK as usize) {
        let mut sql = Sql::new("SELECT pk, id AS held_id, ");
        sql.push(&CONNECTIONS.read_columns())
            .push(" FROM connections WHERE project_id = ")
            .bind(project_id)
            .push(" AND id_key")
            .push_in_list(chunk.iter().map(|id| IdKey(id)));
        let rows = tx.fetch_all(sql).await?;
        let mut ids = HashMap::with_capacity(rows.len());
        for row in &rows {
            ids.insert(row.get::<i64>("pk")?, row.get::<String>("held_id")?);
        }
        let pks: Vec<i64> = ids.keys().copied().collect();
        for (pk, conn) in read_children(tx, &rows, Pks::List(&pks)).await? {
            let id = ids.remove(&pk).unwrap_or_default();
            bodies.insert(id, crate::json::to_string(&conn.to_json()));
        }
    }
    Ok(bodies)
}

/// Which connections' child rows to read: `after < pk <= last`, or these.
#[derive(Clone, Copy)]
enum Pks<'a> {
    Range(i64, i64),
    List(&'a [i64]),
}

/// The connections of `rows` (`pk` and the connection columns) with their lists and
/// policies, by `pk`; `pks` selects the same connections' child rows.
async fn read_children(tx: &mut Tx, rows: &[Row], pks: Pks<'_>) -> Result<Chunk> {
    let mut by_pk = Chunk::new();
    for row in rows {
        by_pk.insert(row.get("pk")?, CONNECTIONS.read(row)?);
    }
    for row in children(tx, &PEER_SUBNETS, "ip_version, position", pks).await? {
        let cidr = PEER_SUBNETS.read(&row)?;
        let conn = parent(&mut by_pk, &row)?;
        let list = match row.int("ip_version")? {
            6 => &mut conn.peer_subnets_v6,
            _ => &mut conn.peer_subnets,
        };
        list.get_or_insert_with(Vec::new).push(cidr);
    }
    for row in children(tx, &POLICY_RULES, "ip_version, position", pks).await? {
        let rule = POLICY_RULES.read(&row)?;
        rules(parent(&mut by_pk, &row)?, &row)?.push(rule);
    }
    let order = "ip_version, rule_position, position";
    for row in children(tx, &POLICY_RULE_DESTINATIONS, order, pks).await? {
        let cidr = POLICY_RULE_DESTINATIONS.read(&row)?;
        let position = row.int("rule_position")?;
        let rule = rules(parent(&mut by_pk, &row)?, &row)?
            .get_mut(usize::try_from(position).unwrap_or(usize::MAX))
            .ok_or_else(|| inconsistent("a policy rule destination without its rule"))?;
        rule.destination.get_or_insert_with(Vec::new).push(cidr);
    }
    for row in children(tx, &TAGS, "position", pks).await? {
        let tag = TAGS.read(&row)?;
        let conn = parent(&mut by_pk, &row)?;
        conn.tags.get_or_insert_with(Vec::new).push(tag);
    }
    for row in children(tx, &IKE_POLICIES, "connection_pk", pks).await? {
        parent(&mut by_pk, &row)?.ikepolicy = Some(IKE_POLICIES.read(&row)?);
    }
    for row in children(tx, &IPSEC_POLICIES, "connection_pk", pks).await? {
        parent(&mut by_pk, &row)?.ipsecpolicy = Some(IPSEC_POLICIES.read(&row)?);
    }
    for row in children(tx, &BGP_PEERS, "connection_pk", pks).await? {
        parent(&mut by_pk, &row)?.bgp_peer = Some(BGP_PEERS.read(&row)?);
    }
    Ok(by_pk)
}

/// Rows of a child table for the connections `pks`, in list order.
async fn children<T>(tx: &mut Tx, table: &Table<T>, order: &str, pks: Pks<'_>) -> Result<Vec<Row>> {
    let mut sql = Sql::new("SELECT ");
    sql.push(&table.context.join(", "))
        .push(", ")
        .push(&table.read_columns())
        .push(" FROM ")
        .push(table.name)
        .push(" WHERE connection_pk");
    match pks {
        Pks::Range(after, last) => {
            sql.push(" > ")
                .bind(after)
                .push(" AND connection_pk <= ")
                .bind(last);
        }
        Pks::List([]) => return Ok(Vec::new()),
        Pks::List(pks) => {
            sql.push_in_list(pks.iter().copied());
        }
    }
    sql.push(" ORDER BY connection_pk, ").push(order);
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
    let list = match row.int("ip_version")? {
        6 => &mut conn.policy_rules_v6,
        _ => &mut conn.policy_rules,
    };
    Ok(list.get_or_insert_with(Vec::new))
}
