//! The schema: the snapshot in schema/ is what the migrations leave, both backends have the
//! same tables and columns, and database URLs keep their secrets.

use crate::schema_dump;
use crate::support::{Backend, TestEnv};

/// Where the snapshot of `backend`'s schema is kept.
fn snapshot_path(backend: Backend) -> std::path::PathBuf {
    let file = match backend {
        Backend::Sqlite => "sqlite.sql",
        Backend::Postgres => "postgres.sql",
    };
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(file)
}

/// schema/*.sql is the schema a fresh database migrates to. With `UPDATE_SCHEMA=1` the test
/// rewrites them instead (schema/regenerate.sh), for a migration that changed the schema.
#[tokio::test]
async fn snapshot() {
    let bless = std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let env = TestEnv::generated(backend, 0, 1).await;
        env.run(&["migrate"]).await.assert_ok();
        let db = env.db().await;
        let dumped = schema_dump::snapshot(&db).await;
        db.close().await;
        let path = snapshot_path(backend);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if bless {
            std::fs::write(&path, &dumped).expect("write the schema snapshot");
        } else if dumped != committed {
            let fresh = path.with_extension("sql.new");
            std::fs::write(&fresh, &dumped).expect("write the new snapshot beside it");
            stale.push(format!(
                "{} differs from the schema the migrations leave (written to {}; see the \
                 change with `diff {} {}`)",
                path.display(),
                fresh.display(),
                path.display(),
                fresh.display()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nIf the migration is meant to change the schema, regenerate the snapshots: \
         schema/regenerate.sh (UPDATE_SCHEMA=1 cargo test --test it schema::snapshot)",
        stale.join("\n")
    );
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
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p
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
