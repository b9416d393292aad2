//! Looking rows up by explicit keys, a bounded list at a time.
//!
//! Every lookup of the store names its keys (`IN (...)` over connection ids as their key
//! columns hold them) rather than joining: PostgreSQL plans joins on statistics that a big apply
//! makes stale, and a mis-planned join turned a 20,000-connection apply quadratic.

use super::dialect::{Cell, Decoded, MAX_PARAMS, Row, Sql, Tx, id_keys};
use super::error::Result;
use std::collections::{HashMap, HashSet};

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
    K: Decoded + std::hash::Hash + Eq,
    V: Decoded,
{
    rows.iter()
        .map(|row| Ok((row.at(0)?, row.at(1)?)))
        .collect()
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

/// `<select> WHERE project_id = $1`: rows of one project, to be completed with ` AND <key>`
/// and an ` IN (...)` list.
pub(super) fn of_project(project_id: &str, select: &str) -> Sql {
    let mut sql = Sql::new("");
    sql.push(select)
        .push(" WHERE project_id = ")
        .bind(project_id);
    sql
}

/// A count of items as stored.
pub(super) fn count(items: usize) -> i64 {
    i64::try_from(items).unwrap_or(i64::MAX)
}
