//! The only code that names a backend: what SQLite and PostgreSQL do differently.
//!
//! Store code above this folder is written once: it builds [`Sql`] statements (`$1`
//! placeholders, `ON CONFLICT`, `RETURNING`: what every backend speaks) and runs them on a
//! [`Db`] or [`Tx`]. Here live the enums of the two pools and their dispatch (`sql.rs`, one
//! line per backend), reading a column of unknown type (`cells.rs`), rebuilding the indexes of
//! tables filled in bulk (`bulk.rs`), locks across processes (`lock.rs`), database URLs
//! (`url.rs`), and, in this file, connecting, beginning transactions of each kind and the
//! upkeep after an apply. Backend differences of the schema live in `migrations/<backend>/`.
//!
//! Applies serialize here (`begin_apply`): SQLite takes a file lock beside the database and
//! then its write lock (`BEGIN IMMEDIATE`), PostgreSQL a transaction-scoped advisory lock, so
//! concurrent runs of different scopes never trip over each other's apply step, while their
//! staging runs freely. Both waits are bounded by `--lock-timeout` and give way to a signal.

mod adopt;
mod bulk;
mod cells;
mod lock;
pub mod migrate;
mod reader;
pub mod sql;
mod unnest;
mod url;

pub use adopt::UnadoptableSchema;
pub use bulk::DeferredIndexes;
pub use lock::{LockError, ScopeLock};
pub use sql::{Cell, Db, Decoded, IdKey, MAX_PARAMS, Row, Sql, Tx, id_keys};
pub use url::DatabaseUrl;

use anyhow::Context as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// A database library's error in our words, for [`crate::text::causes_shown`]: PostgreSQL's
/// message and SQLSTATE without sqlx's " at line 948" (a line of the server's own source), a
/// URL's bad parameter without sqlx's "error with configuration: " (which it repeats when it
/// wraps its own error); `None` for any other error, told as it tells itself.
pub fn worded(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    match error.downcast_ref::<sqlx::Error>()? {
        sqlx::Error::Database(db) => {
            let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
            Some(format!(
                "PostgreSQL error SQLSTATE {}: {}",
                pg.code(),
                pg.message()
            ))
        }
        sqlx::Error::Configuration(inner) => {
            let mut inner: &(dyn std::error::Error + 'static) = inner.as_ref();
            while let Some(sqlx::Error::Configuration(deeper)) = inner.downcast_ref() {
                inner = deeper.as_ref();
            }
            Some(crate::text::causes_shown(inner, worded))
        }
        _ => None,
    }
}

/// Why the `sslmode` parameter of a PostgreSQL URL is wrong, naming it as the URL does (sqlx
/// calls it `ssl_mode`); `None` when it is right or absent.
fn bad_sslmode(raw: &str) -> Option<String> {
    const MODES: [&str; 6] = [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ];
    let url = ::url::Url::parse(raw).ok()?;
    let (key, value) = url.query_pairs().find(|(k, v)| {
        (k == "sslmode" || k == "ssl-mode") && !MODES.contains(&&*v.to_lowercase())
    })?;
    Some(format!(
        "{key}={} is not one of {}",
        crate::text::start(&value),
        MODES.join(", ")
    ))
}

/// Whether a command may change the database (and create it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Advisory lock key every apply in a PostgreSQL inventory takes ("vpninvap" in ASCII).
const APPLY_LOCK_KEY: i64 = 0x7670_6e69_6e76_6170;

/// How long a statement waits for SQLite's write lock unless a command says (`--lock-timeout`).
pub const DEFAULT_BUSY_WAIT: Duration = Duration::from_secs(30);

/// How often a run waiting for SQLite's write lock tries again ([`Db::wait_writable`]).
const WRITE_LOCK_RETRY: Duration = Duration::from_millis(100);

impl Db {
    /// Whether `url` names a database file that does not exist yet (never so for a server).
    pub fn is_missing(url: &DatabaseUrl) -> anyhow::Result<bool> {
        if url.backend() != url::Backend::Sqlite {
            return Ok(false);
        }
        let options = SqliteConnectOptions::from_str(url.expose())
            .with_context(|| format!("invalid SQLite database URL {url}"))?;
        let file = options.get_filename();
        Ok(is_file(file) && !file.exists())
    }

    /// Connects: for writing (creating a SQLite file if missing), or for reading only. A
    /// statement waits up to `busy_wait` for SQLite's write lock, held by another process.
    pub async fn connect(
        url: &DatabaseUrl,
        access: Access,
        busy_wait: Duration,
    ) -> anyhow::Result<Self> {
        Ok(match url.backend() {
            url::Backend::Sqlite => Db::Sqlite(connect_sqlite(url, access, busy_wait).await?),
            url::Backend::Postgres => Db::Postgres(connect_postgres(url).await?),
        })
    }

    /// Waits up to `timeout` until SQLite's write lock is free (another process may hold it:
    /// `sqlite3` in a write transaction, say), saying so when it has to wait; `LockError::Busy`
    /// naming the lock when that was not enough. The wait is a loop of tries, so a caller can
    /// give it up (on a signal) by dropping it. Nothing to wait for on PostgreSQL, whose
    /// writers do not lock the database.
    pub async fn wait_writable(&self, timeout: Duration) -> Result<(), LockError> {
        let Db::Sqlite(pool) = self else {
            return Ok(());
        };
        let options = pool.connect_options();
        if !is_file(options.get_filename()) {
            return Ok(());
        }
        // A connection of its own, which never waits inside SQLite: the waiting is done here,
        // and a busy database while connecting (another connection checkpointing) is waited
        // for the same way.
        let options = (*options).clone().busy_timeout(Duration::ZERO);
        let mut conn = None;
        let mut wait = BusyWait::new(timeout, format!("for {WRITE_LOCK}"));
        let waited = loop {
            match try_write_lock(&options, &mut conn).await {
                Ok(()) => break Ok(()),
                Err(e) => {
                    if let Err(waited) = wait.again(e).await {
                        break Err(waited);
                    }
                }
            }
        };
        if let Some(conn) = conn {
            let _ = conn.close().await;
        }
        match waited {
            Ok(()) => Ok(()),
            Err(Waited::Busy(_)) => Err(write_lock_busy(timeout)),
            Err(Waited::Failed(e)) => Err(LockError::from(e)),
        }
    }

    /// A transaction for reading (export, history): a consistent snapshot.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
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
    ///
    /// PostgreSQL's transaction also reads text as the report's checks do (standard
    /// conforming strings, whatever the server's default) and carries a mark of its own, the
    /// setting `vpn_inventory.query_only`, which ends with it (see [`Tx::check_query_only`]).
    ///
    /// And it runs without JIT: PostgreSQL compiles a statement it costs high (a report's
    /// join of every network with every other, estimated at millions of rows) to machine code
    /// first, 5 s of compiling for `subnet-overlap-pairs`' 2 s of work on the demo's
    /// inventory. A report runs once.
    pub async fn begin_query_only(&self) -> sqlx::Result<Tx> {
        let mut tx = self.begin().await?;
        match &mut tx {
            Tx::Sqlite(conn) => {
                sqlx::query("PRAGMA query_only = ON")
                    .execute(&mut **conn)
                    .await?;
            }
            Tx::Postgres(conn) => {
                sqlx::query(
                    "SELECT set_config('standard_conforming_strings', 'on', true),
                        set_config('vpn_inventory.query_only', 'on', true),
                        set_config('jit', 'off', true)",
                )
                .execute(&mut **conn)
                .await?;
            }
        }
        Ok(tx)
    }

    /// A transaction that writes (staging a page). SQLite takes its write lock up front so a
    /// busy database makes it wait rather than fail half-way.
    pub async fn begin_write(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A transaction that applies a run, serialized with every other apply of this database,
    /// and (on SQLite) the lock that serializes them, to be held until it ends. Waits up to
    /// `timeout` for another apply, saying so when it has to wait; `LockError::Busy` when that
    /// was not enough.
    pub async fn begin_apply(
        &self,
        timeout: Duration,
    ) -> Result<(Tx, Option<ScopeLock>), LockError> {
        let waiting = || tracing::info!("waiting up to {timeout:?} for another run's apply");
        let busy = || LockError::Busy {
            holder: "another run's apply".to_owned(),
            waited: timeout,
            hint: " (--lock-timeout)",
        };
        let pool = match self {
            Db::Postgres(pool) => pool,
            Db::Sqlite(pool) => {
                let lock = match self.lock_applies(Duration::ZERO).await {
                    Err(LockError::Busy { .. }) => {
                        waiting();
                        self.lock_applies(timeout).await
                    }
                    other => other,
                }?;
                let tx = Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?);
                return Ok((tx, Some(lock)));
            }
        };
        // The apply looks the staging up by key, a chunk at a time. Planned on the row counts
        // of the last run's staging (none, after its vacuum), each lookup read the whole run's
        // staging instead: a first sync of 100,000 connections spent 21 s re-reading it, an
        // unchanged re-sync 5 s.
        sqlx::raw_sql("ANALYZE staged_connections (run_id, connection_key)")
            .execute(pool)
            .await?;
        let mut tx = Tx::Postgres(pool.begin().await?);
        let try_lock = Sql::new("SELECT pg_try_advisory_xact_lock($1)");
        let locked: bool = tx.fetch_one(try_lock.arg(APPLY_LOCK_KEY)).await?.at(0)?;
        if locked {
            return Ok((tx, None));
        }
        waiting();
        let millis = i64::try_from(timeout.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let wait = Sql::new("SELECT set_config('lock_timeout', $1, true)");
        tx.execute(wait.arg(format!("{millis}ms").as_str())).await?;
        let lock = Sql::new("SELECT pg_advisory_xact_lock($1)").arg(APPLY_LOCK_KEY);
        match tx.execute(lock).await {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                return Err(busy());
            }
            other => other?,
        };
        let unbounded = Sql::new("SELECT set_config('lock_timeout', '0', true)");
        tx.execute(unbounded).await?;
        Ok((tx, None))
    }

    /// Keeps the database fit for the next run, after an apply and outside its transaction;
    /// `rewrote_much`: whether the apply rewrote a good part of the inventory.
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
    /// - When the apply rewrote much, the tables the next run looks connections up in are
    ///   analyzed. The planner goes by the row counts it last saw; on a server whose
    ///   autovacuum is off or has not come round yet, a re-sync after the first sync was
    ///   planned for empty tables, and each page's lookup of its held hashes scanned the whole
    ///   project (12 ms instead of 2 ms a page at 20,000 connections).
    pub async fn tidy_after_apply(&self, rewrote_much: bool) -> sqlx::Result<()> {
        let pool = match self {
            Db::Postgres(pool) => pool,
            Db::Sqlite(pool) => return give_back_free_pages(pool).await,
        };
        truncate_idle_staging(pool).await?;
        // VACUUM and ANALYZE of several tables cannot run in a transaction: plain statements.
        sqlx::raw_sql("VACUUM staged_connections, staged_pages")
            .execute(pool)
            .await?;
        if rewrote_much {
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

    /// The database's size on disk (SQLite: the file and its write-ahead log), when it can be
    /// known.
    pub async fn size_bytes(&self) -> sqlx::Result<Option<u64>> {
        match self {
            Db::Sqlite(pool) => {
                let file = pool.connect_options().get_filename().to_owned();
                let mut wal = file.clone().into_os_string();
                wal.push("-wal");
                let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len());
                Ok(size(&file)
                    .ok()
                    .map(|main| main + size(std::path::Path::new(&wal)).unwrap_or(0)))
            }
            Db::Postgres(_) => {
                let sql = Sql::new("SELECT pg_database_size(current_database())");
                let size: i64 = self.fetch_one(sql).await?.at(0)?;
                Ok(u64::try_from(size).ok())
            }
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    /// Whether no other transaction can write the database while this one runs: on SQLite a
    /// transaction that writes holds the database's write lock, and one that began by reading
    /// cannot write over another's commit (`SQLITE_BUSY_SNAPSHOT`); on PostgreSQL others write
    /// beside it.
    pub fn writes_alone(&self) -> bool {
        matches!(self, Tx::Sqlite(_))
    }

    /// Whether a transaction of [`Db::begin_query_only`] is still the one it began, after a
    /// statement ran in it: on PostgreSQL its mark is set (a `COMMIT` or `ROLLBACK` ended it,
    /// and what came next ran in a transaction of its own), it is read-only and has taken no
    /// transaction id (which a write takes); on SQLite, the connection is still `query_only`.
    pub async fn check_query_only(&mut self) -> anyhow::Result<()> {
        let kept: bool = match self {
            Tx::Sqlite(tx) => sqlx::query_scalar("SELECT query_only = 1 FROM pragma_query_only")
                .fetch_one(&mut **tx)
                .await
                .context("checking the report's transaction")?,
            Tx::Postgres(tx) => sqlx::query_scalar(
                "SELECT current_setting('vpn_inventory.query_only', true) IS NOT DISTINCT FROM 'on'
                    AND current_setting('transaction_read_only') = 'on'
                    AND txid_current_if_assigned() IS NULL",
            )
            .fetch_one(&mut **tx)
            .await
            .context("checking the report's transaction")?,
        };
        anyhow::ensure!(
            kept,
            "it left its read-only transaction (ended it, or wrote): a report is one query \
             that changes nothing"
        );
        Ok(())
    }

    /// Ends a transaction of [`Db::begin_query_only`]: its connection may write again.
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

async fn connect_sqlite(
    url: &DatabaseUrl,
    access: Access,
    busy_wait: Duration,
) -> anyhow::Result<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::from_str(url.expose())
        .with_context(|| format!("invalid SQLite database URL {url}"))?
        .create_if_missing(access == Access::Write)
        // In WAL mode a commit then writes the log without waiting for the disk: a power loss
        // may undo the last commits but never corrupts, and an undone apply leaves its run for
        // the next sync to mark abandoned and redo.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(busy_wait);
    let file = options.get_filename().to_owned();
    let created = match access {
        Access::Write => {
            create_private(&file).with_context(|| format!("cannot create SQLite database {url}"))?
        }
        Access::Read => false,
    };
    let options = match created {
        // Both settle only how a new file is laid out; an existing one keeps its own (and
        // setting auto_vacuum on one waits for SQLite's write lock, at every connect). 8 KiB
        // pages hold five stored bodies (about 1.5 KB each) where 4 KiB pages held two and
        // left a quarter empty; 16 KiB pages saved 2% more but made an unchanged re-sync of
        // 100,000 connections 9% slower (each staging commit rewrites every index leaf it
        // touched). Incremental auto-vacuum lets an apply give back what its staging freed
        // (`tidy_after_apply`).
        true => options
            .page_size(8 * 1024)
            .auto_vacuum(SqliteAutoVacuum::Incremental),
        false => options,
    };
    let options = match access {
        // The journal mode is a setting of the file, kept by it: only a writer sets it.
        Access::Write => options.journal_mode(SqliteJournalMode::Wal),
        Access::Read if is_file(&file) && !file.exists() => anyhow::bail!(
            "there is no inventory at {url}: run `vpn-inventory sync` first, or point \
             --database (VPN_INVENTORY_DATABASE) at one"
        ),
        Access::Read if is_file(&file) => reader::options(options, &file),
        Access::Read => options,
    };
    let pool_options = SqlitePoolOptions::new()
        .max_connections(4)
        // A connection is handed out once the statements before it ended: each waits for the
        // write lock at most `busy_wait`, and connecting does not wait for it.
        .acquire_timeout(busy_wait + Duration::from_secs(5));
    // Opening can find the file busy without SQLite's busy handler ever waiting: while the
    // last connection of another process checkpoints and removes the log at close, or while
    // another writer first switches a new file to WAL. Such a moment is waited out here, up
    // to `busy_wait` like any other wait on SQLite's locks.
    let mut wait = BusyWait::new(busy_wait, format!("to open {OPEN_LOCK}"));
    let opened = loop {
        match pool_options.clone().connect_with(options.clone()).await {
            Ok(pool) => break Ok(pool),
            Err(e) => {
                if let Err(waited) = wait.again(e).await {
                    break Err(waited);
                }
            }
        }
    };
    opened.map_err(|waited| match waited {
        Waited::Busy(e) => {
            let waited = humantime::format_duration(busy_wait);
            anyhow::Error::new(e).context(format!(
                "cannot open SQLite database {url}: gave up after waiting {waited} \
                 for {OPEN_LOCK}"
            ))
        }
        Waited::Failed(e) => {
            let hint = reader::hint(&e, &file).unwrap_or_default();
            anyhow::Error::new(e).context(format!("cannot open SQLite database {url}{hint}"))
        }
    })
}

/// Why a [`BusyWait`] gave up: SQLite stayed busy for the whole wait, or failed otherwise.
enum Waited {
    Busy(sqlx::Error),
    Failed(sqlx::Error),
}

/// A wait of up to `timeout` while SQLite refuses as busy, done as a loop of tries (which a
/// caller gives up by dropping it, on a signal), as SQLite's own busy handler cannot for every
/// wait; it says once at `-v` what it waits for (`what`: "for ...", "to open ...").
struct BusyWait {
    deadline: tokio::time::Instant,
    timeout: Duration,
    what: String,
    said: bool,
}

impl BusyWait {
    fn new(timeout: Duration, what: String) -> Self {
        Self {
            deadline: tokio::time::Instant::now() + timeout,
            timeout,
            what,
            said: false,
        }
    }

    /// After a try failed with `error`: returns once it is time to try again, or why not.
    async fn again(&mut self, error: sqlx::Error) -> Result<(), Waited> {
        if !is_busy(&error) {
            return Err(Waited::Failed(error));
        }
        if tokio::time::Instant::now() >= self.deadline {
            return Err(Waited::Busy(error));
        }
        if !self.said {
            let up_to = humantime::format_duration(self.timeout);
            tracing::info!("waiting up to {up_to} {}", self.what);
            self.said = true;
        }
        tokio::time::sleep(WRITE_LOCK_RETRY).await;
        Ok(())
    }
}

async fn connect_postgres(url: &DatabaseUrl) -> anyhow::Result<sqlx::PgPool> {
    // sslmode, passwords (or PGPASSWORD) and the rest come from the URL as libpq reads them.
    let invalid = || format!("invalid PostgreSQL database URL {url}");
    if let Some(why) = bad_sslmode(url.expose()) {
        return Err(anyhow::anyhow!(why).context(invalid()));
    }
    let options = PgConnectOptions::from_str(url.expose()).with_context(invalid)?;
    // One plain connection first: the pool would retry a refused connection until its
    // timeout, where a wrong host or password deserves an answer now.
    let cannot = || format!("cannot connect to PostgreSQL at {url}");
    sqlx::PgConnection::connect_with(&options)
        .await
        .with_context(cannot)?
        .close()
        .await
        .with_context(cannot)?;
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        // The store looks connections up by key, a few hundred at a time, in an inventory that
        // stays in memory. At the default random_page_cost (4, for disks that seek) the planner
        // prices such a lookup in a 20,000-row table above a scan of it all, and took 15 ms
        // where the index takes 4.
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
        .with_context(cannot)
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

/// Whether a SQLite "filename" names a file (not an in-memory database).
fn is_file(file: &std::path::Path) -> bool {
    !(file.as_os_str().is_empty() || file == std::path::Path::new(":memory:"))
}

/// Creates a new SQLite database file readable by its owner only: the inventory maps a
/// network. SQLite gives its `-wal` and `-shm` files the same permissions. Whether it created
/// one (an in-memory database counts as new).
fn create_private(file: &std::path::Path) -> std::io::Result<bool> {
    if !is_file(file) {
        return Ok(true);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        other => other.map(|_| true),
    }
}

/// Takes SQLite's write lock and gives it back at once, connecting first if need be.
async fn try_write_lock(
    options: &SqliteConnectOptions,
    conn: &mut Option<sqlx::SqliteConnection>,
) -> sqlx::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(sqlx::SqliteConnection::connect_with(options).await?),
    };
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut *conn)
        .await
        .map(drop)
}

/// What waits for SQLite's write lock wait for, as errors and logs name it.
const OPEN_LOCK: &str = "the SQLite database (another process holds its lock)";
const WRITE_LOCK: &str = "the SQLite database's write lock (another process or run is writing)";

fn write_lock_busy(waited: Duration) -> LockError {
    LockError::Busy {
        holder: "another process's write to the SQLite database (it holds the write lock)"
            .to_owned(),
        waited,
        hint: " (--lock-timeout)",
    }
}

/// Whether `error` is SQLite's "database is locked": a wait for its write lock (or for a
/// process recovering its log) that its busy timeout ended, or a pool whose connections all
/// waited so.
pub fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        // SQLITE_BUSY and its extended codes (RECOVERY, SNAPSHOT, TIMEOUT): the low byte.
        sqlx::Error::Database(e) => e
            .try_downcast_ref::<sqlx::sqlite::SqliteError>()
            .and_then(sqlx::error::DatabaseError::code)
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == 5),
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_sslmode_is_named_as_the_url_names_it() {
        let why = super::bad_sslmode("postgres://h/db?sslmode=bogus").unwrap();
        assert!(
            why.starts_with("sslmode=bogus is not one of disable,"),
            "{why}"
        );
        assert_eq!(super::bad_sslmode("postgres://h/db?sslmode=Require"), None);
        assert_eq!(super::bad_sslmode("postgres://h/db"), None);
    }
}
