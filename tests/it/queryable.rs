//! A schema that is pleasant to query (issue 12): times compare with each database's own date
//! functions, SCHEMA.md describes every table, view and column (and is PostgreSQL's comment on
//! each), networks and versions join by the same keys as everything else, and no long string
//! or odd body breaks a sync or a view.

use crate::support::{Backend, TestDb, TestEnv, assert_same_connections, expected_export};
use serde_json::json;
use std::collections::BTreeMap;

backend_tests!(
    times_compare_with_the_databases_own_date_functions,
    schema_md_describes_every_table_view_and_column,
    strings_longer_than_an_index_entry_sync,
    version_spans_reads_bodies_no_text_column_can_hold,
    network_ranges_join_by_connection_and_read_as_networks,
    versions_reach_the_runs_that_opened_and_closed_them,
);

/// `$TIME(n)`: a change recorded `n` hours ago, in the form the store writes times.
const EARLIER_RECORDS: &str = "
    INSERT INTO scopes (project_id, created_at) VALUES ('elsewhere', '$TIME(72)');
    INSERT INTO sync_runs (scope_id, status, started_at, finished_at, page_size, apply_seq)
        VALUES (1, 'complete', '$TIME(72)', '$TIME(72)', 200, 1);
    INSERT INTO change_records (run_id, project_id, connection_id, change, category,
        detected_at)
    VALUES (1, 'elsewhere', 'three-days-ago', 'added', 'config', '$TIME(72)'),
        (1, 'elsewhere', 'an-hour-ago', 'added', 'config', '$TIME(1)');";

/// The times SQLite holds, and where: none may be in another form than
/// `YYYY-MM-DD HH:MM:SS.ffffff`.
const SQLITE_TIMES: &str = "SELECT COUNT(*) FROM (
        SELECT created_at AS t FROM scopes
        UNION ALL SELECT started_at FROM sync_runs
        UNION ALL SELECT finished_at FROM sync_runs
        UNION ALL SELECT created_at_utc FROM connections
        UNION ALL SELECT updated_at_utc FROM connections
        UNION ALL SELECT observed_at FROM connections
        UNION ALL SELECT observed_at FROM connection_versions
        UNION ALL SELECT detected_at FROM change_records)
    WHERE t IS NOT NULL AND (length(t) <> 26 OR t NOT GLOB
        '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9]*'
        OR substr(t, 21) GLOB '*[^0-9]*')";

async fn times_compare_with_the_databases_own_date_functions(backend: Backend) {
    let env = TestEnv::generated(backend, 5, 7).await;
    env.run(&["migrate"]).await.assert_ok();
    // Times as the store writes them: UTC text with six fraction digits on SQLite, timestamptz
    // on PostgreSQL.
    let mut rows = EARLIER_RECORDS.to_owned();
    for hours in [72, 1] {
        let at = chrono::Utc::now() - chrono::TimeDelta::hours(hours);
        let text = match backend {
            Backend::Sqlite => at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            Backend::Postgres => at.to_rfc3339(),
        };
        rows = rows.replace(&format!("$TIME({hours})"), &text);
    }
    let db = env.db().await;
    db.execute_script(&rows).await;
    // Five connections added now, in the form the store writes.
    assert_eq!(env.sync(&[]).await["added"], 5);

    let (last_day, older) = match backend {
        Backend::Sqlite => (
            "SELECT COUNT(*) FROM change_records WHERE detected_at >= datetime('now', '-1 day')",
            "SELECT COUNT(*) FROM change_records WHERE detected_at < datetime('now', '-2 days')",
        ),
        Backend::Postgres => (
            "SELECT COUNT(*) FROM change_records WHERE detected_at >= now() - interval '1 day'",
            "SELECT COUNT(*) FROM change_records WHERE detected_at < now() - interval '2 days'",
        ),
    };
    assert_eq!(
        db.scalar(last_day).await,
        6,
        "an hour ago and the sync's five"
    );
    assert_eq!(db.scalar(older).await, 1, "three days ago");
    let runs = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM change_log WHERE run_started_at > datetime('now', '-1 hour')"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM change_log WHERE run_started_at > now() - interval '1 hour'"
        }
    };
    assert_eq!(
        db.scalar(runs).await,
        5,
        "the views' times compare the same way"
    );
    if backend == Backend::Sqlite {
        assert_eq!(db.scalar(SQLITE_TIMES).await, 0);
    }
    // The store reads the migrated times back: `drift --since` compares with them.
    let since = (chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339();
    let drift = env
        .run(&[
            "drift",
            "--since",
            &since,
            "--include-baseline",
            "--format",
            "json",
        ])
        .await;
    let drift = drift.assert_ok().json();
    assert_eq!(drift.as_array().map(Vec::len), Some(6), "{drift}");
    db.close().await;
}

/// One table or view as SCHEMA.md describes it: its text and each column's.
#[derive(Debug, Default)]
struct Described {
    text: String,
    columns: BTreeMap<String, String>,
}

/// SCHEMA.md's tables and views: each `### \`name\`` heading, the paragraph under it, and the
/// `| \`column\` | description |` rows of its table.
fn schema_md() -> BTreeMap<String, Described> {
    let mut out: BTreeMap<String, Described> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in include_str!("../../SCHEMA.md").lines() {
        if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
            current = Some(name.to_owned());
            out.entry(name.to_owned()).or_default();
            continue;
        }
        let Some(described) = current.as_ref().and_then(|name| out.get_mut(name)) else {
            continue;
        };
        if let Some(row) = line.strip_prefix("| `") {
            let (column, rest) = row.split_once("` | ").expect("a column row");
            let text = rest.strip_suffix(" |").expect("a column row ends with |");
            described.columns.insert(column.to_owned(), text.to_owned());
        } else if described.text.is_empty() && !line.trim().is_empty() && !line.starts_with('|') {
            line.trim().clone_into(&mut described.text);
        }
    }
    out
}

/// Each table and view of the test database with its columns, and on PostgreSQL their
/// comments (NULL: none; SQLite has none).
async fn database_schema(env: &TestEnv, db: &TestDb) -> BTreeMap<String, Described> {
    use sqlx::Row;
    let sql = match env.backend() {
        Backend::Sqlite => {
            "SELECT m.name, p.name, NULL, NULL FROM sqlite_master m
             JOIN pragma_table_xinfo(m.name) p  -- xinfo: generated columns too
             WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'
                 AND m.name <> 'refinery_schema_history'"
        }
        Backend::Postgres => {
            "SELECT c.relname::text, a.attname::text, obj_description(c.oid, 'pg_class'),
                 col_description(c.oid, a.attnum)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')
                 AND c.relname <> 'refinery_schema_history'"
        }
    };
    let rows: Vec<(String, String, Option<String>, Option<String>)> = on_test_db!(db, pool => {
        let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
    });
    let mut out: BTreeMap<String, Described> = BTreeMap::new();
    for (table, column, table_text, column_text) in rows {
        let described = out.entry(table).or_default();
        described.text = table_text.unwrap_or_default();
        described
            .columns
            .insert(column, column_text.unwrap_or_default());
    }
    out
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn schema_md_describes_every_table_view_and_column(backend: Backend) {
    let env = TestEnv::generated(backend, 0, 1).await;
    env.run(&["migrate"]).await.assert_ok();
    let db = env.db().await;
    let actual = database_schema(&env, &db).await;
    db.close().await;
    let documented = schema_md();
    let names = |m: &BTreeMap<String, Described>| {
        m.iter()
            .flat_map(|(t, d)| d.columns.keys().map(move |c| format!("{t}.{c}")))
            .collect::<Vec<_>>()
    };
    let (have, said) = (names(&actual), names(&documented));
    let undocumented: Vec<&String> = have.iter().filter(|c| !said.contains(c)).collect();
    let gone: Vec<&String> = said.iter().filter(|c| !have.contains(c)).collect();
    assert!(
        undocumented.is_empty() && gone.is_empty(),
        "SCHEMA.md lacks {undocumented:?} and describes {gone:?}, which the schema has not"
    );
    for (name, described) in &documented {
        assert!(
            !described.text.is_empty(),
            "SCHEMA.md says nothing of {name}"
        );
    }
    if backend == Backend::Sqlite {
        return;
    }
    // PostgreSQL's comments are SCHEMA.md's text; the failure says what a migration must add.
    let mut missing = Vec::new();
    for (name, described) in &documented {
        let held = &actual[name];
        if held.text != described.text {
            missing.push(format!(
                "COMMENT ON TABLE {name} IS {};",
                quoted(&described.text)
            ));
        }
        for (column, text) in &described.columns {
            if held.columns[column] != *text {
                missing.push(format!(
                    "COMMENT ON COLUMN {name}.{column} IS {};",
                    quoted(text)
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "PostgreSQL's comments differ from SCHEMA.md; a migration needs (COMMENT ON VIEW for \
         views):\n{}",
        missing.join("\n")
    );
}

/// `len` characters no compression shortens much (a btree entry holds a value compressed).
fn incompressible(len: usize, seed: u64) -> String {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b"abcdefghijklmnopqrstuvwxyz0123456789-_"[(state % 38) as usize])
        })
        .collect()
}

async fn strings_longer_than_an_index_entry_sync(backend: Backend) {
    let mut inventory = vpn_simulator::server::generated_inventory(3, 11);
    let long_key = incompressible(10_000, 1);
    let long_gateway = incompressible(10_000, 2);
    let long_algorithm = incompressible(10_000, 3);
    inventory[0]["tags"] = json!([{"key": long_key, "value": "v"}, {"key": "env", "value": "x"}]);
    inventory[1]["vgw_id"] = json!(long_gateway);
    inventory[2]["ikepolicy"]["encryption_algorithm"] = json!(long_algorithm);
    let env = TestEnv::with_inventory(backend, inventory.clone()).await;
    let report = env.sync(&[]).await;
    assert_eq!(report["added"], 3, "{report}");
    assert_same_connections(
        &crate::support::sorted_by_id(env.export().await),
        &expected_export(&inventory),
    );
    // Changed, the long tag is a change like any other.
    inventory[0]["tags"][0]["value"] = json!("w");
    env.sim.state.set_inventory(inventory.clone());
    let report = env.sync(&[]).await;
    assert_eq!(report["modified"], 1, "{report}");
    let drift = env
        .run(&["drift", "--format", "json"])
        .await
        .assert_ok()
        .json();
    assert_eq!(drift[0]["field"], format!("tags.{long_key}"), "{drift}");
    // The indexes still find them.
    let db = env.db().await;
    let found = "SELECT COUNT(*) FROM tags t JOIN connections c ON c.pk = t.connection_pk
                 WHERE t.key = (SELECT MAX(key) FROM tags) AND c.vgw_id <> 'none'";
    assert_eq!(db.scalar(found).await, 1);
    db.close().await;
}

async fn version_spans_reads_bodies_no_text_column_can_hold(backend: Backend) {
    let served = |status: &str| {
        vec![
            format!(
                r#"{{"id":"nul","name":"a\u0000b","status":"{status}",{tags}}}"#,
                tags = r#""tags":[{"key":"k","value":"\u0000"}]"#
            ),
            format!(r#"{{"id":"lone","name":"\udfff and \ud83d\ude00","vgw_id":"g\\u0000"}}"#),
            format!(r#"{{"id":"plain","name":"plain","style":"BGP","status":"{status}"}}"#),
        ]
    };
    let env = TestEnv::with_verbatim_inventory(backend, served("ACTIVE")).await;
    env.sync(&[]).await;
    let db = env.db().await;
    // Current versions read the connections' own columns.
    let same_names = "SELECT COUNT(*) FROM version_spans v JOIN connections c
        ON c.project_id = v.project_id AND c.id = v.connection_id AND c.name = v.name";
    assert_eq!(db.scalar(same_names).await, 3);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM connection_versions WHERE body IS NULL")
            .await,
        3,
        "a current version stores no body"
    );
    // Two change and their first versions end, archiving their bodies, which the view reads.
    env.sim.state.set_verbatim_inventory(served("DOWN"));
    assert_eq!(env.sync(&[]).await["modified"], 2);
    let ended = "SELECT COUNT(*) FROM version_spans WHERE to_seq IS NOT NULL";
    assert_eq!(db.scalar(ended).await, 2);
    let ended_active = "SELECT COUNT(*) FROM version_spans
        WHERE to_seq IS NOT NULL AND status = 'ACTIVE' AND body IS NOT NULL";
    assert_eq!(db.scalar(ended_active).await, 2);
    // Where the body holds what no text can, PostgreSQL gives the name as the text columns
    // hold it (SQLite's json_extract gives the NUL itself).
    let ended_same_names = "SELECT COUNT(*) FROM version_spans v JOIN connections c
        ON c.project_id = v.project_id AND c.id = v.connection_id AND c.name = v.name
        WHERE v.to_seq IS NOT NULL";
    let expected = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 2,
    };
    assert_eq!(db.scalar(ended_same_names).await, expected);
    let escaped = "SELECT COUNT(*) FROM version_spans WHERE vgw_id = 'g\\u0000'
        AND status IS NULL AND connection_id = 'lone'";
    assert_eq!(
        db.scalar(escaped).await,
        1,
        "an escaped backslash starts no escape"
    );
    db.close().await;
}

async fn network_ranges_join_by_connection_and_read_as_networks(backend: Backend) {
    let mut inventory = vpn_simulator::server::generated_inventory(4, 5);
    inventory[0]["peer_subnets"] = json!(["10.1.2.3/16", "any", "FD12:3456::/48", "010.0.0.0/8"]);
    let env = TestEnv::with_inventory(backend, inventory).await;
    env.sync(&[]).await;
    let db = env.db().await;
    let joined = "SELECT COUNT(*) FROM network_ranges n
        JOIN connections c ON c.project_id = n.project_id AND c.id = n.connection_id
            AND c.pk = n.connection_pk";
    let all = db.scalar("SELECT COUNT(*) FROM network_ranges").await;
    assert!(all > 4, "{all}");
    assert_eq!(db.scalar(joined).await, all);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM network_ranges WHERE network IS NULL")
            .await,
        db.scalar("SELECT COUNT(*) FROM network_ranges WHERE first_hex IS NULL")
            .await,
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM network_ranges WHERE cidr IN ('any', '010.0.0.0/8')")
            .await,
        2
    );
    let networks: Vec<(String, Option<String>)> = on_test_db!(&db, pool => {
        use sqlx::Row;
        let sql = match backend {
            Backend::Sqlite => "SELECT cidr, network FROM network_ranges WHERE position < 4
                AND list = 'peer_subnets' AND connection_pk = (SELECT MIN(pk) FROM connections
                    WHERE id = (SELECT connection_id FROM network_ranges WHERE cidr = 'any'))
                ORDER BY position",
            Backend::Postgres => "SELECT cidr, network::text FROM network_ranges WHERE position < 4
                AND list = 'peer_subnets' AND connection_pk = (SELECT MIN(pk) FROM connections
                    WHERE id = (SELECT connection_id FROM network_ranges WHERE cidr = 'any'))
                ORDER BY position",
        };
        let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    });
    let expected: Vec<Option<&str>> = match backend {
        Backend::Sqlite => vec![Some("10.1.2.3/16"), None, Some("FD12:3456::/48"), None],
        Backend::Postgres => vec![Some("10.1.0.0/16"), None, Some("fd12:3456::/48"), None],
    };
    let got: Vec<Option<&str>> = networks.iter().map(|(_, n)| n.as_deref()).collect();
    assert_eq!(got, expected, "{networks:?}");
    if backend == Backend::Postgres {
        let contained = "SELECT COUNT(*) FROM network_ranges WHERE network >>= '10.1.200.0/24'";
        assert_eq!(db.scalar(contained).await, 1);
    }
    db.close().await;

    // Bounds (a uuid on PostgreSQL) compare with a literal of their 32 hex digits, and a
    // report prints those digits on both backends.
    let dir = tempfile::tempdir().unwrap();
    let bounds = dir.path().join("bounds.sql");
    std::fs::write(
        &bounds,
        "-- title: The bounds of the networks holding 10.1.200.7\n\
         SELECT cidr, first_hex, last_hex FROM peer_subnets\n\
         WHERE first_hex <= '00000000000000000000ffff0a01c807'\n\
             AND last_hex >= '00000000000000000000ffff0a01c807'\n\
         ORDER BY cidr;\n",
    )
    .unwrap();
    let run = env
        .run(&[
            "report",
            "--file",
            &bounds.display().to_string(),
            "--format",
            "csv",
        ])
        .await;
    assert_eq!(
        run.assert_ok().stdout,
        "cidr,first_hex,last_hex\n\
         10.1.2.3/16,00000000000000000000ffff0a010000,00000000000000000000ffff0a01ffff\n"
    );
}

/// `connection_versions.from_run_id`/`to_run_id` are the runs that added, changed and removed a
/// connection, by run id (a failed run in between makes ids and apply order differ).
async fn versions_reach_the_runs_that_opened_and_closed_them(backend: Backend) {
    let mut served = vpn_simulator::server::generated_inventory(3, 5);
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    env.sync(&[]).await;
    let mut failing = env.command(&["sync"]);
    failing.env("HUAWEICLOUD_SDK_SK", "not-the-secret-key");
    assert_eq!(env.run_cmd(failing).await.code, Some(1), "run 2 fails");
    served[0]["name"] = json!("renamed");
    env.sim.state.set_inventory(served.clone());
    assert_eq!(env.sync(&[]).await["modified"], 1);
    served.remove(1);
    env.sim.state.set_inventory(served.clone());
    assert_eq!(env.sync(&[]).await["removed"], 1);

    let db = env.db().await;
    let spans = [
        // The renamed connection's first version and its second; the removed one; the other.
        (
            "SELECT COUNT(*) FROM connection_versions WHERE from_run_id = 1 AND to_run_id = 3",
            1,
        ),
        (
            "SELECT COUNT(*) FROM connection_versions WHERE from_run_id = 3 AND to_run_id IS NULL",
            1,
        ),
        (
            "SELECT COUNT(*) FROM connection_versions WHERE from_run_id = 1 AND to_run_id = 4",
            1,
        ),
        (
            "SELECT COUNT(*) FROM connection_versions WHERE from_run_id = 1 AND to_run_id IS NULL",
            1,
        ),
        ("SELECT COUNT(*) FROM connection_versions", 4),
        // The renamed connection's and the removed one's ended versions archived their bodies;
        // the two current ones store none (their rows are their content).
        (
            "SELECT COUNT(*) FROM connection_versions WHERE to_seq IS NOT NULL
                 AND body LIKE '{%' AND body NOT LIKE '%renamed%'",
            2,
        ),
        (
            "SELECT COUNT(*) FROM connection_versions WHERE to_seq IS NULL AND body IS NULL",
            2,
        ),
        // The same runs as the apply sequence names, and as version_spans shows.
        (
            "SELECT COUNT(*) FROM connection_versions v
             JOIN sync_runs f ON f.apply_seq = v.from_seq
             LEFT JOIN sync_runs t ON t.apply_seq = v.to_seq
             JOIN version_spans s ON s.version_id = v.id
             WHERE f.id = v.from_run_id AND s.from_run_id = v.from_run_id
                 AND COALESCE(t.id, 0) = COALESCE(v.to_run_id, 0)
                 AND COALESCE(s.to_run_id, 0) = COALESCE(v.to_run_id, 0)",
            4,
        ),
    ];
    for (sql, expected) in spans {
        assert_eq!(db.scalar(sql).await, expected, "{sql}");
    }
    db.close().await;
}
