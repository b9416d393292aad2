//! A connection id or a filter of any length syncs (issue 12): PostgreSQL's btree index
//! entries hold at most about 2.7 KB, so the keys ids and scopes are unique by hold a digest of
//! a long one there, and both backends give the same results. (Export lists connections in
//! storage order, which for ids over 2,000 bytes may differ between the databases: the
//! comparisons sort by id.)

use crate::support::{Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id};
use serde_json::Value;
use vpn_simulator::server::generated_inventory;

backend_tests!(
    a_ten_thousand_character_id_syncs_changes_and_goes,
    a_filter_of_any_length_names_one_scope,
);

/// An id of `len` characters no compression shortens: letters, digits, a backslash (which the
/// PostgreSQL key reads its bytes through) and characters of several UTF-8 lengths, drawn by a
/// fixed generator from `seed`.
fn long_id(len: usize, seed: u64) -> String {
    const ALPHABET: &[char] = &[
        'a', 'q', 'Z', '0', '7', '-', '\\', 'é', 'ß', '中', '😀', '"',
    ];
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[usize::try_from(state >> 59).unwrap() % ALPHABET.len()]
        })
        .collect()
}

/// Three connections of the generated kind: one with a 10,000-character id, one whose id
/// shares its first 9,999 characters, and one ordinary.
fn served() -> Vec<Value> {
    let mut served = generated_inventory(3, 12);
    let long = long_id(10_000, 1);
    let mut twin: String = long.chars().take(9_999).collect();
    twin.push('!');
    served[0]["id"] = Value::from(long);
    served[1]["id"] = Value::from(twin);
    served
}

async fn a_ten_thousand_character_id_syncs_changes_and_goes(backend: Backend) {
    let mut served = served();
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    let report = env.sync(&[]).await;
    assert_eq!(report["added"], 3, "{report}");
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    let db = env.db().await;
    let longest = "SELECT CAST(MAX(LENGTH(id)) AS BIGINT) FROM connections";
    assert_eq!(db.scalar(longest).await, 10_000);
    db.close().await;

    let report = env.sync(&[]).await;
    assert_eq!(
        (&report["unchanged"], &report["modified"]),
        (&3.into(), &0.into()),
        "{report}"
    );

    served[0]["name"] = Value::from("renamed");
    env.sim.state.set_inventory(served.clone());
    let report = env.sync(&[]).await;
    assert_eq!(
        (&report["modified"], &report["unchanged"]),
        (&1.into(), &2.into()),
        "{report}"
    );
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    let id = served[0]["id"].as_str().unwrap().to_owned();
    let drift = env
        .run(&["drift", "--format", "json"])
        .await
        .assert_ok()
        .json();
    assert_eq!(drift[0]["connection_id"], id, "{drift}");
    assert_eq!(drift[0]["field"], "name", "{drift}");

    let removed = served.remove(0);
    env.sim.state.set_inventory(served.clone());
    let report = env.sync(&[]).await;
    assert_eq!(
        (&report["removed"], &report["unchanged"]),
        (&1.into(), &2.into()),
        "{report}"
    );
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    let changes = env.history_kinds(&id).await;
    assert_eq!(changes, ["added", "modified", "removed"]);

    // Back again: the key the removed row held is free, and the twin is still told apart.
    served.push(removed);
    env.sim.state.set_inventory(served.clone());
    let report = env.sync(&[]).await;
    assert_eq!(
        (&report["added"], &report["unchanged"]),
        (&1.into(), &2.into()),
        "{report}"
    );
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
}

/// A filter value longer than a btree index entry holds names its scope: each run of it finds
/// the same scope, and a value differing in its last character another.
async fn a_filter_of_any_length_names_one_scope(backend: Backend) {
    let mut served = generated_inventory(3, 13);
    let gateway = long_id(3_000, 2);
    let mut twin: String = gateway.chars().take(2_999).collect();
    twin.push('!');
    served[0]["vgw_id"] = Value::from(gateway.as_str());
    served[1]["vgw_id"] = Value::from(twin.as_str());
    let env = TestEnv::with_inventory(backend, served.clone()).await;
    let scopes = "SELECT COUNT(*) FROM scopes";

    let first = env.sync(&["--vgw-id", &gateway]).await;
    assert_eq!(first["added"], 1, "{first}");
    let again = env.sync(&["--vgw-id", &gateway]).await;
    assert_eq!(
        (&again["unchanged"], &again["added"]),
        (&1.into(), &0.into())
    );
    let db = env.db().await;
    assert_eq!(db.scalar(scopes).await, 1);
    db.close().await;

    let other = env.sync(&["--vgw-id", &twin]).await;
    assert_eq!(other["added"], 1, "{other}");
    let db = env.db().await;
    assert_eq!(db.scalar(scopes).await, 2);
    db.close().await;
    let exported = env.export().await;
    let gateways: Vec<&str> = exported
        .iter()
        .filter_map(|c| c["vgw_id"].as_str())
        .collect();
    assert!(gateways.contains(&gateway.as_str()) && gateways.contains(&twin.as_str()));
}
