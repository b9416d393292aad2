//! The inventory database: opening it, migrating it, and the one code path for every backend.
//!
//! `Db` wraps a pool per backend and `Tx` a transaction per backend. Store code is written once
//! inside `on_db!`/`on_tx!`, which expand the same SQL and binds for each backend, so the SQL
//! uses only what every backend speaks (`$1` placeholders, `ON CONFLICT`, `RETURNING`). Backend
//! differences live in `migrations/<backend>/` and in this module.
//!
//! PostgreSQL gets its own arm when its migrations land; the dispatch is already shaped for it.

mod apply;
mod connections;
mod history;
mod migrate;
mod runs;
mod url;

pub use connections::ExportCursor;
pub use history::{AsOf, ChangeRecord, RecordFilter, VersionCursor};
pub use runs::{PageToStage, RunCounts, RunRow, StageOutcome, StagedConnection};
pub use url::DatabaseUrl;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// A pool of connections to the inventory database.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
}

/// An open transaction on the inventory database.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
}

/// Runs `$body` with `$pool` bound to the backend's pool.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the backend's transaction connection (`&mut *tx`).
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use {on_db, on_tx};

/// The inventory: open with [`Store::open`], which also brings the schema up to date.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Connects (creating a SQLite file if missing) and applies pending migrations.
    pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let db = match url.backend() {
            url::Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())
                    .with_context(|| format!("invalid SQLite database URL {url}"))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await
                    .with_context(|| format!("cannot open SQLite database {url}"))?;
                Db::Sqlite(pool)
            }
            url::Backend::Postgres => anyhow::bail!(
                "PostgreSQL ({url}) is not supported yet; use a sqlite:// database URL"
            ),
        };
        Ok(Self { db })
    }

    /// Applies pending migrations; returns the names of those applied now.
    pub async fn migrate(&self) -> anyhow::Result<Vec<String>> {
        migrate::run(&self.db).await
    }

    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(on_db!(&self.db, pool => Tx::Sqlite(pool.begin().await?)))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub async fn close(&self) {
        on_db!(&self.db, pool => pool.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
        }
    }
}

/// Current time, truncated to microseconds: what every backend can store exactly.
pub fn now_utc() -> chrono::DateTime<chrono::Utc> {
    truncate_to_micros(chrono::Utc::now())
}

pub fn truncate_to_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Timelike};
    let micros = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(micros)
        .unwrap_or_else(|| t.trunc_subsecs(6))
}
