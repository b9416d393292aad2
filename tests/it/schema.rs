//! Schema upgrades keep data, and database URLs keep their secrets.

use crate::support::{Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id};

backend_tests!(upgrading_an_older_schema_keeps_the_data);

/// A sync through the library with the schema left as it is (commands would upgrade it first).
async fn sync_without_migrating(env: &TestEnv) {
    use std::time::Duration;
    use vpn_inventory::api::client::VpnClient;
    use vpn_inventory::api::credentials::{Credentials, Secret};
    use vpn_inventory::scope::{Filters, Scope};
    use vpn_inventory::store::{DatabaseUrl, Store};
    use vpn_inventory::sync::Run;
    let store = Store::connect(&DatabaseUrl::parse(&env.database_url()).unwrap())
        .await
        .unwrap();
    let credentials = Credentials::AkSk {
        access_key: env.config.access_key.clone(),
        secret_key: Secret::new(env.config.secret_key.clone()),
        security_token: None,
    };
    let endpoint = env.sim.endpoint();
    let client = VpnClient::new(&endpoint, &env.config.project_id, credentials).unwrap();
    let scope = Scope::new(&endpoint, None, &env.config.project_id, Filters::default());
    let lock = store
        .lock_scope(&scope, Duration::from_secs(5))
        .await
        .unwrap();
    let run = Run::start(&store, &scope, 40, &lock).await.unwrap();
    run.execute(&client, &vpn_inventory::shutdown::Shutdown::never())
        .await
        .unwrap();
    lock.release().await;
    store.close().await;
}

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

async fn upgrading_an_older_schema_keeps_the_data(backend: Backend) {
    let env = TestEnv::generated(backend, 150, 41).await;
    let run = env.run(&["migrate", "--target-version", "1"]).await;
    assert!(
        run.assert_ok().stdout.contains("applied V1__init"),
        "{}",
        run.stdout
    );
    // Data written at version 1, then the upgrade.
    sync_without_migrating(&env).await;
    let before = table_fingerprint(&env).await;
    assert_eq!(before[0], 150);
    let upgraded = env.run(&["migrate"]).await;
    assert!(
        upgraded
            .assert_ok()
            .stdout
            .contains("applied V2__crypto_view"),
        "{}",
        upgraded.stdout
    );
    assert_eq!(table_fingerprint(&env).await, before);
    let served = env.sim.state.inventory();
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    let added = env.run(&["drift", "--format", "json"]).await.json();
    assert_eq!(added.as_array().unwrap().len(), 150);
    // The new view reads the old rows.
    let triple_des = served
        .iter()
        .filter(|c| c["ikepolicy"]["encryption_algorithm"] == "3des")
        .count();
    let db = env.db().await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM connection_crypto").await,
        150
    );
    let sql = "SELECT COUNT(*) FROM connection_crypto WHERE ike_encryption_algorithm = '3des'";
    assert_eq!(usize::try_from(db.scalar(sql).await), Ok(triple_des));
    // And syncing goes on as before.
    assert_eq!(env.sync(&[]).await["unchanged"], 150);
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
