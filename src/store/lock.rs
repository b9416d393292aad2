//! One sync per scope at a time, across processes and hosts (and one migration at a time).
//!
//! PostgreSQL: a session advisory lock on a connection held for the whole run. SQLite: an OS
//! file lock on a file beside the database. Both vanish with the process that holds them, so a
//! crashed or killed cron job never leaves a stale lock behind, and whoever takes the lock next
//! knows any run of the scope still marked `running` was abandoned.

use super::runs::{RunStatus, stored_scope};
use super::sql::Sql;
use super::{Db, Store};
use crate::scope::Scope;
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

/// How long a process waits for another one's schema migration.
const MIGRATION_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

impl Store {
    /// Waits up to `timeout` for the scope's lock.
    pub async fn lock_scope(
        &self,
        scope: &Scope,
        timeout: Duration,
    ) -> Result<ScopeLock, LockError> {
        let holder = format!("another sync of this scope (project {})", scope.project_id);
        self.lock(lock_key(&scope.key()), timeout, holder, " (--lock-timeout)")
            .await
    }

    /// Marks abandoned the runs of other scopes (not `except_scope_id`) still shown `running`
    /// whose process is gone: their scope's lock is free. A crashed cron job's run then does
    /// not show `running` for ever when its scope is never synced again. Returns how many.
    pub async fn abandon_dead_runs(&self, except_scope_id: i64) -> anyhow::Result<u64> {
        let sql = Sql::new(
            "SELECT DISTINCT s.id, s.project_id, s.vgw_id, s.vgw_ip, s.vpn_id, s.eip_id,
                 s.enterprise_project_ids
             FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
             WHERE r.status = $1 AND s.id <> $2",
        )
        .arg(RunStatus::Running.as_str())
        .arg(except_scope_id);
        let mut abandoned = 0;
        for row in self.db.fetch_all(sql).await? {
            let (scope_id, key): (i64, String) = (row.at(0)?, stored_scope(&row)?.key());
            let holder = String::new();
            match self.lock(lock_key(&key), Duration::ZERO, holder, "").await {
                Ok(lock) => {
                    let marked = self.abandon_running(scope_id).await;
                    lock.release().await;
                    abandoned += marked?;
                }
                Err(LockError::Busy { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(abandoned)
    }

    /// Serializes the applies of one SQLite database across processes (`begin_apply` takes
    /// it); public so maintenance (and tests) can hold applies off without starting one.
    pub async fn lock_applies(&self, timeout: Duration) -> Result<ScopeLock, LockError> {
        let holder = "another run's apply".to_owned();
        let key = lock_key("vpn-inventory applies");
        self.lock(key, timeout, holder, " (--lock-timeout)").await
    }

    /// Serializes schema migrations of one database across processes.
    pub(super) async fn lock_migrations(&self) -> Result<ScopeLock, LockError> {
        let holder = "another process's schema migration".to_owned();
        self.lock(
            lock_key("vpn-inventory migrations"),
            MIGRATION_LOCK_TIMEOUT,
            holder,
            "",
        )
        .await
    }

    async fn lock(
        &self,
        key: [u8; 8],
        timeout: Duration,
        holder: String,
        hint: &'static str,
    ) -> Result<ScopeLock, LockError> {
        let busy = || LockError::Busy {
            holder: holder.clone(),
            waited: timeout,
            hint,
        };
        let held = match &self.db {
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
}

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
