//! A sync parses only the connections served as other bytes than the inventory last saw them
//! as (`connections.served_hash`); what it skips is what it would have found unchanged, and
//! other bytes of the same content (keys reordered, other whitespace) are no change.

use crate::support::{Backend, TestDb, TestEnv};
use serde_json::Value;
use sha2::{Digest, Sha256};

backend_tests!(the_bytes_as_served_decide_what_is_parsed);

const FIRST: [&str; 3] = [
    r#"{"id":"c1","name":"one","vgw_id":"g","created_at":"2024-01-01T00:00:00Z"}"#,
    r#"{"id":"c2","name":"two","vgw_id":"g","created_at":"2024-01-01T00:00:01Z"}"#,
    r#"{"id":"c3","name":"three","vgw_id":"g","created_at":"2024-01-01T00:00:02Z"}"#,
];

/// The hash a sync keeps of bytes served.
fn served_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// Each connection's `served_hash` as 32 hex digits, in id order (`NULL` as ""): SQLite
/// holds the digits, PostgreSQL a uuid.
async fn stored(db: &TestDb, backend: Backend) -> [String; 3] {
    let queries = match backend {
        Backend::Sqlite => [
            "SELECT COALESCE(served_hash, '') FROM connections WHERE id = 'c1'",
            "SELECT COALESCE(served_hash, '') FROM connections WHERE id = 'c2'",
            "SELECT COALESCE(served_hash, '') FROM connections WHERE id = 'c3'",
        ],
        Backend::Postgres => [
            "SELECT COALESCE(replace(served_hash::text, '-', ''), '') FROM connections \
             WHERE id = 'c1'",
            "SELECT COALESCE(replace(served_hash::text, '-', ''), '') FROM connections \
             WHERE id = 'c2'",
            "SELECT COALESCE(replace(served_hash::text, '-', ''), '') FROM connections \
             WHERE id = 'c3'",
        ],
    };
    let [one, two, three] = queries;
    [db.text(one).await, db.text(two).await, db.text(three).await]
}

fn counts(report: &Value) -> (i64, i64, i64) {
    let count = |key: &str| report[key].as_i64().unwrap_or(-1);
    (count("added"), count("modified"), count("unchanged"))
}

async fn the_bytes_as_served_decide_what_is_parsed(backend: Backend) {
    let mut served: Vec<String> = FIRST.iter().map(|s| (*s).to_owned()).collect();
    let env = TestEnv::with_verbatim_inventory(backend, served.clone()).await;
    assert_eq!(counts(&env.sync(&[]).await), (3, 0, 0));
    let db = env.db().await;
    assert_eq!(stored(&db, backend).await, FIRST.map(served_hash));

    // An inventory stored before the hashes were kept (schema 24) learns them on its next
    // sync, finding no change.
    db.execute_script("UPDATE connections SET served_hash = NULL")
        .await;
    assert_eq!(counts(&env.sync(&[]).await), (0, 0, 3));
    assert_eq!(stored(&db, backend).await, FIRST.map(served_hash));

    // The same content as other bytes: no change, and the new bytes are known from now on.
    served[1] = r#"{ "vgw_id": "g", "created_at": "2024-01-01T00:00:01Z",
        "name": "two", "id": "c2" }"#
        .to_owned();
    env.sim.state.set_verbatim_inventory(served.clone());
    assert_eq!(counts(&env.sync(&[]).await), (0, 0, 3));
    let now = stored(&db, backend).await;
    assert_eq!(now[1], served_hash(&served[1]));
    let drift = env
        .run(&["drift", "--format", "json"])
        .await
        .assert_ok()
        .json();
    assert_eq!(drift.as_array().map(Vec::len), Some(0), "{drift}");

    // A connection served as the bytes the inventory knows is not parsed: the sweep takes the
    // inventory's content for it. Shown by a stored content hash no parse would give: c1 keeps
    // it (not parsed), c3, changed, is parsed and found changed.
    db.execute_script("UPDATE connections SET content_hash = 'not a parse' WHERE id = 'c1'")
        .await;
    served[2] = FIRST[2].replace("three", "THREE");
    env.sim.state.set_verbatim_inventory(served.clone());
    let dry = env.run(&["sync", "--dry-run", "--output", "json"]).await;
    let dry = dry.assert_ok().json();
    let dry_counts = (&dry["would_add"], &dry["would_change"], &dry["unchanged"]);
    assert_eq!(
        dry_counts,
        (&Value::from(0), &Value::from(1), &Value::from(2)),
        "{dry}"
    );
    assert_eq!(counts(&env.sync(&[]).await), (0, 1, 2));
    let kept = "SELECT content_hash FROM connections WHERE id = 'c1'";
    assert_eq!(db.text(kept).await, "not a parse");
    assert_eq!(stored(&db, backend).await[2], served_hash(&served[2]));
    let history = env
        .run(&["history", "c3", "--format", "json"])
        .await
        .assert_ok()
        .json();
    let changes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["change"].as_str())
        .collect();
    assert_eq!(changes, ["added", "modified"], "{history}");
    db.close().await;
}
