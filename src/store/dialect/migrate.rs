//! refinery migrations run through sqlx, so the build holds one driver per database.
//!
//! refinery has no sqlx driver: `Migrator` implements refinery's async traits on a sqlx pool.
//! Each batch refinery hands us runs in one transaction with `raw_sql` (PostgreSQL rejects
//! multi-statement prepared queries). On SQLite that transaction runs with foreign key
//! enforcement off, as SQLite's own procedure for rebuilding a table requires (dropping a
//! referenced table would otherwise cascade into its children), and the keys are checked
//! before it commits. Databases from before 0.2.0 are adopted or refused first (`adopt.rs`).

use super::adopt;
use super::sql::Sql;
use super::url::DatabaseUrl;
use super::{Db, Tx};
use crate::store::error::{StoreError, inconsistent};
use anyhow::Context as _;
use refinery_core::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};

mod embedded {
    pub mod sqlite {
        refinery::embed_migrations!("migrations/sqlite");
    }
    pub mod postgres {
        refinery::embed_migrations!("migrations/postgres");
    }
}

struct Migrator<'a>(&'a Db);

impl AsyncTransaction for Migrator<'_> {
    type Error = StoreError;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let pool = match self.0 {
            Db::Sqlite(pool) => pool,
            Db::Postgres(pool) => {
                let mut tx = Tx::Postgres(pool.begin().await?);
                let mut count = 0;
                for query in queries {
                    tx.execute_script(query).await?;
                    count += 1;
                }
                tx.commit().await?;
                return Ok(count);
            }
        };
        let mut conn = pool.acquire().await?;
        sqlx::raw_sql("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
        let applied = sqlite_batch(&mut conn, queries).await;
        let restored = sqlx::raw_sql("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await;
        if restored.is_err() {
            // Never hand a connection without foreign keys back to the pool.
            drop(conn.detach());
        }
        applied
    }
}

/// Runs `queries` in one transaction on `conn` (foreign keys off), and commits only when every
/// foreign key still holds.
async fn sqlite_batch<'a>(
    conn: &mut sqlx::SqliteConnection,
    queries: impl Iterator<Item = &'a str>,
) -> Result<usize, StoreError> {
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut count = 0;
    let mut outcome = Ok(());
    for query in queries {
        let script = sqlx::AssertSqlSafe(query.to_owned());
        if let Err(e) = sqlx::raw_sql(script).execute(&mut *conn).await {
            outcome = Err(e.into());
            break;
        }
        count += 1;
    }
    if outcome.is_ok() {
        let broken = sqlx::raw_sql("PRAGMA foreign_key_check")
            .fetch_all(&mut *conn)
            .await?;
        if !broken.is_empty() {
            let what = format!("the migration left {} broken foreign keys", broken.len());
            outcome = Err(inconsistent(what));
        }
    }
    match outcome {
        Ok(()) => {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            Ok(count)
        }
        Err(e) => {
            sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
            Err(e)
        }
    }
}

impl AsyncQuery<Vec<Migration>> for Migrator<'_> {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let mut sql = Sql::new("");
        sql.push(query);
        let rows = self
            .0
            .fetch_all(sql)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.at::<i32>(0)?,
                    row.at(1)?,
                    row.at::<String>(2)?,
                    row.at(3)?,
                ))
            })
            .collect::<Result<Vec<(i32, String, String, String)>, sqlx::Error>>()?;
        rows.into_iter()
            .map(|(version, name, applied_on, checksum)| {
                let decode = |what: &str| inconsistent(format!("bad {what} in migration history"));
                let applied_on = time::OffsetDateTime::parse(
                    &applied_on,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_err(|_| decode("applied_on"))?;
                let checksum = checksum.parse().map_err(|_| decode("checksum"))?;
                Ok(Migration::applied(version, name, applied_on, checksum))
            })
            .collect()
    }
}

impl AsyncMigrate for Migrator<'_> {}

/// The migrations embedded for `db`'s backend.
fn runner(db: &Db) -> refinery::Runner {
    match db {
        Db::Sqlite(_) => embedded::sqlite::migrations::runner(),
        Db::Postgres(_) => embedded::postgres::migrations::runner(),
    }
}

/// The schema version this build migrates to.
pub fn latest_version(db: &Db) -> i64 {
    let runner = runner(db);
    let versions = runner
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()));
    versions.max().unwrap_or(0)
}

/// Whether `db`'s history ends with this build's latest migration, by version and name: then
/// there is nothing to apply or adopt (a database at schema 22 from before 0.2.0 has the
/// version but not the name, and is adopted by the next `run`).
pub async fn is_current(db: &Db) -> bool {
    let runner = runner(db);
    let Some(latest) = runner.get_migrations().iter().max_by_key(|m| m.version()) else {
        return false;
    };
    let sql = Sql::new(
        "SELECT version, name FROM refinery_schema_history
         WHERE version = (SELECT MAX(version) FROM refinery_schema_history)",
    );
    let Ok(Some(row)) = db.fetch_optional(sql).await else {
        return false;
    };
    let found = (row.at::<i32>(0), row.at::<Option<String>>(1));
    matches!(found, (Ok(v), Ok(Some(name))) if v == latest.version() && name == latest.name())
}

/// This build's first migration, the squashed schema 22, which a database at schema 22 from
/// before 0.2.0 is adopted as.
fn first_migration(runner: &refinery::Runner) -> anyhow::Result<Migration> {
    let first = runner.get_migrations().iter().min_by_key(|m| m.version());
    first.cloned().context("this build embeds no migration")
}

/// Applies pending migrations (up to `target`, if given); returns the names of those applied.
/// A database at schema 22, from before 0.2.0, is first adopted as V22 (`adopt.rs`); any other
/// schema from before 0.2.0 is refused, unchanged.
pub async fn run(db: &Db, target: Option<i32>) -> anyhow::Result<Vec<String>> {
    let mut runner = runner(db);
    let adopted = adopt::adopt_or_refuse(db, &first_migration(&runner)?).await?;
    if let Some(version) = target {
        runner = runner.set_target(refinery_core::Target::Version(version));
    }
    let report = runner
        .run_async(&mut Migrator(db))
        .await
        .context("database migration failed")?;
    let applied = report.applied_migrations().iter().map(ToString::to_string);
    Ok(adopted.into_iter().chain(applied).collect())
}

/// For reading commands, which neither migrate nor write: an error saying what to run when
/// `db`'s schema is from before 0.2.0.
pub async fn check_readable(db: &Db, url: &DatabaseUrl) -> anyhow::Result<()> {
    let runner = runner(db);
    adopt::check_readable(db, url, &first_migration(&runner)?).await
}
