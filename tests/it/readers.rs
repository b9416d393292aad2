//! Readers never write: `runs`, `status`, `drift`, `history`, `export`, `diff`, `report` and
//! `review` create, migrate and lock nothing, so they work on a read-only copy in a read-only
//! directory and leave nothing beside it, and say what to do when there is no inventory or an
//! older one.

use crate::support::{Backend, TestEnv};

backend_tests!(a_schema_22_database_is_read_as_it_is_and_adopted_only_by_migrate);

const READERS: [&[&str]; 6] = [
    &["runs"],
    &["status"],
    &["drift", "--since", "2000-01-01T00:00:00Z"],
    &[
        "review",
        "--since",
        "2000-01-01T00:00:00Z",
        "--format",
        "markdown",
    ],
    &["history", "some-connection", "--format", "json"],
    &["export"],
];

#[tokio::test]
async fn reading_a_missing_database_creates_nothing() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 91).await;
    let url = env.database_url();
    let file = std::path::PathBuf::from(url.trim_start_matches("sqlite://"));
    for args in READERS {
        let run = env.run(args).await;
        assert_eq!(run.code, Some(1), "{args:?}");
        assert!(
            run.stderr.contains("there is no inventory at"),
            "{args:?}: {}",
            run.stderr
        );
        let dir = file.parent().expect("a directory");
        let left: Vec<_> = std::fs::read_dir(dir).expect("directory").collect();
        assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
    }
}

#[tokio::test]
async fn a_read_only_connection_reads_everything() {
    let env = TestEnv::generated(Backend::Sqlite, 12, 92).await;
    env.sync(&[]).await;
    // A copy alone in a directory of its own: whatever a reader creates beside it shows.
    let url = env.database_url();
    let copy = tempfile::tempdir().expect("temp dir");
    let file = copy.path().join("copy.db");
    std::fs::copy(url.trim_start_matches("sqlite://"), &file).expect("copy the database");
    let read_only = format!("sqlite://{}?mode=ro", file.display());
    for args in READERS {
        let mut cmd = env.command(args);
        cmd.env("VPN_INVENTORY_DATABASE", &read_only);
        let run = env.run_cmd(cmd).await;
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    }
    let mut export = env.command(&["export"]);
    export.env("VPN_INVENTORY_DATABASE", &read_only);
    let exported = env.run_cmd(export).await.json();
    assert_eq!(exported.as_array().map(Vec::len), Some(12));
    // No lock file: readers neither migrate nor lock.
    let names: Vec<String> = std::fs::read_dir(copy.path())
        .expect("directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".lock-")), "{names:?}");
}

async fn a_schema_22_database_is_read_as_it_is_and_adopted_only_by_migrate(backend: Backend) {
    // A database from before 0.2.0 at schema 22: the schema this build's V22 creates.
    let env = TestEnv::generated(backend, 1, 93).await;
    let db = crate::schema_22::load_schema_22(&env).await;
    let history = "SELECT COUNT(*) FROM refinery_schema_history";
    // Read as it is while V22 is the latest migration; sent to `migrate` once a later one ships.
    let current = crate::support::latest_schema_version() == 22;
    for args in READERS {
        let run = env.run(args).await;
        if current {
            assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
        } else {
            assert!(
                run.stderr.contains("vpn-inventory migrate"),
                "{args:?}: {}",
                run.stderr
            );
        }
    }
    // Nothing was adopted behind the user's back: the 22 rows of its history are all there.
    assert_eq!(db.scalar(history).await, 22);
    let migrated = env.run(&["migrate"]).await;
    let stdout = &migrated.assert_ok().stdout;
    assert!(stdout.contains("applied V22__schema (adopted"), "{stdout}");
    let after_22 = crate::support::latest_schema_version() - 22;
    assert_eq!(db.scalar(history).await, 1 + after_22);
    db.close().await;
    env.run(&["runs"]).await.assert_ok();
}

/// Every reading command, as an auditor would run it: what it prints is compared between the
/// writable original and a read-only copy. `{id}` stands for a connection's id.
const AUDITED: [&[&str]; 11] = [
    &["runs", "--format", "json"],
    &["status", "--format", "json"],
    &["drift", "--format", "json"],
    &[
        "drift",
        "--run",
        "1",
        "--format",
        "json",
        "--include-baseline",
    ],
    &["history", "{id}", "--format", "json"],
    &["export"],
    &["export", "--as-of", "1", "--format", "projects"],
    &["diff", "1", "latest", "--format", "json"],
    &["report", "inventory-summary", "--format", "json"],
    &["report", "weak-crypto", "--format", "csv"],
    &[
        "review",
        "--since",
        "2000-01-01T00:00:00Z",
        "--format",
        "html",
    ],
];

/// The user the reader runs as: `nobody` when the tests run as root (as on CI), since root
/// may write any file and would prove nothing; else the user running them, who cannot write
/// a file and directory without write permission either.
const NOBODY: u32 = 65534;

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let probe = tempfile::tempfile().expect("temp file");
    probe.metadata().expect("metadata").uid() == 0
}

/// A synced inventory of two syncs (the second changes a connection and removes one), the
/// path of its database file, and the id of the changed connection.
async fn audited_inventory(seed: u64) -> (TestEnv, std::path::PathBuf, String) {
    let env = TestEnv::generated(Backend::Sqlite, 12, seed).await;
    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    served.pop();
    served[0]["name"] = "renamed-by-the-audit-test".into();
    let id = served[0]["id"].as_str().expect("an id").to_owned();
    env.sim.state.set_inventory(served);
    env.sync(&[]).await;
    let file = std::path::PathBuf::from(env.database_url().trim_start_matches("sqlite://"));
    (env, file, id)
}

/// A temporary directory anyone may enter, holding a copy of the binary anyone may run: the
/// one under target/ may be in a directory `nobody` cannot enter.
fn open_workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    chmod(dir.path(), 0o755);
    let binary = dir.path().join("vpn-inventory");
    let built = env!("CARGO_BIN_EXE_vpn-inventory");
    if std::fs::hard_link(built, &binary).is_err() {
        std::fs::copy(built, &binary).expect("copy the binary");
    }
    chmod(&binary, 0o755);
    (dir, binary)
}

/// `args` with `{id}` replaced, run by `binary` as the reader, on `url`.
async fn read_as_reader(
    env: &TestEnv,
    binary: &std::path::Path,
    url: &str,
    args: &[&str],
    id: &str,
) -> crate::support::Run {
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{id}" { id } else { a })
        .collect();
    let mut cmd = env.command(&args);
    let mut reader = tokio::process::Command::new(binary);
    reader.args(cmd.as_std().get_args());
    for (name, value) in cmd.as_std().get_envs() {
        match value {
            Some(value) => reader.env(name, value),
            None => reader.env_remove(name),
        };
    }
    reader
        .env("VPN_INVENTORY_DATABASE", url)
        .env("HOME", "/nonexistent");
    reader.current_dir("/").kill_on_drop(true);
    if running_as_root() {
        reader.uid(NOBODY).gid(NOBODY);
    }
    cmd = reader;
    // A copied binary (when the temporary directory is on another file system than target/)
    // is "busy" while any child forked by another test thread before our copy's file was
    // closed has not yet exec'd: a race of the test process, not of the tool; cargo retries
    // the same way.
    for _ in 0..50 {
        match cmd.output().await {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            output => return output.expect("binary runs").into(),
        }
    }
    panic!("{} stayed busy for a second", binary.display());
}

/// What a command printed, for comparison: `status` names the database it read, the rest
/// is the data.
fn printed(args: &[&str], stdout: &str) -> String {
    if args[0] != "status" {
        return stdout.to_owned();
    }
    let mut status: serde_json::Value = serde_json::from_str(stdout).expect("status JSON");
    status["database"] = serde_json::Value::Null;
    status.to_string()
}

/// The names, sizes, permissions and owners of what `dir` holds.
fn listing(dir: &std::path::Path) -> Vec<(String, u64, u32, u32)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("directory")
        .map(|entry| {
            let entry = entry.expect("entry");
            let meta = entry.metadata().expect("metadata");
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, meta.len(), meta.mode(), meta.uid())
        })
        .collect();
    names.sort();
    names
}

/// Runs every audited command on `file`'s copy at `url` as the reader, with and without
/// `?mode=ro`, and checks each prints what it printed on the original and leaves `dir` as
/// it was.
async fn audit(env: &TestEnv, binary: &std::path::Path, copy: &std::path::Path, id: &str) {
    let dir = copy.parent().expect("a directory");
    let before = listing(dir);
    let bytes = std::fs::read(copy).expect("read the copy");
    for url in [
        format!("sqlite://{}", copy.display()),
        format!("sqlite://{}?mode=ro", copy.display()),
    ] {
        for args in AUDITED {
            let with_id: Vec<&str> = args
                .iter()
                .map(|a| if *a == "{id}" { id } else { a })
                .collect();
            let original = printed(args, &env.run(&with_id).await.assert_ok().stdout);
            let read = read_as_reader(env, binary, &url, args, id).await;
            assert_eq!(read.code, Some(0), "{url} {args:?}: {}", read.stderr);
            assert_eq!(printed(args, &read.stdout), original, "{url} {args:?}");
            assert_eq!(
                listing(dir),
                before,
                "{url} {args:?} left the directory changed"
            );
        }
        let dry_run = read_as_reader(env, binary, &url, &["sync", "--dry-run"], id).await;
        assert_eq!(dry_run.code, Some(0), "{url}: {}", dry_run.stderr);
        assert_eq!(
            listing(dir),
            before,
            "{url} sync --dry-run left the directory changed"
        );
    }
    assert!(
        std::fs::read(copy).expect("read the copy") == bytes,
        "the copy changed"
    );
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A copy of `original` with permissions `mode`, alone in directory `name` of `workspace`.
fn copy_into(
    workspace: &tempfile::TempDir,
    name: &str,
    original: &std::path::Path,
    mode: u32,
) -> std::path::PathBuf {
    let dir = workspace.path().join(name);
    std::fs::create_dir(&dir).expect("mkdir");
    let copy = dir.join("inv.db");
    std::fs::copy(original, &copy).expect("copy the database");
    chmod(&copy, mode);
    copy
}

#[tokio::test]
async fn an_auditor_reads_a_read_only_copy_in_a_read_only_directory_and_leaves_nothing() {
    let (env, original, id) = audited_inventory(94).await;
    let (workspace, binary) = open_workspace();
    let copy = copy_into(&workspace, "ro", &original, 0o444);
    let dir = copy.parent().expect("its directory");
    chmod(dir, 0o555);
    audit(&env, &binary, &copy, &id).await;
    // The same copy in a directory the reader may write: nothing new in it either, no
    // `-wal`, `-shm` or lock file owned by the reader.
    chmod(dir, 0o777);
    audit(&env, &binary, &copy, &id).await;
    chmod(dir, 0o755);
}

#[tokio::test]
async fn a_reader_of_its_own_database_leaves_nothing_beside_it_even_with_mode_ro() {
    let (env, original, id) = audited_inventory(95).await;
    let (workspace, binary) = open_workspace();
    // The reader's own copy, in its own directory: it may write both, and reads with a
    // read-write connection that writes nothing, which removes what SQLite made on close.
    let copy = copy_into(&workspace, "own", &original, 0o600);
    if running_as_root() {
        let dir = copy.parent().expect("its directory");
        std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).expect("chown");
        std::os::unix::fs::chown(&copy, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    audit(&env, &binary, &copy, &id).await;
}

#[tokio::test]
async fn a_file_someone_may_write_in_a_read_only_directory_gets_an_answer_saying_what_to_do() {
    if !running_as_root() {
        // Only root can own a file the reader cannot write but may read.
        return;
    }
    let (env, original, id) = audited_inventory(96).await;
    let (workspace, binary) = open_workspace();
    let copy = copy_into(&workspace, "ro", &original, 0o644);
    let dir = copy.parent().expect("its directory");
    chmod(dir, 0o555);
    let url = format!("sqlite://{}", copy.display());
    let run = read_as_reader(&env, &binary, &url, &["runs"], &id).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("?immutable=1"), "{}", run.stderr);
    assert!(run.stderr.contains("chmod a-w"), "{}", run.stderr);
    assert_eq!(listing(dir).len(), 1, "{:?}", listing(dir));
    chmod(dir, 0o755);
}
