//! Schema upgrades keep data, and database URLs keep their secrets.

use crate::support::{Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id};
use serde_json::Value;
use vpn_inventory::api::model::VpnConnection;

backend_tests!(
    upgrading_a_database_written_by_the_last_release_keeps_its_data,
    upgrading_merges_the_inventories_one_project_had_per_endpoint,
    upgrading_bounds_every_stored_network_as_the_store_would,
    upgrading_holds_the_strings_stored_before_as_they_were_sent,
    upgrading_drops_what_unfiltered_scopes_kept_of_their_results,
);

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
    assert_same_connections(
        &sorted_by_id(env.export().await),
        &sorted_by_id(written.clone()),
    );
    // V21 cut the stored hashes to the 128 bits the store computes now: what it stored is what
    // it would store again, so an unchanged connection stays unchanged.
    let stored: std::collections::BTreeMap<String, String> = on_test_db!(&db, pool => {
        use sqlx::Row;
        let rows = sqlx::query("SELECT id, content_hash FROM connections")
            .fetch_all(pool)
            .await
            .unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    });
    let computed: std::collections::BTreeMap<String, String> = written
        .iter()
        .map(|served| {
            let conn = VpnConnection::from_map(served.as_object().unwrap().clone());
            (conn.id.clone().unwrap(), conn.content_hash())
        })
        .collect();
    assert_eq!(stored, computed);
    assert_eq!(db.scalar(WITHOUT_CURRENT_VERSION).await, 0);
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
    // The views V13 made again on SQLite read the rebuilt tables.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM connection_summary").await,
        40
    );
    let ranges = "SELECT (SELECT COUNT(*) FROM network_ranges)
        - (SELECT COUNT(*) FROM peer_subnets)
        - (SELECT COUNT(*) FROM policy_rules WHERE source IS NOT NULL)
        - (SELECT COUNT(*) FROM policy_rule_destinations)";
    assert_eq!(db.scalar(ranges).await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM change_log").await, 52);
    if backend == Backend::Sqlite {
        // V13: the lists keep their rows in their key's b-tree and connections has one copy
        // of its key, not two.
        let copies = "SELECT COUNT(*) FROM sqlite_schema WHERE name LIKE 'sqlite_autoindex_%'
            AND tbl_name IN ('connections', 'peer_subnets', 'policy_rules',
                'policy_rule_destinations', 'tags')";
        assert_eq!(db.scalar(copies).await, 0);
    }
    // Versions stored before V12 reach their runs by id too.
    let by_run = "SELECT COUNT(*) FROM connection_versions v
        WHERE v.from_run_id = (SELECT r.id FROM sync_runs r WHERE r.apply_seq = v.from_seq)
            AND (v.to_seq IS NULL AND v.to_run_id IS NULL
                OR v.to_run_id = (SELECT r.id FROM sync_runs r WHERE r.apply_seq = v.to_seq))";
    assert_eq!(db.scalar(by_run).await, 49);
    let closed = "SELECT COUNT(*) FROM connection_versions WHERE to_run_id = 2";
    assert!(db.scalar(closed).await > 0);
    // V14: current versions give up their bodies (the rows are their content); ended ones keep
    // theirs, and the inventory as of the latest run is what `export` reads from the rows.
    let bodies = "SELECT COUNT(*) FROM connection_versions
        WHERE (body IS NULL AND to_seq IS NULL) OR (body IS NOT NULL AND to_seq IS NOT NULL)";
    assert_eq!(db.scalar(bodies).await, 49);
    let current_names = "SELECT COUNT(*) FROM version_spans v JOIN connections c
        ON c.project_id = v.project_id AND c.id = v.connection_id
        WHERE v.to_seq IS NULL AND v.name = c.name AND v.status = c.status";
    assert_eq!(db.scalar(current_names).await, 40);
    let latest = env
        .run(&["export", "--as-of", "2"])
        .await
        .assert_ok()
        .json();
    let latest: Vec<Value> = serde_json::from_value(latest).expect("an array");
    assert_eq!(sorted_by_id(latest), sorted_by_id(env.export().await));
    db.close().await;
    // And syncing goes on (through another endpoint: the inventory is the project's).
    assert_eq!(env.sync(&[]).await["removals_skipped"], Value::Null);
}

/// Network texts, valid and not, that the `V6__reports` migration must bound exactly as the
/// store does when it writes (`vpn_inventory::net`).
const ODD_NETWORKS: [&str; 16] = [
    "10.1.2.3/16",
    "10.1.2.3",
    "0.0.0.0/0",
    "::/0",
    "::1",
    "FD12:3456::/48",
    "2001:0db8:0000:0000:0000:0000:0000:00ff/121",
    "1:2:3:4:5:6:7::/127",
    "010.0.0.0/8",
    "10.0.0.0/33",
    "10.0.0.0/08",
    "12345::/16",
    "2001:db8::1::/64",
    "::ffff:10.0.0.1/128",
    "fe80::1%eth0",
    "any",
];

async fn upgrading_bounds_every_stored_network_as_the_store_would(backend: Backend) {
    use sqlx::Row;
    let env = TestEnv::generated(backend, 40, 41).await;
    env.run(&["migrate", "--target-version", "2"])
        .await
        .assert_ok();
    let db = env.db().await;
    db.execute_script(match backend {
        Backend::Sqlite => include_str!("../fixtures/release-0.1.0/sqlite.sql"),
        Backend::Postgres => include_str!("../fixtures/release-0.1.0/postgres.sql"),
    })
    .await;
    let keys = "SELECT connection_pk, ip_version, position FROM peer_subnets
                ORDER BY connection_pk, ip_version, position";
    let keys: Vec<(i64, i64, i64)> = on_test_db!(&db, pool => {
        let rows = sqlx::query(keys).fetch_all(pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
    });
    assert!(keys.len() > ODD_NETWORKS.len());
    for (text, (pk, version, position)) in ODD_NETWORKS.iter().zip(keys) {
        db.execute_script(&format!(
            "UPDATE peer_subnets SET cidr = '{text}' WHERE connection_pk = {pk} \
             AND ip_version = {version} AND position = {position}"
        ))
        .await;
    }
    env.run(&["migrate"]).await.assert_ok();

    // PostgreSQL's bounds are uuids (V19), which print with dashes.
    let sql = "SELECT cidr, first_hex, last_hex FROM (
                   SELECT cidr, first_hex, last_hex FROM peer_subnets
                   UNION ALL SELECT cidr, first_hex, last_hex FROM policy_rule_destinations
                   UNION ALL SELECT source, source_first_hex, source_last_hex FROM policy_rules
               ) AS networks";
    let sql = match backend {
        Backend::Sqlite => sql.to_owned(),
        Backend::Postgres => sql.replacen(
            "cidr, first_hex, last_hex",
            "cidr, replace(first_hex::text, '-', ''), replace(last_hex::text, '-', '')",
            1,
        ),
    };
    let stored: Vec<(String, Option<String>, Option<String>)> = on_test_db!(&db, pool => {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
    });
    assert!(stored.len() > 100, "{}", stored.len());
    for text in ODD_NETWORKS {
        assert!(stored.iter().any(|(t, _, _)| t == text), "{text} stored");
    }
    for (text, first, last) in stored {
        let bounds = vpn_inventory::net::bounds(&text);
        let hex = vpn_inventory::net::hex;
        let expected = (bounds.map(|b| hex(b.first)), bounds.map(|b| hex(b.last)));
        assert_eq!((first, last), expected, "{text}");
    }
    db.close().await;
}

/// Versions of one connection whose spans overlap: `export --as-of` would give it twice.
const OVERLAPPING_VERSIONS: &str = "SELECT COUNT(*) FROM connection_versions a
    JOIN connection_versions b ON a.project_id = b.project_id
        AND a.connection_id = b.connection_id AND a.id < b.id
    WHERE a.from_seq < COALESCE(b.to_seq, 1000000000)
        AND b.from_seq < COALESCE(a.to_seq, 1000000000)";

/// Connections whose current version is not the stored content.
const WITHOUT_CURRENT_VERSION: &str = "SELECT COUNT(*) FROM connections c
    WHERE NOT EXISTS (SELECT 1 FROM connection_versions v WHERE v.project_id = c.project_id
        AND v.connection_id = c.id AND v.to_seq IS NULL AND v.content_hash = c.content_hash)";

async fn upgrading_merges_the_inventories_one_project_had_per_endpoint(backend: Backend) {
    // The simulator the fixture was written from (see its README).
    let env = TestEnv::generated(backend, 30, 43).await;
    env.run(&["migrate", "--target-version", "3"])
        .await
        .assert_ok();
    let rows = match backend {
        Backend::Sqlite => include_str!("../fixtures/schema-v3-two-endpoints/sqlite.sql"),
        Backend::Postgres => include_str!("../fixtures/schema-v3-two-endpoints/postgres.sql"),
    };
    let db = env.db().await;
    db.execute_script(rows).await;
    let records = db.scalar("SELECT COUNT(*) FROM change_records").await;
    let old_export: Vec<Value> = serde_json::from_str(include_str!(
        "../fixtures/schema-v3-two-endpoints/export.json"
    ))
    .expect("fixture export");
    assert_eq!(old_export.len(), 58, "two copies of most connections");
    let mut ids: Vec<&str> = old_export
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 31);

    let upgraded = env.run(&["migrate"]).await;
    let stdout = &upgraded.assert_ok().stdout;
    assert!(
        stdout.contains("applied V4__one_inventory_per_project"),
        "{stdout}"
    );
    // One copy of each connection, each one of the copies that were stored; history kept.
    let merged = sorted_by_id(env.export().await);
    let merged_ids: Vec<&str> = merged.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(merged_ids, ids);
    for conn in &merged {
        assert!(
            old_export.contains(conn),
            "{conn} is none of the stored copies"
        );
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM change_records").await,
        records
    );
    assert_eq!(db.scalar(OVERLAPPING_VERSIONS).await, 0);
    assert_eq!(db.scalar(WITHOUT_CURRENT_VERSION).await, 0);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM scopes").await,
        2,
        "full and one gateway"
    );
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let endpoints: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scope"]["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        endpoints,
        [
            "http://127.0.0.1:38419",
            "http://localhost:38419",
            "http://127.0.0.1:38419",
            "http://localhost:38419",
            "http://127.0.0.1:38419",
        ]
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
    );

    // The project as it was served last: the next sync, through a third endpoint, finds only
    // the four connections that the first endpoint's last sync removed and the other held.
    env.sim.state.mutate(2, 5);
    env.sim.state.mutate(2, 6);
    let report = env.sync(&[]).await;
    assert_eq!(
        (&report["added"], &report["modified"], &report["removed"]),
        (&Value::from(0), &Value::from(0), &Value::from(4)),
        "{report}"
    );
    assert_same_connections(
        &sorted_by_id(env.export().await),
        &expected_export(&env.sim.state.inventory()),
    );
    db.close().await;
}

/// A connection stored by schema V4, with a U+FDD0 in its id, where the backend could hold one
/// (SQLite) a NUL in its name, and a number in `extra` (jsonb in PostgreSQL then); `$MARK`,
/// `$NUL` and `$NO` are the backend's SQL for a U+FDD0, a NUL and false.
const V4_CONNECTION: &str = "
    INSERT INTO scopes (project_id, created_at) VALUES ('p', '2024-01-01T00:00:00Z');
    INSERT INTO sync_runs (scope_id, status, started_at, page_size)
        VALUES (1, 'complete', '2024-01-01T00:00:00Z', 200);
    INSERT INTO connections (region, project_id, id, name, has_peer_subnets,
        has_peer_subnets_v6, has_policy_rules, has_policy_rules_v6, has_tags, extra,
        content_hash, observed_at, first_seen_run_id, last_changed_run_id)
    VALUES (NULL, 'p', 'c-' || $MARK || '0000', 'a' || $NUL || 'b', $NO, $NO, $NO, $NO, $NO,
        '{\"n\": 1.50}', 'h', '2024-01-01T00:00:00Z', 1, 1);";

async fn upgrading_holds_the_strings_stored_before_as_they_were_sent(backend: Backend) {
    let env = TestEnv::generated(backend, 0, 1).await;
    env.run(&["migrate", "--target-version", "4"])
        .await
        .assert_ok();
    let (mark, nul, no) = match backend {
        Backend::Sqlite => ("char(64976)", "char(0)", "0"),
        Backend::Postgres => ("chr(64976)", "''", "false"),
    };
    let rows = V4_CONNECTION
        .replace("$MARK", mark)
        .replace("$NUL", nul)
        .replace("$NO", no);
    let db = env.db().await;
    db.execute_script(&rows).await;
    db.close().await;
    env.run(&["migrate"]).await.assert_ok();
    let name = match backend {
        Backend::Sqlite => "a\u{0}b",
        Backend::Postgres => "ab",
    };
    let expected = serde_json::json!({"id": "c-\u{fdd0}0000", "name": name,
        "n": vpn_inventory::json::parse("1.50").unwrap()});
    assert_eq!(env.export().await, [expected]);
    // The database holds them as a sync writes them now.
    let held = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM connections WHERE name = 'a' || char(64976) || '0000b'
                 AND id = 'c-' || char(64976, 64976) || '0000'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM connections WHERE id = 'c-' || repeat(chr(64976), 2) || '0000'"
        }
    };
    let db = env.db().await;
    assert_eq!(db.scalar(held).await, 1);
    db.close().await;
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

/// V15: an unfiltered scope's removals read the inventory, never its previous result, so what
/// such scopes kept goes; a filtered scope keeps its own.
async fn upgrading_drops_what_unfiltered_scopes_kept_of_their_results(backend: Backend) {
    let env = TestEnv::generated(backend, 0, 1).await;
    env.run(&["migrate", "--target-version", "14"])
        .await
        .assert_ok();
    let db = env.db().await;
    db.execute_script(
        "INSERT INTO scopes (id, project_id, created_at)
             VALUES (1, 'p', '2026-01-01 00:00:00+00');
         INSERT INTO scopes (id, project_id, vgw_id, created_at)
             VALUES (2, 'p', 'g', '2026-01-01 00:00:00+00');
         INSERT INTO scope_connections (scope_id, connection_id)
             VALUES (1, 'a'), (1, 'b'), (2, 'a');",
    )
    .await;
    env.run(&["migrate"]).await.assert_ok();
    let kept = "SELECT COUNT(*) FROM scope_connections WHERE scope_id = 2 AND connection_id = 'a'";
    assert_eq!(db.scalar(kept).await, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM scope_connections").await, 1);
    db.close().await;
}
