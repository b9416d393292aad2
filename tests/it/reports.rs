//! The SQL reports in queries/ run on the synced tables and agree with the served data.

use crate::support::{Backend, TestEnv};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Row};

backend_tests!(weak_crypto_and_status_reports_match_the_served_inventory);

fn report(name: &str) -> String {
    std::fs::read_to_string(format!("{}/queries/{name}.sql", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The weak settings of one served connection, as (policy, setting, value).
fn weak_settings(conn: &Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for policy in ["ikepolicy", "ipsecpolicy"] {
        let dh_key = if policy == "ikepolicy" {
            "dh_group"
        } else {
            "pfs"
        };
        for (setting, weak) in [
            ("encryption_algorithm", &["3des"][..]),
            ("authentication_algorithm", &["md5", "sha1"][..]),
            (dh_key, &["group1", "group2", "group5"][..]),
        ] {
            if let Some(value) = conn[policy][setting].as_str().filter(|v| weak.contains(v)) {
                found.push((policy.to_owned(), setting.to_owned(), value.to_owned()));
            }
        }
    }
    found
}

async fn weak_crypto_and_status_reports_match_the_served_inventory(backend: Backend) {
    let env = TestEnv::generated(backend, 400, 21).await;
    env.sync(&[]).await;
    let served = env.sim.state.inventory();
    let db = env.db().await;

    let mut actual: Vec<(String, String, String, String)> = on_test_db!(&db, pool => {
        sqlx::query(AssertSqlSafe(report("weak-crypto")))
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("id"), r.get("policy"), r.get("setting"), r.get("value")))
            .collect()
    });
    let mut expected: Vec<(String, String, String, String)> = served
        .iter()
        .flat_map(|c| {
            let id = c["id"].as_str().unwrap().to_owned();
            weak_settings(c)
                .into_iter()
                .map(move |(p, s, v)| (id.clone(), p, s, v))
        })
        .collect();
    actual.sort();
    expected.sort();
    assert!(
        !expected.is_empty(),
        "the generated inventory should contain weak crypto"
    );
    assert_eq!(actual, expected);

    let rows: Vec<(Option<String>, Option<String>, i64)> = on_test_db!(&db, pool => {
        sqlx::query(AssertSqlSafe(report("status-by-style")))
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("style"), r.get("status"), r.get("connections")))
            .collect()
    });
    let total: i64 = rows.iter().map(|r| r.2).sum();
    assert_eq!(usize::try_from(total), Ok(served.len()));
    let active_policy = served
        .iter()
        .filter(|c| c["status"] == "ACTIVE" && c["style"] == "POLICY")
        .count();
    let row = rows
        .iter()
        .find(|r| r.0.as_deref() == Some("POLICY") && r.1.as_deref() == Some("ACTIVE"))
        .map_or(0, |r| r.2);
    assert_eq!(usize::try_from(row), Ok(active_policy));
}
