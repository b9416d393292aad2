//! refinery migrations run through sqlx, so the build holds one driver per database.
//!
//! refinery has no sqlx driver: `Migrator` implements refinery's async traits on a sqlx pool.
//! Each batch refinery hands us runs in one transaction with `raw_sql` (PostgreSQL rejects
//! multi-statement prepared queries).

use super::{Db, on_db};
use anyhow::Context as _;
use refinery_core::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use sqlx::{AssertSqlSafe, Row};

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
    type Error = sqlx::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        on_db!(self.0, pool => {
            let mut tx = pool.begin().await?;
            let mut count = 0;
            for query in queries {
                sqlx::raw_sql(AssertSqlSafe(query.to_owned())).execute(&mut *tx).await?;
                count += 1;
            }
            tx.commit().await?;
            Ok(count)
        })
    }
}

impl AsyncQuery<Vec<Migration>> for Migrator<'_> {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = on_db!(self.0, pool => {
            let rows = sqlx::query(AssertSqlSafe(query.to_owned())).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get::<i32, _>(0)?,
                        row.try_get::<String, _>(1)?,
                        row.try_get::<String, _>(2)?,
                        row.try_get::<String, _>(3)?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        rows.into_iter()
            .map(|(version, name, applied_on, checksum)| {
                let decode = |what: &str| {
                    sqlx::Error::Decode(format!("bad {what} in migration history").into())
                };
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

/// Applies pending migrations (up to `target`, if given); returns the names of those applied.
pub async fn run(db: &Db, target: Option<i32>) -> anyhow::Result<Vec<String>> {
    let mut runner = match db {
        Db::Sqlite(_) => embedded::sqlite::migrations::runner(),
        Db::Postgres(_) => embedded::postgres::migrations::runner(),
    };
    if let Some(version) = target {
        runner = runner.set_target(refinery_core::Target::Version(version));
    }
    let report = runner
        .run_async(&mut Migrator(db))
        .await
        .context("database migration failed")?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(ToString::to_string)
        .collect())
}
