//! Named locks across processes and hosts: one sync per scope at a time, one migration at a
//! time, and (on SQLite) one apply at a time.
//!
//! PostgreSQL: a session advisory lock on a connection held for the whole run. SQLite: an OS
//! file lock on a file beside the database. Both vanish with the process that holds them, so a
//! crashed or killed cron job never leaves a stale lock behind, and whoever takes the lock next
//! knows any run of the scope still marked `running` was abandoned.

use super::sql::Db;
use sha2::{Digest, Sha256};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Held while a run of one scope (or a migration) is in progress; `release` (or drop) frees it.
#[must_use = "the scope is unlocked when this is dropped"]
pub struct ScopeLock {
    held: Held,
}

enum Held {
    /// In-memory SQLite: no other process can reach it.
    Nothing,
    /// Locked for as long as it stays open.
    File(#[allow(dead_code)] std::fs::File),
    Postgres {
        conn: Option<PoolConnection<Postgres>>,
        key: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{holder} is still running; gave up after waiting {waited:?}{hint}")]
    Busy {
        holder: String,
        waited: Duration,
        hint: &'static str,
    },
    #[error("cannot take a lock: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot take a lock: {0}")]
    Database(#[from] sqlx::Error),
}

/// How often a waiting SQLite run retries its file lock.
const FILE_LOCK_RETRY: Duration = Duration::from_millis(100);

fn lock_key(name: &str) -> [u8; 8] {
    let digest = Sha256::digest(name.as_bytes());
    digest[..8].try_into().expect("8 bytes")
}

impl Db {
    /// Waits up to `timeout` for the lock named `name`; `holder` and `hint` say in the error
    /// who held it and which option sets the wait.
    pub async fn lock(
        &self,
        name: &str,
        timeout: Duration,
        holder: String,
        hint: &'static str,
    ) -> Result<ScopeLock, LockError> {
        let key = lock_key(name);
        let busy = || LockError::Busy {
            holder: holder.clone(),
            waited: timeout,
            hint,
        };
        let held = match self {
            Db::Sqlite(pool) => {
                let options = pool.connect_options();
                let db_file = options.get_filename();
                if db_file.as_os_str().is_empty() || db_file == Path::new(":memory:") {
                    Held::Nothing
                } else {
                    let mut options = std::fs::OpenOptions::new();
                    options.create(true).truncate(false).write(true);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                    let file = options.open(lock_file(db_file, &key))?;
                    let deadline = Instant::now() + timeout;
                    loop {
                        match file.try_lock() {
                            Ok(()) => break,
                            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                                tokio::time::sleep(FILE_LOCK_RETRY).await;
                            }
                            Err(std::fs::TryLockError::WouldBlock) => return Err(busy()),
                            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
                        }
                    }
                    Held::File(file)
                }
            }
            Db::Postgres(pool) => {
                let key = i64::from_be_bytes(key);
                let mut conn = pool.acquire().await?;
                // The server does the waiting: lock_timeout applies to advisory locks too.
                sqlx::query("SELECT set_config('lock_timeout', $1, false)")
                    .bind(format!("{}ms", timeout.as_millis().max(1)))
                    .execute(&mut *conn)
                    .await?;
                let locked = sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(key)
                    .execute(&mut *conn)
                    .await;
                sqlx::query("SELECT set_config('lock_timeout', '0', false)")
                    .execute(&mut *conn)
                    .await?;
                match locked {
                    Ok(_) => Held::Postgres {
                        conn: Some(conn),
                        key,
                    },
                    Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                        return Err(busy());
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        Ok(ScopeLock { held })
    }

    /// Serializes the applies of one SQLite database across processes (`begin_apply` takes
    /// it on SQLite; PostgreSQL's applies take a transaction-scoped advisory lock instead).
    pub async fn lock_applies(&self, timeout: Duration) -> Result<ScopeLock, LockError> {
        let holder = "another run's apply".to_owned();
        self.lock(APPLIES, timeout, holder, " (--lock-timeout)")
            .await
    }
}

/// The name of the lock that serializes applies.
const APPLIES: &str = "vpn-inventory applies";

/// `inventory.db` -> `inventory.db.lock-<key>`, beside the database.
fn lock_file(db_file: &Path, key: &[u8; 8]) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(format!(".lock-{}", hex::encode(key)));
    PathBuf::from(name)
}

impl ScopeLock {
    pub async fn release(mut self) {
        if let Held::Postgres { conn, key } = &mut self.held
            && let Some(mut conn) = conn.take()
        {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(*key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session frees its locks for sure.
                drop(conn.detach());
            }
        }
        // A file lock is freed when the file closes, here or in drop.
    }
}

impl Drop for ScopeLock {
    fn drop(&mut self) {
        // Without an async unlock, end the session: the server frees its locks then.
        if let Held::Postgres { conn, .. } = &mut self.held
            && let Some(conn) = conn.take()
        {
            drop(conn.detach());
        }
    }
}
