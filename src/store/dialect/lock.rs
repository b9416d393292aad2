//! Named locks across processes and hosts: one sync per scope at a time, one migration at a
//! time, and (on SQLite) one apply at a time.
//!
//! PostgreSQL: a session advisory lock on a connection held for the whole run. SQLite: an OS
//! lock on one byte of one file beside the database, `<database>.lock`, the byte's offset
//! named by the lock's name (on Linux: an open file description lock, `F_OFD_SETLK`, which
//! holds between two opens in one process too; elsewhere a whole-file lock on a file per name).
//! The file stays empty (a lock may lie past the end of a file) and is the only one, however
//! many scopes sync. Both kinds vanish with the process that holds them, so a crashed or killed
//! cron job never leaves a stale lock behind, and whoever takes the lock next knows any run of
//! the scope still marked `running` was abandoned.

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
    /// Locked for as long as it stays open (closing it frees its lock).
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
    /// A PostgreSQL session lock vanished with its session (terminated by an administrator,
    /// or its connection broken): another run may hold it now.
    #[error("lost the lock on {what}: its database session ended{detail}")]
    Lost { what: String, detail: String },
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
                    let (file, created) = open_lock_file(&lock_file(db_file, &key))?;
                    if created {
                        remove_development_lock_files(db_file);
                    }
                    let deadline = Instant::now() + timeout;
                    while !try_lock(&file, &key)? {
                        if Instant::now() >= deadline {
                            return Err(busy());
                        }
                        tokio::time::sleep(FILE_LOCK_RETRY).await;
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

/// Opens the lock file, creating it readable and writable by its owner alone; `true` when
/// this call created it.
fn open_lock_file(path: &Path) -> std::io::Result<(std::fs::File, bool)> {
    let mut options = std::fs::OpenOptions::new();
    options.create_new(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            Ok((file, false))
        }
        Err(e) => Err(e),
    }
}

/// Removes the files `<database>.lock-<16 hex digits>` that development builds before the
/// one lock file left beside the database, one per lock name, forever. Called once, as this
/// build creates `<database>.lock`. A file a development build still holds (its whole-file
/// lock, `flock`) stays, as does any this process cannot lock or remove: they can be deleted
/// by hand once no such build runs. (Such builds and this one never excluded each other
/// anyway: their locks are in different files.)
#[cfg(target_os = "linux")]
fn remove_development_lock_files(db_file: &Path) {
    let (Some(dir), Some(db_name)) = (db_file.parent(), db_file.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut prefix = db_name.to_os_string();
    prefix.push(".lock-");
    let prefix = prefix.as_encoded_bytes();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(key) = name.as_encoded_bytes().strip_prefix(prefix) else {
            continue;
        };
        if key.len() != 16 || !key.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            continue;
        }
        let path = entry.path();
        // Removed while this process holds its lock: nobody was in it.
        if let Ok(file) = std::fs::File::open(&path)
            && file.try_lock().is_ok()
            && std::fs::remove_file(&path).is_ok()
        {
            tracing::debug!(path = %path.display(), "removed a development build's lock file");
        }
    }
}

/// Elsewhere the files a lock per name are this build's own lock files: they stay.
#[cfg(not(target_os = "linux"))]
fn remove_development_lock_files(_db_file: &Path) {}

/// `inventory.db` -> `inventory.db.lock`, beside the database: every lock's byte is in it.
#[cfg(target_os = "linux")]
fn lock_file(db_file: &Path, _key: &[u8; 8]) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock's byte of the lock file through this open file, if nobody holds it: `false`
/// when someone does (another process, or another open of the file in this one).
#[cfg(target_os = "linux")]
fn try_lock(file: &std::fs::File, key: &[u8; 8]) -> std::io::Result<bool> {
    use nix::errno::Errno;
    use nix::fcntl::{FcntlArg, fcntl};
    use nix::libc;
    let range = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: byte_of(key),
        l_len: 1,
        // Open file description locks require 0: they belong to the open file, not a process.
        l_pid: 0,
    };
    match fcntl(file, FcntlArg::F_OFD_SETLK(&range)) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The byte a lock takes: 62 bits of its key, so any two names meet only by a 1-in-4e18 chance
/// (and then only wait for each other), and every offset is a valid positive `off_t`.
#[cfg(target_os = "linux")]
fn byte_of(key: &[u8; 8]) -> i64 {
    i64::from_be_bytes(*key) & (i64::MAX >> 1)
}

/// `inventory.db` -> `inventory.db.lock-<key>`, beside the database: without byte-range locks
/// that hold within a process, a file per lock.
#[cfg(not(target_os = "linux"))]
fn lock_file(db_file: &Path, key: &[u8; 8]) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(format!(".lock-{}", hex::encode(key)));
    PathBuf::from(name)
}

/// Locks the whole file, if nobody holds it: `false` when someone does.
#[cfg(not(target_os = "linux"))]
fn try_lock(file: &std::fs::File, _key: &[u8; 8]) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

impl ScopeLock {
    /// Proves the lock is still held, or says it was lost (`what` names it then). A file lock
    /// lives as long as this process; PostgreSQL's lives as long as its session, which an
    /// administrator may end (`pg_terminate_backend`) or a broken connection loses: the
    /// session is asked whether it still holds it.
    pub async fn ensure_held(&mut self, what: &str) -> Result<(), LockError> {
        let Held::Postgres { conn, key } = &mut self.held else {
            return Ok(());
        };
        let lost = |detail: String| LockError::Lost {
            what: what.to_owned(),
            detail,
        };
        let Some(conn) = conn.as_mut() else {
            return Err(lost(String::new()));
        };
        // A bigint key is held as classid (its high half) and objid (its low half), objsubid 1.
        let sql = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                 AND pid = pg_backend_pid() AND granted AND objsubid = 1
                 AND classid = (($1 >> 32) & 4294967295)::oid
                 AND objid = ($1 & 4294967295)::oid)";
        match sqlx::query_scalar::<_, bool>(sql)
            .bind(*key)
            .fetch_one(&mut **conn)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(lost(" (it no longer holds it)".to_owned())),
            Err(e) => Err(lost(format!(" ({e})"))),
        }
    }

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
