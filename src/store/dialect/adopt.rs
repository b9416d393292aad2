//! Databases written before 0.2.0, whose 22 development migrations became one, `V22__schema`.
//!
//! The squashed migration keeps the number 22 because it is schema 22: a database the last
//! build before the squash (commit 5ebd541) brought to schema 22 already holds exactly what
//! V22 creates, names and column order included (`tests/it/schema_22.rs` compares them). So it
//! reads as current as it is, and the first command that migrates adopts it in place: in one
//! transaction, its 22 history rows give way to the row refinery writes for `V22__schema`, with
//! its checksum, and refinery then has nothing to apply. A history that stops earlier, or names
//! migrations no build shipped, is refused before anything is written: this build has no
//! migrations that could bring it to schema 22.

use super::sql::Sql;
use super::url::DatabaseUrl;
use super::{Db, Tx};
use crate::store::error::{StoreError, inconsistent};
use refinery_core::Migration;

/// The history of a database at schema 22: the names of versions 1 to 22, in order.
const SCHEMA_22: [&str; 22] = [
    "init",
    "crypto_view",
    "removals_skipped",
    "one_inventory_per_project",
    "resumed_runs",
    "reports",
    "exact_values",
    "staging_what_differs",
    "forgotten_scopes",
    "schema_for_queries",
    "long_connection_ids",
    "versions_by_run",
    "leaner_storage",
    "current_versions_are_the_rows",
    "unfiltered_scopes_keep_no_result",
    "scope_identity_of_any_length",
    "indexes_no_query_uses",
    "narrow_list_integers",
    "network_bounds_as_uuid",
    "lean_list_indexes",
    "shorter_content_hashes",
    "removals_skipped_comment",
];

/// A development schema from before 0.2.0 other than schema 22, which this build cannot
/// upgrade. Refusing it changes nothing in the database.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database has schema version {version} (its latest migration is V{version}__{name}), \
     written by a development build from before vpn-inventory 0.2.0, which this vpn-inventory \
     cannot upgrade; nothing was changed. Run `vpn-inventory migrate` on it with the last build \
     before 0.2.0 (commit 5ebd541) first, which brings it to schema version 22, then run this \
     one, which adopts it; or sync into a new database"
)]
pub struct UnadoptableSchema {
    pub version: i32,
    pub name: String,
}

/// What a history from before the squash holds.
enum PreSquash {
    Schema22,
    Unadoptable(UnadoptableSchema),
}

/// The migration history, by version; `None` when it cannot be read (no history table yet).
async fn history(db: &Db) -> Option<Vec<(i32, String)>> {
    let sql = Sql::new("SELECT version, name FROM refinery_schema_history ORDER BY version");
    let rows = db.fetch_all(sql).await.ok()?;
    rows.iter()
        .map(|row| {
            let name: Option<String> = row.at(1)?;
            Ok((row.at::<i32>(0)?, name.unwrap_or_default()))
        })
        .collect::<sqlx::Result<_>>()
        .ok()
}

/// Whether `db`'s history predates the squash: it lacks this build's `squashed` migration.
/// `None` for a database without a history, or with one this build's migrations wrote.
async fn pre_squash(db: &Db, squashed: &Migration) -> Option<PreSquash> {
    let history = history(db).await?;
    let ours = (squashed.version(), squashed.name());
    if history.is_empty() || history.iter().any(|(v, n)| (*v, n.as_str()) == ours) {
        return None;
    }
    let schema_22 = (1..).zip(SCHEMA_22.iter());
    if history.len() == SCHEMA_22.len()
        && history
            .iter()
            .zip(schema_22)
            .all(|((version, name), (v, n))| *version == v && name == n)
    {
        return Some(PreSquash::Schema22);
    }
    let (version, name) = history.last().cloned().unwrap_or_default();
    Some(PreSquash::Unadoptable(UnadoptableSchema { version, name }))
}

/// Before refinery runs: adopts a schema-22 database as `squashed` (returning what it did, for
/// `migrate` to report), refuses any other history from before the squash, and leaves every
/// other database to refinery.
pub(super) async fn adopt_or_refuse(
    db: &Db,
    squashed: &Migration,
) -> anyhow::Result<Option<String>> {
    match pre_squash(db, squashed).await {
        None => Ok(None),
        Some(PreSquash::Unadoptable(refused)) => Err(refused.into()),
        Some(PreSquash::Schema22) => {
            adopt(db, squashed).await?;
            tracing::info!("adopted a database at schema 22 as {squashed}, which it equals");
            Ok(Some(format!(
                "{squashed} (adopted: schema 22, which it equals)"
            )))
        }
    }
}

/// Replaces schema 22's history with the one row refinery writes for `squashed`.
async fn adopt(db: &Db, squashed: &Migration) -> Result<(), StoreError> {
    let mut tx = match db {
        Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
    };
    let delete = Sql::new("DELETE FROM refinery_schema_history WHERE version BETWEEN 1 AND 22");
    let deleted = tx.execute(delete).await?;
    if deleted != SCHEMA_22.len() as u64 {
        // Another process changed the history since it was read: change nothing.
        return Err(inconsistent(format!(
            "the migration history changed while adopting it ({deleted} rows of schema 22)"
        )));
    }
    let applied_on = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| inconsistent(format!("cannot write the time of adoption: {e}")))?;
    let insert = Sql::new(
        "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
         VALUES ($1, $2, $3, $4)",
    )
    .arg(i64::from(squashed.version()))
    .arg(squashed.name())
    .arg(applied_on)
    .arg(squashed.checksum().to_string());
    tx.execute(insert).await?;
    tx.commit().await?;
    Ok(())
}

/// For reading commands, which never write: a schema-22 database reads as it is (its schema is
/// this build's), and any other history from before the squash is refused.
pub(super) async fn check_readable(
    db: &Db,
    url: &DatabaseUrl,
    squashed: &Migration,
) -> anyhow::Result<()> {
    match pre_squash(db, squashed).await {
        None | Some(PreSquash::Schema22) => Ok(()),
        Some(PreSquash::Unadoptable(refused)) => {
            Err(anyhow::Error::new(refused).context(format!("cannot read {url}")))
        }
    }
}
