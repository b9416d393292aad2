//! Which connections a complete sweep lacked, and removing them from the inventory.
//!
//! A run's scope selects part of the project's inventory: the connections whose *stored*
//! fields match its filters. The stored fields are the latest any run observed, so a
//! connection another scope saw move out (a new enterprise project) is no longer selected.
//! Where a filter cannot be evaluated on stored data (an `eip_id`, or a `vgw_ip` given as the
//! gateway's private address while connections store its EIP id), what the same scope
//! returned last time (`scope_connections`) is the selection instead. A filtered run never
//! removes a connection outside it, and no run removes one that another run observed after
//! it started.
//!
//! Even within its selection a filtered sweep's absence is no evidence of deletion: a
//! connection moved to another gateway or enterprise project is missing from it just as a
//! deleted one is. A filtered run removes only what the API, asked for each by id
//! ([`Store::removal_candidates`], [`Removable::Confirmed`]), no longer serves.

use super::apply::{
    APPLY_CHUNK, CLOSE_CHUNK, RunContext, close_versions, existing, insert_records, of_project,
    select_in, staged_ids,
};
use super::connections::current_bodies;
use super::error::{Result, inconsistent};
use super::runs::{count, origin, sweep_chain};
use super::sql::{IdKey, Row, Sql, id_keys};
use super::{ChangeRecord, Store, Tx};
use crate::drift::{ChangeKind, RemovalGuard};
use crate::scope::{Filters, Scope};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// What a run trusts its sweep to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removals {
    /// Why the sweep is not trusted to remove anything; `None` when it is.
    pub doubt: Option<String>,
    /// Which removals are implausible however the sweep went.
    pub guard: RemovalGuard,
    pub removable: Removable,
}

/// Which of the connections a sweep lacked its run may remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removable {
    /// Every one: the sweep covered the whole project.
    Lacked,
    /// Only these, which the API, asked for each by id, no longer serves.
    Confirmed(HashSet<String>),
}

impl Removable {
    /// Whether the connection `id`, which the sweep lacked, may be removed.
    pub fn allows(&self, id: &str) -> bool {
        match self {
            Removable::Lacked => true,
            Removable::Confirmed(gone) => gone.contains(id),
        }
    }
}

/// The run whose sweep is judged: its staging, its scope and the scope's previous result.
pub(super) struct Judged<'a> {
    pub run_id: i64,
    pub scope_id: i64,
    pub scope: &'a Scope,
}

/// A connection of the scope's selection that the sweep did not return.
pub(super) struct Gone {
    pub id: String,
    pub name: Option<String>,
    pub observed_at: DateTime<Utc>,
}

/// What the scope selected before the run, and which of it the sweep lacked.
pub(super) struct Absent {
    pub held: i64,
    pub gone: Vec<Gone>,
}

/// How a scope's filters select from stored connections.
enum Selection<'a> {
    /// No filter: the whole project.
    All,
    /// Every filter can be evaluated on stored fields.
    Matching(&'a Filters),
    /// Some filter cannot: only the scope's previous result counts.
    Unknown,
}

/// How `filters` select; `vgw_ip_stored`: whether a stored connection has the filter's `vgw_ip`.
fn selection(filters: &Filters, vgw_ip_stored: bool) -> Selection<'_> {
    // Connections store the gateway's EIP id in `vgw_ip`, but the filter also takes the
    // gateway's private address, which no stored field holds: an address counts only when
    // stored connections carry it.
    let vgw_ip_unknown = filters
        .vgw_ip
        .as_deref()
        .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok() && !vgw_ip_stored);
    if filters.is_empty() {
        Selection::All
    } else if filters.eip_id.is_some() || vgw_ip_unknown {
        Selection::Unknown
    } else {
        Selection::Matching(filters)
    }
}

/// Appends ` AND <column> = <value>` for each evaluable filter.
fn push_matching(sql: &mut Sql, filters: &Filters) {
    let single = [
        ("vgw_id", &filters.vgw_id),
        ("vgw_ip", &filters.vgw_ip),
        ("id", &filters.vpn_id),
    ];
    for (column, value) in single {
        if let Some(value) = value {
            sql.push(" AND ").push(column).push(" = ").bind(value);
        }
    }
    if !filters.enterprise_project_ids.is_empty() {
        sql.push(" AND enterprise_project_id")
            .push_in_list(filters.enterprise_project_ids.iter());
    }
}

impl Store {
    /// The connections the apply of run `run_id` would remove as things stand: those its
    /// scope selects that its sweep lacked and no run observed after the sweep started.
    pub async fn removal_candidates(
        &self,
        run_id: i64,
        scope_id: i64,
        scope: &Scope,
    ) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let started_at = origin(&tx.fetch_all(sweep_chain(run_id)).await?)?.started_at;
        let judged = Judged {
            run_id,
            scope_id,
            scope,
        };
        let Absent { gone, .. } = absent(&mut tx, &judged).await?;
        tx.commit().await?;
        Ok(gone
            .into_iter()
            .filter(|g| g.observed_at < started_at)
            .map(|g| g.id)
            .collect())
    }
}

/// The connections the scope selects in the inventory as it is, and those the sweep lacked.
pub(super) async fn absent(tx: &mut Tx, ctx: &Judged<'_>) -> Result<Absent> {
    let filters = &ctx.scope.filters;
    let vgw_ip_stored = match &filters.vgw_ip {
        None => false,
        Some(vgw_ip) => {
            let mut sql = of_project(ctx.scope, "SELECT COUNT(*) FROM connections");
            sql.push(" AND vgw_ip = ").bind(vgw_ip);
            tx.fetch_one(sql).await?.at::<i64>(0)? > 0
        }
    };
    let selection = selection(filters, vgw_ip_stored);
    let mut absent = Absent {
        held: 0,
        gone: Vec::new(),
    };
    if let Selection::Unknown = selection {
        let mut after = String::new();
        loop {
            let sql = Sql::new(
                "SELECT connection_id, connection_key FROM scope_connections
                 WHERE scope_id = $1 AND connection_key > $2 ORDER BY connection_key LIMIT $3",
            )
            .arg(ctx.scope_id)
            .arg(after.as_str())
            .arg(APPLY_CHUNK);
            let rows = tx.fetch_all(sql).await?;
            let Some(last) = rows.last() else { break };
            after = last.at(1)?;
            let members: Vec<String> = rows
                .iter()
                .map(|row| row.at(0))
                .collect::<sqlx::Result<_>>()?;
            let stored = || {
                let mut sql =
                    of_project(ctx.scope, "SELECT id, name, observed_at FROM connections");
                sql.push(" AND id_key");
                sql
            };
            let rows = select_in(tx, stored, &id_keys(&members)).await?;
            judge(tx, ctx, &rows, &mut absent).await?;
        }
        return Ok(absent);
    }
    let mut after = String::new();
    loop {
        let mut sql = of_project(
            ctx.scope,
            "SELECT id, name, observed_at, id_key FROM connections",
        );
        if let Selection::Matching(filters) = selection {
            push_matching(&mut sql, filters);
        }
        sql.push(" AND id_key > ")
            .bind(after.as_str())
            .push(" ORDER BY id_key LIMIT ")
            .bind(APPLY_CHUNK);
        let rows = tx.fetch_all(sql).await?;
        let Some(last) = rows.last() else { break };
        after = last.at(3)?;
        judge(tx, ctx, &rows, &mut absent).await?;
    }
    Ok(absent)
}

/// Counts the stored connections `rows` (id, name, observed_at) as held, and those the sweep
/// did not return as gone.
async fn judge(tx: &mut Tx, ctx: &Judged<'_>, rows: &[Row], absent: &mut Absent) -> Result<()> {
    let mut held = Vec::with_capacity(rows.len());
    for row in rows {
        held.push(Gone {
            id: row.at(0)?,
            name: row.at(1)?,
            observed_at: row.at(2)?,
        });
    }
    let ids: Vec<&str> = held.iter().map(|g| g.id.as_str()).collect();
    let served = existing(tx, staged_ids(ctx.run_id), &ids).await?;
    absent.held += count(held.len());
    absent
        .gone
        .extend(held.into_iter().filter(|g| !served.contains(&g.id)));
    Ok(())
}

/// Records `gone` as removed and takes them out of the inventory (their current versions are
/// closed with their bodies, so history keeps them) and out of every scope's previous result.
pub(super) async fn remove(tx: &mut Tx, ctx: &RunContext<'_>, gone: &[&Gone]) -> Result<i64> {
    // A chunk's bodies are held until its versions close.
    for chunk in gone.chunks(CLOSE_CHUNK) {
        let records: Vec<ChangeRecord> = chunk
            .iter()
            .map(|g| {
                ctx.stamp
                    .record(&g.id, g.name.as_deref(), ChangeKind::Removed, None)
            })
            .collect();
        insert_records(tx, ctx.scope, &records).await?;
        let ids: Vec<&str> = chunk.iter().map(|g| g.id.as_str()).collect();
        let bodies = current_bodies(tx, &ctx.scope.project_id, &ids).await?;
        let closing = ids
            .iter()
            .map(|id| match bodies.get(*id) {
                Some(body) => Ok((*id, body.as_str())),
                None => Err(inconsistent(format!("removing connection {id}, not held"))),
            })
            .collect::<Result<Vec<_>>>()?;
        close_versions(tx, ctx, &closing).await?;
        let mut sql = of_project(ctx.scope, "DELETE FROM connections");
        sql.push(" AND id_key")
            .push_in_list(ids.iter().map(|id| IdKey(id)));
        tx.execute(sql).await?;
        let mut sql = Sql::new("DELETE FROM scope_connections WHERE scope_id IN (");
        sql.push("SELECT id FROM scopes WHERE project_id = ")
            .bind(&ctx.scope.project_id)
            .push(") AND connection_key")
            .push_in_list(ids.iter().map(|id| IdKey(id)));
        tx.execute(sql).await?;
    }
    Ok(count(gone.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_stored_fields_cannot_answer_fall_back_to_the_previous_result() {
        let by = |f: Filters| match selection(&f, false) {
            Selection::All => "all",
            Selection::Matching(_) => "matching",
            Selection::Unknown => "unknown",
        };
        assert_eq!(by(Filters::default()), "all");
        let gateway = Filters {
            vgw_id: Some("g".into()),
            ..Filters::default()
        };
        assert_eq!(by(gateway), "matching");
        let eip = Filters {
            vgw_ip: Some("3ea3b006-demo-a8df-va86-ae180ae07885".into()),
            ..Filters::default()
        };
        assert_eq!(by(eip), "matching");
        let address = Filters {
            vgw_ip: Some("192.168.45.7".into()),
            ..Filters::default()
        };
        assert_eq!(by(address.clone()), "unknown");
        assert!(matches!(selection(&address, true), Selection::Matching(_)));
        let eip_id = Filters {
            eip_id: Some("e".into()),
            ..Filters::default()
        };
        assert_eq!(by(eip_id), "unknown");
    }
}
