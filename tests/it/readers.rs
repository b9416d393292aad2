//! Readers never write: `runs`, `status`, `drift`, `history` and `export` create, migrate and lock
//! nothing, so they work on a read-only database, and say what to do when there is no
//! inventory or an older one.

use crate::support::{Backend, TestEnv};

backend_tests!(a_schema_22_database_is_read_as_it_is_and_adopted_only_by_migrate);

const READERS: [&[&str]; 5] = [
    &["runs"],
    &["status"],
    &["drift", "--since", "2000-01-01T00:00:00Z"],
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
