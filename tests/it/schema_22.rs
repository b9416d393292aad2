//! Databases written before 0.2.0 squashed its migrations into one, V22: one at schema 22 (the
//! `tests/fixtures/schema-22` database, written by the last build before the squash) reads as
//! it is, is adopted with everything it holds and then has exactly a new database's schema and
//! history; one at any other development schema is refused, unchanged.

use crate::schema_dump;
use crate::support::{
    Backend, TestDb, TestEnv, assert_same_connections, latest_schema_version, sorted_by_id,
};
use serde_json::{Value, json};
use std::str::FromStr as _;
use vpn_simulator::server::DEMO_PROJECT_ID;

backend_tests!(
    a_schema_22_database_is_adopted_with_everything_it_holds,
    an_older_development_schema_is_refused_unchanged,
);

/// Every table of the schema, refinery's aside.
const TABLES: [&str; 15] = [
    "scopes",
    "sync_runs",
    "staged_pages",
    "staged_connections",
    "scope_connections",
    "connections",
    "ike_policies",
    "ipsec_policies",
    "bgp_peers",
    "peer_subnets",
    "policy_rules",
    "policy_rule_destinations",
    "tags",
    "connection_versions",
    "change_records",
];

/// The connection whose history the fixture's readings hold.
const HISTORY_OF: &str = "1971fac9-03a5-4124-99bf-7bf8b9f97ebb";

/// Loads the schema-22 fixture, schema, rows and migration history, into `env`'s empty
/// database, as the build before the squash left it.
pub async fn load_schema_22(env: &TestEnv) -> TestDb {
    let url = env.database_url();
    let script = match env.backend() {
        Backend::Sqlite => {
            // The file must exist before the test's pool can open it.
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .expect("a SQLite URL")
                .create_if_missing(true);
            sqlx::SqlitePool::connect_with(options)
                .await
                .expect("create the database")
                .close()
                .await;
            include_str!("../fixtures/schema-22/sqlite.sql")
        }
        Backend::Postgres => include_str!("../fixtures/schema-22/postgres.sql"),
    };
    let db = env.db().await;
    db.execute_script(script).await;
    db
}

/// How many rows each table holds.
async fn row_counts(db: &TestDb) -> Vec<(&'static str, i64)> {
    use sqlx::Row as _;
    let mut counts = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let sql = sqlx::AssertSqlSafe(sql.as_str());
        let count: i64 = on_test_db!(db, pool => {
            sqlx::query(sql).fetch_one(pool).await.expect("a count").get(0)
        });
        counts.push((table, count));
    }
    counts
}

/// refinery's history: version, name, time applied and checksum of each migration.
async fn history(db: &TestDb) -> Vec<(i32, String, String, String)> {
    use sqlx::Row as _;
    const SQL: &str =
        "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version";
    on_test_db!(db, pool => {
        let rows = sqlx::query(SQL).fetch_all(pool).await.expect(SQL);
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
    })
}

/// What the reading commands showed of the fixture, as the build before the squash read it.
fn readings(backend: Backend) -> Value {
    let text = match backend {
        Backend::Sqlite => include_str!("../fixtures/schema-22/sqlite.readings.json"),
        Backend::Postgres => include_str!("../fixtures/schema-22/postgres.readings.json"),
    };
    serde_json::from_str(text).expect("the fixture's readings")
}

/// A new database of `backend` migrated by this build: its schema and history.
async fn fresh(backend: Backend) -> (String, Vec<(i32, String, String, String)>) {
    let env = TestEnv::generated(backend, 0, 1).await;
    let run = env.run(&["migrate"]).await;
    let stdout = &run.assert_ok().stdout;
    assert!(stdout.contains("applied V22__schema"), "{stdout}");
    let db = env.db().await;
    let fresh = (schema_dump::structure(&db).await, history(&db).await);
    db.close().await;
    fresh
}

async fn a_schema_22_database_is_adopted_with_everything_it_holds(backend: Backend) {
    // The simulator the fixture was written from, before its mutation (see its README).
    let env = TestEnv::generated(backend, 40, 41).await;
    let db = load_schema_22(&env).await;
    let before = row_counts(&db).await;
    assert_eq!(history(&db).await.len(), 22);
    assert_eq!(before[5], ("connections", 40));

    // Reading commands write nothing. While V22 is this build's latest migration, the database
    // holds this build's schema and they read it as it is; once a later one ships, they send it
    // to `migrate`, as any older schema.
    let expected = readings(backend);
    if latest_schema_version() == 22 {
        assert_readings(&env, &expected).await;
    } else {
        let refused = env.run(&["runs"]).await;
        assert_eq!(refused.code, Some(1), "{}", refused.stderr);
        assert!(
            refused.stderr.contains("vpn-inventory migrate"),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(history(&db).await.len(), 22);

    let migrated = env.run(&["migrate"]).await;
    let stdout = &migrated.assert_ok().stdout;
    assert!(
        stdout.contains("applied V22__schema (adopted: schema 22")
            && stdout.contains(&format!("schema version {}", latest_schema_version())),
        "{stdout}"
    );
    assert_eq!(row_counts(&db).await, before, "rows of each table");
    // The schema is a new database's, and so is the history: refinery's row for V22 (and for
    // each migration after it).
    let (schema, new_history) = fresh(backend).await;
    schema_dump::assert_same(&schema_dump::structure(&db).await, &schema);
    let adopted = history(&db).await;
    let key = |h: &[(i32, String, String, String)]| {
        h.iter()
            .map(|(v, n, _, c)| (*v, n.clone(), c.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&adopted), key(&new_history));
    assert_eq!(key(&adopted)[0].1, "schema");

    // Everything reads as the build before the squash read it.
    let written: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/schema-22/export.json")).expect("export");
    assert_same_connections(&sorted_by_id(env.export().await), &sorted_by_id(written));
    assert_readings(&env, &expected).await;

    // A second migrate has nothing to do.
    let again = env.run(&["migrate"]).await;
    let up_to_date = format!("schema version {}, up to date", latest_schema_version());
    assert!(
        again.assert_ok().stdout.contains(&up_to_date),
        "{}",
        again.stdout
    );
    assert_eq!(history(&db).await, adopted);

    // And syncing goes on: the simulator serves the inventory as it was before the mutation.
    let report = env.sync(&[]).await;
    assert_eq!(report["added"], 0, "{report}");
    assert!(report["modified"].as_i64() > Some(0), "{report}");
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs.as_array().map(Vec::len), Some(3));
    let after = row_counts(&db).await;
    assert!(after[14].1 > before[14].1, "change records: {after:?}");
    db.close().await;
}

/// Members change records gained after schema 22: the rest of every reading is what the
/// build before the squash showed.
const RECORD_MEMBERS_ADDED_SINCE_22: &[&str] = &[
    "baseline",
    "project_id",
    "target",
    "changed_by",
    "changed_by_unknown",
];

/// Members runs gained after schema 22, likewise.
const RUN_MEMBERS_ADDED_SINCE_22: &[&str] = &[
    "sync_id",
    "target",
    "project_id",
    "region",
    "apply_seq",
    "apply_order",
];

/// `reading` without the members added since 22, once checked: the adds of run 1 (each
/// scope's first) are its baseline, as V23 marked them; every record and run is of the one
/// project and of no target; each run was a sync of its own (V23 gave it its own id).
fn as_schema_22_read_it(reading: &Value) -> Value {
    let Value::Array(rows) = reading else {
        return reading.clone();
    };
    let rows = rows.iter().map(|row| {
        let mut row = row.clone();
        let Some(object) = row.as_object_mut() else {
            return row;
        };
        let added = if object.contains_key("change") {
            let baseline = object.get("change") == Some(&json!("added"))
                && object.get("run_id") == Some(&json!(1));
            assert_eq!(object.get("baseline").is_some(), baseline, "{object:?}");
            RECORD_MEMBERS_ADDED_SINCE_22
        } else {
            assert_eq!(object.get("sync_id"), object.get("run_id"), "{object:?}");
            let scope = &object["scope"];
            assert_eq!(object.get("region"), Some(&scope["region"]), "{object:?}");
            let applied = object["apply_seq"].is_i64();
            assert_eq!(object["apply_order"].is_i64(), applied, "{object:?}");
            RUN_MEMBERS_ADDED_SINCE_22
        };
        assert_eq!(object.get("target"), Some(&Value::Null), "{object:?}");
        assert_eq!(
            object.get("project_id"),
            Some(&json!(DEMO_PROJECT_ID)),
            "{object:?}"
        );
        for member in added {
            object.remove(*member);
        }
        row
    });
    Value::Array(rows.collect())
}

/// `runs`, `drift --run 2` and `history` show what the build before the squash showed.
async fn assert_readings(env: &TestEnv, expected: &Value) {
    for (key, args) in [
        ("runs", &["runs", "--format", "json"][..]),
        (
            "drift --run 2",
            &["drift", "--run", "2", "--format", "json"][..],
        ),
        ("history", &["history", HISTORY_OF, "--format", "json"][..]),
    ] {
        assert_eq!(
            as_schema_22_read_it(&env.run(args).await.assert_ok().json()),
            expected[key],
            "{key}"
        );
    }
}

/// The schema, every table's row count and the history: what a refusal must leave as it was.
async fn everything(
    db: &TestDb,
) -> (
    String,
    Vec<(&'static str, i64)>,
    Vec<(i32, String, String, String)>,
) {
    (
        schema_dump::structure(db).await,
        row_counts(db).await,
        history(db).await,
    )
}

async fn an_older_development_schema_is_refused_unchanged(backend: Backend) {
    // A history that stops at V14, and one whose V22 no build shipped.
    for (change, found) in [
        (
            "DELETE FROM refinery_schema_history WHERE version > 14",
            "schema version 14 (its latest migration is V14__current_versions_are_the_rows)",
        ),
        (
            "UPDATE refinery_schema_history SET name = 'elsewhere' WHERE version = 22",
            "schema version 22 (its latest migration is V22__elsewhere)",
        ),
    ] {
        let env = TestEnv::generated(backend, 0, 1).await;
        let db = load_schema_22(&env).await;
        db.execute_script(change).await;
        let before = everything(&db).await;
        for args in [&["migrate"][..], &["sync"], &["runs"]] {
            let run = env.run(args).await;
            assert_eq!(run.code, Some(1), "{args:?}: {}", run.stderr);
            for said in [
                found,
                "from before vpn-inventory 0.2.0",
                "nothing was changed",
                "with the last build before 0.2.0 (commit 5ebd541) first",
                "or sync into a new database",
            ] {
                assert!(run.stderr.contains(said), "{args:?}: {}", run.stderr);
            }
        }
        assert!(everything(&db).await == before, "the database changed");
        db.close().await;
    }
}
