//! Paging, filters and re-syncs against the simulator.

use crate::support::{
    Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id, strict_sweep_pages,
};
use serde_json::Value;
use vpn_simulator::Faults;

backend_tests!(
    every_page_size_stores_the_same_inventory,
    exactly_one_full_page_then_an_empty_one,
    empty_inventory_is_a_complete_run_with_nothing,
    first_sync_adds_all_and_unchanged_resync_rewrites_nothing,
    changed_and_removed_connections_are_applied,
    filters_reach_the_api_and_scopes_stay_apart,
    a_dry_run_says_what_a_sync_would_change_and_writes_nothing,
);

async fn every_page_size_stores_the_same_inventory(backend: Backend) {
    let env = TestEnv::generated(backend, 23, 3).await;
    let expected = expected_export(&env.sim.state.inventory());
    for size in [1, 2, 200] {
        let env = TestEnv::with_inventory(backend, env.sim.state.inventory()).await;
        let report = env.sync(&["--page-size", &size.to_string()]).await;
        assert_eq!(report["fetched"], 23, "page size {size}");
        assert_eq!(report["duplicates"], 0, "page size {size}");
        assert_eq!(
            report["pages"],
            strict_sweep_pages(23, size),
            "page size {size}"
        );
        assert_eq!(report["removals_skipped"], Value::Null, "page size {size}");
        assert_same_connections(&sorted_by_id(env.export().await), &expected);
    }
}

async fn exactly_one_full_page_then_an_empty_one(backend: Backend) {
    let env = TestEnv::generated(backend, 10, 4).await;
    let report = env.sync(&["--page-size", "10"]).await;
    // A full page may be followed by more: the pager asks once more and gets nothing, which
    // does not reach the boundary instant, so it asks for that instant again.
    assert_eq!(
        (report["fetched"].as_u64(), report["pages"].as_u64()),
        (Some(10), Some(3))
    );
    assert_eq!(env.sim.state.requests(), 3);
    assert_eq!(report["duplicates"], 0);
    assert_eq!(env.export().await.len(), 10);
}

async fn empty_inventory_is_a_complete_run_with_nothing(backend: Backend) {
    let env = TestEnv::with_inventory(backend, Vec::new()).await;
    let report = env.sync(&[]).await;
    assert_eq!(report["fetched"], 0);
    assert_eq!(report["status"], "complete");
    assert_eq!(env.run(&["export"]).await.assert_ok().stdout.trim(), "[]");
}

/// PostgreSQL: an index's oid, which an index built again changes; 0 when there is none.
const BOUNDS_INDEX: &str =
    "SELECT COALESCE(CAST(CAST(to_regclass('peer_subnets_first_hex') AS OID) AS BIGINT), 0)";
const KEY_INDEX: &str =
    "SELECT COALESCE(CAST(CAST(to_regclass('connections_key') AS OID) AS BIGINT), 0)";
const TAGS_INDEX: &str =
    "SELECT COALESCE(CAST(CAST(to_regclass('tags_connection') AS OID) AS BIGINT), 0)";

async fn first_sync_adds_all_and_unchanged_resync_rewrites_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 120, 5).await;
    // The indexes as the migrations define them, to compare after the first sync.
    let indexes = match backend {
        Backend::Sqlite => {
            "SELECT group_concat(name || ': ' || sql, '; ') FROM (
                SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL
                ORDER BY name)"
        }
        Backend::Postgres => {
            "SELECT string_agg(indexname || ': ' || indexdef, '; ' ORDER BY indexname)
             FROM pg_indexes WHERE schemaname = current_schema()"
        }
    };
    env.run(&["migrate"]).await.assert_ok();
    let defined = env.db().await.text(indexes).await;
    let (bounds_index, key_index) = match backend {
        Backend::Sqlite => (0, 0),
        Backend::Postgres => {
            let db = env.db().await;
            (db.scalar(BOUNDS_INDEX).await, db.scalar(KEY_INDEX).await)
        }
    };
    let first = env.sync(&["--page-size", "50"]).await;
    assert_eq!(
        (
            &first["added"],
            &first["removed"],
            &first["modified"],
            &first["unchanged"]
        ),
        (
            &Value::from(120),
            &Value::from(0),
            &Value::from(0),
            &Value::from(0)
        )
    );
    if env.backend() == Backend::Postgres {
        // A sync that rewrote most of the inventory left the planner its row counts (a server
        // without autovacuum would otherwise plan the next run for empty tables).
        const ROWS: &str =
            "SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE oid = 'connections'::regclass";
        let analyzed = env.db().await.scalar(ROWS).await;
        assert_eq!(analyzed, 120);
        // The staging, idle after the apply, was truncated: its key index is back to its
        // metapage (VACUUM alone keeps every page the run's keys took).
        const STAGING_INDEX: &str = "SELECT pg_relation_size('staged_connections_key')";
        assert!(env.db().await.scalar(STAGING_INDEX).await <= 8192);
        // The apply filled empty tables and built their plain indexes after the rows: every
        // index is back as defined.
        let db = env.db().await;
        assert_eq!(db.text(indexes).await, defined);
        assert_ne!(db.scalar(BOUNDS_INDEX).await, bounds_index, "built again");
        assert_eq!(db.scalar(KEY_INDEX).await, key_index, "a unique key stays");
    } else {
        // The pages the staging took were given back to the file system, and a new file has
        // pages large enough for several stored bodies each.
        let db = env.db().await;
        assert_eq!(db.scalar("PRAGMA freelist_count").await, 0);
        assert_eq!(db.scalar("PRAGMA page_size").await, 8192);
        assert_eq!(db.scalar("PRAGMA auto_vacuum").await, 2);
        // The apply filled empty tables and built their indexes after the rows: every index
        // is back as defined, and holds every row.
        assert_eq!(db.text(indexes).await, defined);
        assert_eq!(db.text("PRAGMA integrity_check").await, "ok");
    }
    let before = env.inventory_fingerprint().await;
    let second = env.sync(&["--page-size", "50"]).await;
    assert_eq!(
        (&second["added"], &second["modified"], &second["unchanged"]),
        (&Value::from(0), &Value::from(0), &Value::from(120))
    );
    if env.backend() == Backend::Sqlite {
        // The re-sync's staging was given back too: unchanged re-syncs do not grow the file.
        assert_eq!(env.db().await.scalar("PRAGMA freelist_count").await, 0);
    }
    // No connection row was rewritten: every last_changed_run_id still names the first run.
    let after = env.inventory_fingerprint().await;
    assert_eq!(before, after);
    assert!(
        after
            .1
            .iter()
            .all(|(_, _, run)| *run == first["run_id"].as_i64().unwrap())
    );
    // The staging of the completed run was cleared.
    let staged = env
        .db()
        .await
        .scalar("SELECT COUNT(*) FROM staged_connections")
        .await;
    assert_eq!(staged, 0);
}

async fn changed_and_removed_connections_are_applied(backend: Backend) {
    let env = TestEnv::generated(backend, 30, 6).await;
    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    let removed = served.remove(3);
    served[0]["ikepolicy"]["encryption_algorithm"] = Value::from("aes-256");
    served[0]["name"] = Value::from("renamed");
    env.sim.state.set_inventory(served.clone());
    let report = env.sync(&[]).await;
    assert_eq!(
        (report["removed"].as_u64(), report["modified"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(report["unchanged"], 28);
    let exported = sorted_by_id(env.export().await);
    assert!(!exported.iter().any(|c| c["id"] == removed["id"]));
    assert_same_connections(&exported, &expected_export(&served));
}

async fn filters_reach_the_api_and_scopes_stay_apart(backend: Backend) {
    let env = TestEnv::generated(backend, 200, 8).await;
    let served = env.sim.state.inventory();
    let vgw_id = served[0]["vgw_id"].as_str().unwrap().to_owned();
    let of_gateway: Vec<Value> = served
        .iter()
        .filter(|c| c["vgw_id"] == vgw_id.as_str())
        .cloned()
        .collect();
    assert!(of_gateway.len() > 1 && of_gateway.len() < served.len());

    let report = env.sync(&["--vgw-id", &vgw_id, "--page-size", "2"]).await;
    assert_eq!(report["fetched"].as_u64(), Some(of_gateway.len() as u64));
    assert_same_connections(
        &sorted_by_id(env.export().await),
        &expected_export(&of_gateway),
    );

    // The unfiltered scope adds the rest: one inventory per project.
    let report = env.sync(&[]).await;
    let rest = served.len() - of_gateway.len();
    assert_eq!(report["added"].as_u64(), Some(rest as u64));
    assert_eq!(env.export().await.len(), served.len());

    // A removal the filtered scope sees leaves the inventory, and is not seen again.
    let gone = of_gateway[0]["id"].clone();
    let remaining: Vec<Value> = served.iter().filter(|c| c["id"] != gone).cloned().collect();
    env.sim.state.set_inventory(remaining.clone());
    let report = env.sync(&["--vgw-id", &vgw_id]).await;
    assert_eq!(report["removed"], 1);
    assert!(!env.export().await.iter().any(|c| c["id"] == gone));
    let report = env.sync(&[]).await;
    assert_eq!(report["removed"], 0);
    assert_same_connections(
        &sorted_by_id(env.export().await),
        &expected_export(&remaining),
    );

    let ep = served[0]["enterprise_project_id"].as_str().unwrap();
    let of_ep = served
        .iter()
        .filter(|c| c["enterprise_project_id"] == ep && c["id"] != gone)
        .count();
    let report = env
        .sync(&[
            "--enterprise-project-id",
            ep,
            "--enterprise-project-id",
            "no-such-ep",
        ])
        .await;
    assert_eq!(report["fetched"].as_u64(), Some(of_ep as u64));
    let vgw_ip = served[0]["vgw_ip"].as_str().unwrap();
    let of_ip = remaining.iter().filter(|c| c["vgw_ip"] == vgw_ip).count();
    assert_eq!(
        env.sync(&["--vgw-ip", vgw_ip]).await["fetched"].as_u64(),
        Some(of_ip as u64)
    );
    // The SDK-only filters reach the API too: vpn_id is one connection, eip_id its gateway's EIP.
    let one = remaining[5]["id"].as_str().unwrap();
    let report = env.sync(&["--vpn-id", one]).await;
    assert_eq!(report["fetched"], 1);
    assert_eq!(
        env.sync(&["--eip-id", vgw_ip]).await["fetched"].as_u64(),
        Some(of_ip as u64)
    );
    assert_eq!(
        env.sync(&["--vpn-id", one, "--eip-id", "no-such-eip"])
            .await["fetched"],
        0
    );
}

async fn a_dry_run_says_what_a_sync_would_change_and_writes_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 40, 12).await;
    let dry_run = ["sync", "--dry-run", "--format", "json", "--page-size", "7"];
    if backend == Backend::Sqlite {
        // Before any inventory exists: everything would be added, and no file appears.
        let before = env.run(&dry_run).await.assert_ok().json();
        assert_eq!(before["would_add"], 40, "{before}");
        let file = env.database_url().replace("sqlite://", "");
        assert!(
            !std::path::Path::new(&file).exists(),
            "a dry run created {file}"
        );
    }
    env.run(&["migrate"]).await.assert_ok();
    let first = env.run(&dry_run).await.assert_ok().json();
    assert_eq!(
        (
            &first["would_add"],
            &first["unchanged"],
            &first["would_remove"]
        ),
        (&Value::from(40), &Value::from(0), &Value::from(0)),
        "{first}"
    );
    let pages = u64::try_from(strict_sweep_pages(40, 7)).unwrap();
    assert_eq!(first["pages"].as_u64(), Some(pages));
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs, serde_json::json!([]), "a dry run records no run");
    assert!(env.export().await.is_empty());

    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    served.remove(5);
    served.remove(9);
    served[0]["name"] = Value::from("renamed");
    // `updated_at` alone is no change: a sync records nothing, and the dry run says so.
    served[1]["updated_at"] = Value::from("2030-01-01T00:00:00.000Z");
    env.sim.state.set_inventory(served);
    let second = env.run(&dry_run).await.assert_ok().json();
    let before = env.inventory_fingerprint().await;
    assert_eq!(
        (
            &second["would_add"],
            &second["would_change"],
            &second["would_remove"]
        ),
        (&Value::from(0), &Value::from(1), &Value::from(2)),
        "{second}"
    );
    assert_eq!(env.inventory_fingerprint().await, before);
    let report = env.sync(&["--page-size", "7"]).await;
    assert_eq!(
        (&report["modified"], &report["removed"]),
        (&Value::from(1), &Value::from(2))
    );
    assert_eq!(
        second["unchanged"], report["unchanged"],
        "{second}\n{report}"
    );
    // Both downloaded the same pages, and say how large they were.
    let bytes = second["bytes"].as_u64().expect("the bytes read");
    assert!(bytes > 38 * 100, "{second}");
    assert_eq!(report["bytes"].as_u64(), Some(bytes), "{report}");
}

/// A reader holds an empty table while a database's first sync applies: the apply does not
/// queue behind it (nor block the reader), and that table keeps its index; the others are
/// built after their rows.
#[tokio::test]
async fn a_first_sync_on_postgres_never_waits_for_a_reader() {
    let env = TestEnv::generated(Backend::Postgres, 30, 7).await;
    env.run(&["migrate"]).await.assert_ok();
    let db = env.db().await;
    let (tags_index, bounds_index) = (db.scalar(TAGS_INDEX).await, db.scalar(BOUNDS_INDEX).await);
    assert!(tags_index > 0 && bounds_index > 0);
    let crate::support::TestDb::Postgres(pool) = &db else {
        unreachable!("a PostgreSQL test database")
    };
    let mut reader = pool.begin().await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM tags")
        .fetch_one(&mut *reader)
        .await
        .unwrap();

    let sync = tokio::time::timeout(std::time::Duration::from_secs(120), env.sync(&[]));
    let report = sync.await.expect("the apply waited for the reader");
    assert_eq!(report["added"], 30, "{report}");
    reader.rollback().await.unwrap();
    assert_eq!(
        db.scalar(TAGS_INDEX).await,
        tags_index,
        "the held table keeps its index"
    );
    assert_ne!(
        db.scalar(BOUNDS_INDEX).await,
        bounds_index,
        "built after the rows"
    );
    // Filled through the index it kept.
    assert!(db.scalar("SELECT COUNT(*) FROM tags").await > 0);
}

/// A run that staged more connections than one statement clears (10,000, for SQLite's sake:
/// it holds what a DELETE removes in memory first), beside a failed run's staging (so it is
/// not all the table holds, which SQLite empties outright): once it applies, nothing of
/// either is staged, and a re-sync that finds nothing changed clears its own staging too.
#[tokio::test]
async fn a_run_of_more_than_ten_thousand_leaves_nothing_staged() {
    let env = TestEnv::generated(Backend::Sqlite, 10_007, 31).await;
    let body = serde_json::json!({"code": "VPN.0002", "message": "internal error, try later"});
    env.sim.state.set_faults(Faults {
        error_page: Some((3, 500, body)),
        ..Faults::default()
    });
    let failed = env
        .run(&["sync", "--page-size", "200", "--max-retries", "0"])
        .await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    let db = env.db().await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM staged_connections").await,
        400
    );
    db.close().await;
    env.sim.state.set_faults(Faults::default());
    for sync in ["first", "unchanged"] {
        let report = env.sync(&["--page-size", "200"]).await;
        assert_eq!(report["fetched"], 10_007, "{sync}: {report}");
        let db = env.db().await;
        for count in [
            "SELECT COUNT(*) FROM staged_connections",
            "SELECT COUNT(*) FROM staged_pages",
        ] {
            assert_eq!(db.scalar(count).await, 0, "{sync}: {count}");
        }
        db.close().await;
    }
    assert_eq!(env.export().await.len(), 10_007);
}
