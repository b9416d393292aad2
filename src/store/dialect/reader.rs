//! How a reading command opens an existing SQLite file: it must write nothing, neither the
//! database nor files beside it, and still read a read-only copy in a read-only directory.
//!
//! The inventory is in WAL mode (a persistent setting of the file, which readers never set).
//! SQLite reads a WAL database through two files beside it, `-wal` and `-shm`, which it creates
//! when missing, needing a writable directory (else: "attempt to write a readonly database",
//! code 1544), and which a read-only connection cannot remove again when it closes: it cannot
//! checkpoint (<https://sqlite.org/wal.html>, "Read-Only Databases"). Left behind and owned by
//! the reader, they can even keep the owner's next sync from writing. So, in this order:
//!
//! 1. `-wal` or `-shm` exists: another connection has the database open (or had, and did not
//!    close cleanly), and the log may hold commits the file does not. Read-only, through them,
//!    as SQLite shares a database between readers and writers.
//! 2. No one may write the file (no write permission bit, or a read-only file system): the file
//!    alone holds every commit, and nothing can change it while it is read. `immutable`: no
//!    locks, no shared memory, no file created. (Not whenever a reader cannot create the `-shm`:
//!    immutable takes no locks and reads no log, so a sync writing the file meanwhile could
//!    show the reader torn pages.) Root ignores permission bits, but a sync into a file without
//!    any write bit is not something the tool does.
//! 3. This reader may write the file and its directory: read-write, with `query_only` so no
//!    statement can write, even when the URL says `?mode=ro`. Then SQLite removes the `-wal`
//!    and `-shm` it created when the last connection closes, after a checkpoint of a log that
//!    holds no write of the reader's (a sync that began meanwhile keeps them while it runs).
//! 4. Otherwise (someone else may write the file): read-only, as SQLite does it, creating the
//!    `-wal` and `-shm` it needs to read beside that writer; in a read-only directory that
//!    fails, with an error that says what to do.

use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};

/// The options a reader opens the existing file `file` with: `options` as the URL gives them.
pub(super) fn options(options: SqliteConnectOptions, file: &Path) -> SqliteConnectOptions {
    let read_only = options.clone().read_only(true);
    if beside(file, "-wal").exists() || beside(file, "-shm").exists() {
        return read_only;
    }
    if nobody_may_write(file) {
        return read_only.immutable(true);
    }
    if may_write(file) {
        return options.read_only(false).pragma("query_only", "ON");
    }
    read_only
}

/// What to do when opening `file` failed with `error` because SQLite could not create its
/// `-wal` or `-shm` in a read-only directory (case 4, or case 1 with only one of them there):
/// `: ...`, to follow the error's context.
pub(super) fn hint(error: &sqlx::Error, file: &Path) -> Option<String> {
    let sqlx::Error::Database(e) = error else {
        return None;
    };
    (e.code().as_deref() == Some("1544")).then(|| {
        format!(
            ": SQLite reads {} through -wal and -shm files beside it, which it cannot create \
             in a read-only directory, while the file may be written or has a -wal: read a \
             copy nobody may write (`chmod a-w`, of a file without -wal and -shm), or add \
             ?immutable=1 to the URL if nothing writes it",
            file.display()
        )
    })
}

/// `inventory.db` -> `inventory.db-wal`.
fn beside(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether no one may write `file`: it has no write permission bit, or its file system is
/// mounted read-only.
fn nobody_may_write(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let no_write_bit =
            std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o222 == 0);
        no_write_bit || read_only_file_system(file)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(file).is_ok_and(|m| m.permissions().readonly())
    }
}

#[cfg(target_os = "linux")]
fn read_only_file_system(file: &Path) -> bool {
    use nix::sys::statvfs::{FsFlags, statvfs};
    statvfs(file).is_ok_and(|fs| fs.flags().contains(FsFlags::ST_RDONLY))
}

#[cfg(all(unix, not(target_os = "linux")))]
fn read_only_file_system(_file: &Path) -> bool {
    false
}

/// Whether this process may write `file` and create files in its directory.
#[cfg(target_os = "linux")]
fn may_write(file: &Path) -> bool {
    use nix::unistd::{AccessFlags, access};
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    access(file, AccessFlags::W_OK).is_ok()
        && access(dir, AccessFlags::W_OK | AccessFlags::X_OK).is_ok()
}

/// Elsewhere SQLite's own way: read-only (case 4).
#[cfg(not(target_os = "linux"))]
fn may_write(_file: &Path) -> bool {
    false
}
