//! The inventory database: it gets and puts rows, and decides nothing about what they mean.
//!
//! What a run added, modified or removed, and when removals are withheld, is decided above
//! it (the `reconcile` and `drift` modules); the store only reads and writes what it is told,
//! with explicit keys and in chunks. Store code is written once: it builds [`Sql`] statements and
//! runs them on a [`Db`] or [`Tx`] of `dialect/`, the only code that names a backend. Tables
//! mirroring the API are declared once in `tables.rs`.
//!
//! `Store`'s methods are grouped by what they serve, one `impl` per file: opening and
//! migrating (here), a run's lifecycle and locks (`runs.rs`), staging pages (`staging.rs`, with
//! the dry run's reads), the apply's transaction (`apply.rs` reads, `write.rs` writes), and
//! reads for commands: `history.rs` (drift, history, diff, export --as-of), `connections.rs`
//! (export), `status.rs` (status, runs, metrics), `query.rs` (reports); then `forget.rs` and
//! `prune.rs`. `records.rs` holds the change records' vocabulary, `lookup.rs` the chunked
//! explicit-key lookups every reader shares.

mod apply;
mod as_of;
mod connections;
mod dialect;
mod error;
mod forget;
mod history;
mod lookup;
mod prune;
mod query;
mod records;
mod runs;
mod staging;
mod status;
mod syncs;
mod tables;
mod traces;
mod write;

pub use apply::{ApplyStart, ApplyTx, Held, Selection, StagedRow, StoredRow, SweepTx};
pub use as_of::{Applied, AsOf};
pub use connections::{ExportCursor, ProjectFilter, ProjectGroup};
pub use dialect::{Cell, DatabaseUrl, DeferredIndexes, LockError, ScopeLock, UnadoptableSchema};
pub use error::{StoreError, error_text, waited_for_write_lock};
pub use forget::{ForgetError, Forgotten};
pub use history::{Named, PairCursor, RecordFilter, RecordedChange, VersionCursor, VersionPair};
pub use prune::Pruned;
pub use query::{QueryTable, RowSink};
pub use records::{Category, ChangeKind, ChangeRecord};
pub use runs::{Resumable, RunCounts, RunStatus, SweepOrigin};
pub use staging::{PageToStage, StageOutcome, StagedConnection, StagedPage, StoredHashes};
pub use status::{RunBrief, RunFilter, RunRow, ScopeStatus, Status};
pub use syncs::RunElsewhere;
pub use traces::{Author, Authorship, TraceFetch, TraceOutcome};
pub use write::{ConnectionWrite, NewVersion, VersionStamp};

// `migrate.rs` reads these as `super::...`; it moves into `dialect/` (issue #23).
use dialect::{Access, Db, migrate, sql};
use std::time::Duration;

/// The inventory: open with [`Store::open`], which also brings the schema up to date.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// How long a process waits for another one's schema migration.
const MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

impl Store {
    /// Connects (creating a SQLite file if missing) and applies pending migrations.
    pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// [`Store::open_for_reading`], or `None` when the SQLite file does not exist yet: for
    /// a dry run, which compares with an empty inventory then.
    pub async fn open_if_exists(url: &DatabaseUrl) -> anyhow::Result<Option<Self>> {
        if Db::is_missing(url)? {
            return Ok(None);
        }
        Self::open_for_reading(url).await.map(Some)
    }

    /// Connects for reading only: creates, migrates and locks nothing, so it works on a
    /// read-only file or `?mode=ro`. A missing database or an older schema is an error that
    /// says which command to run.
    pub async fn open_for_reading(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let store = Self {
            db: Db::connect(url, Access::Read, dialect::DEFAULT_BUSY_WAIT).await?,
        };
        let readable = store.check_readable(url).await;
        if readable.is_err() {
            // Closed now, the connections remove what SQLite created beside the file.
            store.close().await;
        }
        readable.map(|()| store)
    }

    /// That `url`'s schema is the one this build reads.
    async fn check_readable(&self, url: &DatabaseUrl) -> anyhow::Result<()> {
        migrate::check_readable(&self.db, url).await?;
        let (found, needed) = (
            self.schema_version().await,
            migrate::latest_version(&self.db),
        );
        match found {
            Ok(Some(version)) if version == needed => Ok(()),
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
        let db = Db::connect(url, Access::Write, dialect::DEFAULT_BUSY_WAIT).await?;
        Ok(Self { db })
    }

    /// [`Store::open`] for a sync: every wait for SQLite's write lock (held by another
    /// process) is bounded by `lock_timeout`, and opening does not wait for it.
    pub async fn open_waiting(url: &DatabaseUrl, lock_timeout: Duration) -> anyhow::Result<Self> {
        let store = Self {
            db: Db::connect(url, Access::Write, lock_timeout).await?,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Waits up to `timeout` until nobody holds SQLite's write lock, saying so when it has to
    /// wait (a no-op on PostgreSQL); a wait that can be given up, unlike one inside SQLite.
    pub async fn wait_writable(&self, timeout: Duration) -> Result<(), LockError> {
        self.db.wait_writable(timeout).await
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
        let holder = "another process's schema migration".to_owned();
        let lock = self
            .db
            .lock(
                "vpn-inventory migrations",
                MIGRATION_LOCK_TIMEOUT,
                holder,
                "",
            )
            .await?;
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

    pub async fn close(&self) {
        self.db.close().await;
    }
}
