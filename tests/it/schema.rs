//! Schema upgrades keep data, and database URLs keep their secrets.

use crate::support::{Backend, TestEnv, assert_same_connections, sorted_by_id};
use serde_json::Value;

backend_tests!(upgrading_a_database_written_by_the_last_release_keeps_its_data);

/// What the tables hold, read with plain SQL so nothing migrates on the way.
async fn table_fingerprint(env: &TestEnv) -> Vec<i64> {
    let db = env.db().await;
    let mut counts = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM connections",
        "SELECT COUNT(*) FROM connection_versions",
        "SELECT COUNT(*) FROM change_records",
        "SELECT COUNT(*) FROM policy_rule_destinations",
        "SELECT COUNT(*) FROM tags",
        "SELECT COUNT(*) FROM sync_runs WHERE status = 'complete'",
    ] {
        counts.push(db.scalar(sql).await);
    }
    counts
}

async fn upgrading_a_database_written_by_the_last_release_keeps_its_data(backend: Backend) {
    let env = TestEnv::generated(backend, 40, 41).await;
    let run = env.run(&["migrate", "--target-version", "2"]).await;
    assert!(
        run.assert_ok().stdout.contains("V2__crypto_view"),
        "{}",
        run.stdout
    );
    let rows = match backend {
        Backend::Sqlite => include_str!("../fixtures/release-0.1.0/sqlite.sql"),
        Backend::Postgres => include_str!("../fixtures/release-0.1.0/postgres.sql"),
    };
    let db = env.db().await;
    db.execute_script(rows).await;
    let before = table_fingerprint(&env).await;
    assert_eq!(
        before[..3],
        [40, 49, 52],
        "connections, versions, change records"
    );

    let upgraded = env.run(&["migrate"]).await;
    let stdout = &upgraded.assert_ok().stdout;
    assert!(stdout.contains("applied V3__removals_skipped"), "{stdout}");
    assert_eq!(table_fingerprint(&env).await, before);
    let written: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/release-0.1.0/export.json"))
            .expect("fixture export");
    assert_same_connections(&sorted_by_id(env.export().await), &sorted_by_id(written));
    // History reads as before: the second run's modifications, and the inventory as of run 1.
    let second = env.run(&["drift", "--run", "2", "--format", "json"]).await;
    let second = second.assert_ok().json();
    assert_eq!(second.as_array().map(Vec::len), Some(12));
    assert!(
        second
            .as_array()
            .into_iter()
            .flatten()
            .all(|r| r["change"] == "modified")
    );
    let first = env
        .run(&["export", "--as-of", "1"])
        .await
        .assert_ok()
        .json();
    assert_eq!(first.as_array().map(Vec::len), Some(40));
    let runs = env
        .run(&["runs", "--format", "json"])
        .await
        .assert_ok()
        .json();
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r["status"] == "complete" && r["removals_skipped"].is_null())
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM connection_crypto").await,
        40
    );
    db.close().await;
    // And syncing goes on (the simulator is a new endpoint: a scope of its own).
    assert_eq!(env.sync(&[]).await["removals_skipped"], Value::Null);
}

#[tokio::test]
async fn database_passwords_never_show() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 1).await;
    for url in [
        "postgres://inventory:hunter2-secret@127.0.0.1:1/inv",
        "postgresql://127.0.0.1:1/inv?user=inventory&password=hunter2-secret",
    ] {
        let run = env.run(&["-vvv", "--database", url, "sync"]).await;
        assert_eq!(run.code, Some(1));
        assert!(
            run.stderr.contains("cannot connect to PostgreSQL"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("***"), "{}", run.stderr);
        assert!(
            !run.stderr.contains("hunter2-secret"),
            "password leaked: {}",
            run.stderr
        );
    }

    // A working URL with a password (trust auth ignores it): verbose logs and output of a
    // whole demo and sync must not show it either.
    let env = TestEnv::generated(Backend::Postgres, 10, 2).await;
    let url = env
        .database_url()
        .replacen("postgres@", "postgres:hunter2-secret@", 1);
    for args in [
        &["demo", "--connections", "20"][..],
        &["sync"][..],
        &["runs"][..],
    ] {
        let mut all = vec!["-vvv", "--database", url.as_str()];
        all.extend_from_slice(args);
        let run = env.run(&all).await;
        run.assert_ok();
        for output in [&run.stdout, &run.stderr] {
            assert!(
                !output.contains("hunter2-secret"),
                "password leaked: {output}"
            );
        }
    }
}

/// Table and column names of the test database, sorted.
async fn columns(env: &TestEnv) -> Vec<(String, String)> {
    use sqlx::Row;
    let sql = match env.backend() {
        Backend::Sqlite => {
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
             WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public'"
        }
    };
    let db = env.db().await;
    let mut columns: Vec<(String, String)> = on_test_db!(&db, pool => {
        let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    });
    columns.sort();
    columns
}

#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let mut seen = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let env = TestEnv::generated(backend, 0, 1).await;
        env.run(&["migrate"]).await.assert_ok();
        let cols = columns(&env).await;
        assert!(cols.len() > 100, "{backend:?}: {cols:?}");
        seen.push(cols);
    }
    assert_eq!(seen[0], seen[1]);
}
