//! The inventory database: opening it, migrating it, and the one code path for every backend.
//!
//! Store code is written once: it builds [`sql::Sql`] statements (`$1` placeholders, `ON
//! CONFLICT`, `RETURNING`: what every backend speaks) and runs them on a [`Db`] or [`Tx`], whose
//! methods are the only places that match on the backend (`sql.rs`), one line per backend.
//! Tables mirroring the API are declared once in `tables.rs`. Backend differences live in
//! `migrations/<backend>/` and in this module (connecting and beginning transactions).
//!
//! Applies serialize in the dialect layer (`begin_apply`): SQLite takes a file lock beside the
//! database and then its write lock (`BEGIN IMMEDIATE`), PostgreSQL a transaction-scoped
//! advisory lock, so concurrent runs of different scopes never trip over each other's apply
//! step, while their staging runs freely. Both waits are bounded by `--lock-timeout` and give
//! way to a signal.

mod adopt;
mod apply;
mod bulk;
mod cells;
mod connections;
mod error;
mod forget;
mod history;
mod lock;
mod migrate;
mod prune;
mod query;
mod removals;
mod runs;
mod sql;
mod status;
mod tables;
mod url;
mod write;

pub use adopt::UnadoptableSchema;
pub use apply::Applied;
pub use connections::ExportCursor;
pub use error::StoreError;
pub use forget::{ForgetError, Forgotten};
pub use history::{
    AsOf, ChangeRecord, Named, PairCursor, RecordFilter, VersionCursor, VersionPair,
};
pub use lock::{LockError, ScopeLock};
pub use prune::Pruned;
pub use query::{QueryTable, RowSink};
pub use removals::{Removable, Removals};
pub use runs::{
    PageToStage, Resumable, RunCounts, RunRow, RunStatus, StageOutcome, StagedConnection,
    StagedPage, SweepOrigin,
};
pub use sql::Cell;
pub use status::{RunBrief, ScopeStatus, Status};
pub use url::DatabaseUrl;
// Moved to `crate::time`; re-exported while store code is being rewritten.

use anyhow::Context as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// A pool of connections to the inventory database.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on the inventory database.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

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

    /// Connects for reading only: creates, migrates and locks nothing, so it works on a
    /// read-only file or `?mode=ro`. A missing database or an older schema is an error that
    /// says which command to run.
    /// [`Store::open_for_reading`], or `None` when the SQLite file does not exist yet: for
    /// a dry run, which compares with an empty inventory then.
    pub async fn open_if_exists(url: &DatabaseUrl) -> anyhow::Result<Option<Self>> {
        if url.backend() == url::Backend::Sqlite {
            let options = SqliteConnectOptions::from_str(url.expose())
                .with_context(|| format!("invalid SQLite database URL {url}"))?;
            let file = options.get_filename();
            if is_file(file) && !file.exists() {
                return Ok(None);
            }
        }
        Self::open_for_reading(url).await.map(Some)
    }

    pub async fn open_for_reading(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let store = Self::connect_as(url, Access::Read).await?;
        migrate::check_readable(&store.db, url).await?;
        let (found, needed) = (
            store.schema_version().await,
            migrate::latest_version(&store.db),
        );
        match found {
            Ok(Some(version)) if version == needed => Ok(store),
            Ok(Some(version)) if version > needed => anyhow::bail!(
                "{url} has schema version {version}, newer than this vpn-inventory knows \
                 ({needed}): use a newer vpn-inventory"
            ),
            Ok(Some(version)) => anyhow::bail!(
                "{url} has schema version {version}; this vpn-inventory reads version \
                 {needed}: run `vpn-inventory migrate` to upgrade it"
            ),
            Ok(None) | Err(_) => anyhow::bail!(
                "{url} holds no inventory yet: run `vpn-inventory sync` (or `migrate`) first"
            ),
        }
    }

    /// Connects without migrating.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Self::connect_as(url, Access::Write).await
    }

    async fn connect_as(url: &DatabaseUrl, access: Access) -> anyhow::Result<Self> {
        let db = match url.backend() {
            url::Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url.expose())
                    .with_context(|| format!("invalid SQLite database URL {url}"))?
                    .create_if_missing(access == Access::Write)
                    .journal_mode(SqliteJournalMode::Wal)
                    // In WAL mode a commit then writes the log without waiting for the disk:
                    // a power loss may undo the last commits but never corrupts, and an undone
                    // apply leaves its run for the next sync to mark abandoned and redo.
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let options = match access {
                    // Both settle only how a new file is laid out; an existing one keeps its
                    // own. 8 KiB pages hold five stored bodies (about 1.5 KB each) where 4 KiB
                    // pages held two and left a quarter empty; 16 KiB pages saved 2% more but
                    // made an unchanged re-sync of 100,000 connections 9% slower (each
                    // staging commit rewrites every index leaf it touched). Incremental
                    // auto-vacuum lets an apply give back what its staging freed
                    // (`tidy_after_apply`).
                    Access::Write => options
                        .page_size(8 * 1024)
                        .auto_vacuum(SqliteAutoVacuum::Incremental),
                    Access::Read => options,
                };
                let file = options.get_filename();
                match access {
                    Access::Write => create_private(file)
                        .with_context(|| format!("cannot create SQLite database {url}"))?,
                    Access::Read if is_file(file) && !file.exists() => anyhow::bail!(
                        "there is no inventory at {url}: run `vpn-inventory sync` first, or \
                         point --database (VPN_INVENTORY_DATABASE) at one"
                    ),
                    Access::Read => {}
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await
                    .with_context(|| format!("cannot open SQLite database {url}"))?;
                Db::Sqlite(pool)
            }
            url::Backend::Postgres => {
                // sslmode, passwords (or PGPASSWORD) and the rest come from the URL as libpq
                // reads them.
                let options = PgConnectOptions::from_str(url.expose())
                    .with_context(|| format!("invalid PostgreSQL database URL {url}"))?;
                // One plain connection first: the pool would retry a refused connection until
                // its timeout, where a wrong host or password deserves an answer now.
                let cannot = || format!("cannot connect to PostgreSQL at {url}");
                sqlx::PgConnection::connect_with(&options)
                    .await
                    .with_context(cannot)?
                    .close()
                    .await
                    .with_context(cannot)?;
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    // The store looks connections up by key, a few hundred at a time, in an
                    // inventory that stays in memory. At the default random_page_cost (4, for
                    // disks that seek) the planner prices such a lookup in a 20,000-row table
                    // above a scan of it all, and took 15 ms where the index takes 4.
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::raw_sql("SET random_page_cost = 1.1")
                                .execute(conn)
                                .await
                                .map(drop)
                        })
                    })
                    .connect_with(options)
                    .await
                    .with_context(cannot)?;
                Db::Postgres(pool)
            }
        };
        Ok(Self { db })
    }

    /// Applies pending migrations; returns the names of those applied now.
    pub async fn migrate(&self) -> anyhow::Result<Vec<String>> {
        self.migrate_to(None).await
    }

    /// Applies pending migrations up to `target` (all when `None`), one process at a time:
    /// cron jobs starting together on a new database must not both create it.
    pub async fn migrate_to(&self, target: Option<i32>) -> anyhow::Result<Vec<String>> {
        // Up to date: nothing to lock or write (a SQLite write would wait for another
        // process's apply just to find that out).
        if target.is_none() && migrate::is_current(&self.db).await {
            return Ok(Vec::new());
        }
        let lock = self.lock_migrations().await?;
        let applied = migrate::run(&self.db, target).await;
        lock.release().await;
        applied
    }

    /// The highest schema version applied, `None` for a database without a schema.
    pub async fn schema_version(&self) -> sqlx::Result<Option<i64>> {
        let sql = sql::Sql::new("SELECT MAX(version) FROM refinery_schema_history");
        let version: Option<i32> = self.db.fetch_one(sql).await?.at(0)?;
        Ok(version.map(i64::from))
    }

    /// A transaction for reading (export, history): a consistent snapshot.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match &self.db {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// A read-only snapshot for SQL the store did not write (reports): PostgreSQL's READ ONLY
    /// transaction; on SQLite, whose transactions cannot be made read-only, `query_only` on its
    /// connection until [`Tx::end_query_only`] (or until the connection closes, should the
    /// transaction be dropped instead).
    pub async fn begin_query_only(&self) -> sqlx::Result<Tx> {
        let mut tx = self.begin().await?;
        if let Tx::Sqlite(conn) = &mut tx {
            sqlx::query("PRAGMA query_only = ON")
                .execute(&mut **conn)
                .await?;
        }
        Ok(tx)
    }

    /// A transaction that writes (staging a page). SQLite takes its write lock up front so a
    /// busy database makes it wait rather than fail half-way.
    pub async fn begin_write(&self) -> sqlx::Result<Tx> {
        Ok(match &self.db {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A transaction that applies a run, serialized with every other apply of this database:
    /// they number themselves (`apply_seq`) and share the connection tables. Waits up to
    /// `timeout` for another apply, saying so when it has to wait.
    pub async fn begin_apply(&self, timeout: Duration) -> Result<ApplyTx, StoreError> {
        let waiting = || tracing::info!("waiting up to {timeout:?} for another run's apply");
        if let Db::Postgres(pool) = &self.db {
            // The apply looks the staging up by key, a chunk at a time. Planned on the
            // row counts of the last run's staging (none, after its vacuum), each lookup read
            // the whole run's staging instead: a first sync of 100,000 connections spent 21 s
            // re-reading it, an unchanged re-sync 5 s.
            sqlx::raw_sql("ANALYZE staged_connections (run_id, connection_key)")
                .execute(pool)
                .await?;
        }
        Ok(match &self.db {
            Db::Sqlite(pool) => {
                let lock = match self.lock_applies(Duration::ZERO).await {
                    Err(LockError::Busy { .. }) => {
                        waiting();
                        self.lock_applies(timeout).await
                    }
                    other => other,
                };
                let lock = match lock {
                    Err(LockError::Busy { .. }) => {
                        return Err(StoreError::ApplyBusy { waited: timeout });
                    }
                    other => other?,
                };
                ApplyTx {
                    tx: Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
                    _serialized: Some(lock),
                }
            }
            Db::Postgres(pool) => {
                let mut tx = Tx::Postgres(pool.begin().await?);
                let try_lock = sql::Sql::new("SELECT pg_try_advisory_xact_lock($1)");
                let locked: bool = tx.fetch_one(try_lock.arg(APPLY_LOCK_KEY)).await?.at(0)?;
                if locked {
                    return Ok(ApplyTx {
                        tx,
                        _serialized: None,
                    });
                }
                waiting();
                let millis = i64::try_from(timeout.as_millis())
                    .unwrap_or(i64::MAX)
                    .max(1);
                let wait = sql::Sql::new("SELECT set_config('lock_timeout', $1, true)");
                tx.execute(wait.arg(format!("{millis}ms").as_str())).await?;
                let lock = sql::Sql::new("SELECT pg_advisory_xact_lock($1)").arg(APPLY_LOCK_KEY);
                match tx.execute(lock).await {
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                        return Err(StoreError::ApplyBusy { waited: timeout });
                    }
                    other => other?,
                };
                let unbounded = sql::Sql::new("SELECT set_config('lock_timeout', '0', true)");
                tx.execute(unbounded).await?;
                ApplyTx {
                    tx,
                    _serialized: None,
                }
            }
        })
    }

    /// Keeps the database fit for the next run, after an apply and outside its transaction.
    ///
    /// On SQLite, the pages the apply freed (the staging it deleted) are given back: a first
    /// sync stages every body, and left the file a third larger than what it holds; kept for
    /// the next run's staging instead, they made the file grow by one staging after the
    /// first re-sync (4.5% at 100,000 connections). A file created without incremental
    /// auto-vacuum (before it was the default) keeps them, and reuses them.
    /// SQLite's planner goes by the indexes, not by row counts: it needs no analyze.
    ///
    /// On PostgreSQL:
    /// - The staging rows the apply deleted are vacuumed: autovacuum comes too late for runs
    ///   that follow each other, and every run would otherwise extend the staging tables.
    /// - When the apply rewrote a good part of the inventory (`counts`), the tables the next
    ///   run looks connections up in are analyzed. The planner goes by the row counts it last
    ///   saw; on a server whose autovacuum is off or has not come round yet, a re-sync after
    ///   the first sync was planned for empty tables, and each page's lookup of its held
    ///   hashes scanned the whole project (12 ms instead of 2 ms a page at 20,000
    ///   connections).
    pub async fn tidy_after_apply(&self, counts: &RunCounts) -> sqlx::Result<()> {
        let pool = match &self.db {
            Db::Postgres(pool) => pool,
            Db::Sqlite(pool) => return give_back_free_pages(pool).await,
        };
        truncate_idle_staging(pool).await?;
        // VACUUM and ANALYZE of several tables cannot run in a transaction: plain statements.
        sqlx::raw_sql("VACUUM staged_connections, staged_pages")
            .execute(pool)
            .await?;
        if rewrote_much(counts) {
            // Only what the next run's lookups go by: row counts and the key columns' (all
            // columns of a 20,000-connection inventory took 0.8 s, these 0.12 s).
            sqlx::raw_sql(
                "ANALYZE connections (project_id, id, id_key),
                     scope_connections (scope_id, connection_id, connection_key),
                     connection_versions (project_id, connection_id, to_seq)",
            )
            .execute(pool)
            .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Empties PostgreSQL's staging tables outright when no run has anything staged. VACUUM frees
/// their rows but keeps every page of their indexes: a first sync of 100,000 connections left
/// `staged_connections_key` at 9 MB. Skipped, not waited for, while another run stages.
async fn truncate_idle_staging(pool: &sqlx::PgPool) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL lock_timeout = '100ms'")
        .execute(&mut *tx)
        .await?;
    let lock = "LOCK TABLE staged_pages, staged_connections IN ACCESS EXCLUSIVE MODE";
    match sqlx::query(lock).execute(&mut *tx).await {
        // Busy: dropping the transaction rolls it back.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => return Ok(()),
        other => other?,
    };
    let staged: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM staged_pages) OR EXISTS (SELECT 1 FROM staged_connections)",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !staged {
        sqlx::query("TRUNCATE staged_pages, staged_connections")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Truncates a SQLite file's free pages, if it has any.
async fn give_back_free_pages(pool: &sqlx::SqlitePool) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(&mut *conn)
        .await?;
    if free > 0 {
        // A no-op on a file without incremental auto-vacuum.
        sqlx::raw_sql("PRAGMA incremental_vacuum")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// An apply's transaction, holding (on SQLite) the lock that serializes applies until it ends.
pub struct ApplyTx {
    pub(crate) tx: Tx,
    _serialized: Option<ScopeLock>,
}

/// Whether a command may change the database (and create it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// Whether a SQLite "filename" names a file (not an in-memory database).
fn is_file(file: &std::path::Path) -> bool {
    !(file.as_os_str().is_empty() || file == std::path::Path::new(":memory:"))
}

/// Creates a new SQLite database file readable by its owner only: the inventory maps a
/// network. SQLite gives its `-wal` and `-shm` files the same permissions.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    if !is_file(file) {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// Advisory lock key every apply in a PostgreSQL inventory takes ("vpninvap" in ASCII).
const APPLY_LOCK_KEY: i64 = 0x7670_6e69_6e76_6170;

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Ends a transaction of [`Store::begin_query_only`]: its connection may write again.
    pub async fn end_query_only(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(mut tx) => {
                sqlx::query("PRAGMA query_only = OFF")
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await
            }
            Tx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// Whether an apply added, changed or removed a tenth of what it saw (and at least 50
/// connections), like the threshold of PostgreSQL's own autovacuum analyze.
fn rewrote_much(counts: &RunCounts) -> bool {
    let rewritten = counts.added + counts.modified + counts.removed;
    rewritten >= 50 && rewritten * 10 >= rewritten + counts.unchanged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apply_that_rewrote_a_tenth_of_what_it_saw_asks_for_fresh_statistics() {
        let counts = |added, modified, removed, unchanged| RunCounts {
            added,
            modified,
            removed,
            modified_config: 0,
            unchanged,
        };
        assert!(rewrote_much(&counts(20_000, 0, 0, 0)));
        assert!(rewrote_much(&counts(0, 60, 40, 900)));
        assert!(!rewrote_much(&counts(0, 60, 39, 900)));
        assert!(!rewrote_much(&counts(49, 0, 0, 0)));
        assert!(!rewrote_much(&counts(0, 0, 0, 20_000)));
    }
}
