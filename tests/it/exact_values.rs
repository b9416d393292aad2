//! No single value blocks a sync (issue 9): NUL anywhere, lone surrogates, numbers no float
//! holds, deep nesting and times in years no database holds are synced, stored and exported
//! exactly as the API sent them.

use crate::support::{Backend, TestEnv};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use vpn_inventory::api::model::canonical_json;
use vpn_inventory::json;

#[path = "../../src/json/arbitrary.rs"]
mod arbitrary;

backend_tests!(
    odd_values_are_synced_and_exported_exactly,
    generated_connections_are_synced_and_exported_exactly,
);

/// Connections as the API might send them, each holding values that used to fail a whole run
/// or come back changed.
fn odd_connections() -> Vec<String> {
    // As deep as a page may nest: the page, its list, the connection, then 124 levels.
    let deep = format!("{}\"bottom\"{}", "[".repeat(124), "]".repeat(124));
    vec![
        concat!(
            r#"{"id":"nul-\u0000-id","name":"a\u0000b","future":{"k\u0000":"v\u0000"},"#,
            r#""tags":[{"key":"k","value":"\u0000"}],"peer_subnets":["10.0.0.0/8\u0000"]}"#
        )
        .to_owned(),
        r#"{"id":"asn-1e400","bgp_peer":{"peer_asn":1e400,"peer_ip_address":"169.254.0.1"}}"#
            .to_owned(),
        r#"{"id":"asn-2^64","bgp_peer":{"peer_asn":18446744073709551616}}"#.to_owned(),
        r#"{"id":"asn-30-digits","bgp_peer":{"peer_asn":123456789012345678901234567890}}"#
            .to_owned(),
        concat!(
            r#"{"id":"tiny","ikepolicy":{"lifetime_seconds":1e-400,"#,
            r#""dpd":{"timeout":-0,"interval":1E+2,"msg":"x"}},"future":[1.50,-1E-7]}"#
        )
        .to_owned(),
        concat!(
            r#"{"id":"lone-\ud800","name":"\udfff and \ud83d\ude00","#,
            r#""policy_rules":[{"rule_index":1,"source":"\udbff","destination":["\udc00"]}]}"#
        )
        .to_owned(),
        format!(r#"{{"id":"deep","future":{deep}}}"#),
        concat!(
            r#"{"id":"year-10000","created_at":"+10000-01-01T00:00:00","#,
            r#""updated_at":"-5000-06-01T00:00:00"}"#
        )
        .to_owned(),
    ]
}

/// The text each value must come back as, in `export`'s output.
const EXPORTED_AS_SENT: &[&str] = &[
    r#""id":"nul-\u0000-id""#,
    r#""name":"a\u0000b""#,
    r#""k\u0000":"v\u0000""#,
    r#""value":"\u0000""#,
    r#""10.0.0.0/8\u0000""#,
    r#""peer_asn":1e400"#,
    r#""peer_asn":18446744073709551616"#,
    r#""peer_asn":123456789012345678901234567890"#,
    r#""lifetime_seconds":1e-400"#,
    r#""timeout":-0"#,
    r#""interval":1E+2"#,
    r#""future":[1.50,-1E-7]"#,
    r#""id":"lone-\ud800""#,
    "\"name\":\"\\udfff and \u{1F600}\"",
    r#""source":"\udbff""#,
    r#""destination":["\udc00"]"#,
    r#""created_at":"+10000-01-01T00:00:00""#,
    r#""updated_at":"-5000-06-01T00:00:00""#,
];

/// Connections by id, each as canonical JSON text (keys sorted, every value as sent).
fn by_id(connections: &[Value]) -> BTreeMap<String, String> {
    connections
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), canonical_json(c)))
        .collect()
}

fn parsed(texts: &[String]) -> Vec<Value> {
    texts.iter().map(|t| json::parse(t).unwrap()).collect()
}

async fn odd_values_are_synced_and_exported_exactly(backend: Backend) {
    let served = odd_connections();
    let env = TestEnv::with_verbatim_inventory(backend, served.clone()).await;
    let report = env.sync(&[]).await;
    assert_eq!(report["added"], served.len(), "{report}");
    let exported = env.export_exact(&[]).await;
    assert_eq!(by_id(&exported), by_id(&parsed(&served)));
    let text = env.run(&["export"]).await.assert_ok().stdout.clone();
    for value in EXPORTED_AS_SENT {
        assert!(
            text.contains(value),
            "{value} is not in the export:\n{text}"
        );
    }
    let as_of = env.export_exact(&["--as-of", "1"]).await;
    assert_eq!(by_id(&as_of), by_id(&exported));
    // Stored as sent: the next sync finds the same content.
    let report = env.sync(&[]).await;
    assert_eq!(
        (&report["unchanged"], &report["modified"]),
        (&Value::from(served.len()), &Value::from(0)),
        "{report}"
    );
    // In the database, a NUL is held as U+FDD0 and its hex digits, on both backends.
    let held = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM connections WHERE name = 'a' || char(64976) || '0000b'
            AND id = 'nul-' || char(64976) || '0000-id'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM connections WHERE name = 'a' || chr(64976) || '0000b'
            AND id = 'nul-' || chr(64976) || '0000-id'"
        }
    };
    let db = env.db().await;
    assert_eq!(db.scalar(held).await, 1);
    // Years no database holds alike are kept as text, with no instant.
    let no_instant = "SELECT COUNT(*) FROM connections WHERE id = 'year-10000'
        AND created_at_utc IS NULL AND updated_at_utc IS NULL";
    assert_eq!(db.scalar(no_instant).await, 1);
    db.close().await;

    // A changed name is a change, recorded exactly; a number only respelled is stored as sent
    // but is no change.
    let changed: Vec<String> = served
        .iter()
        .map(|c| {
            c.replace(r#""a\u0000b""#, r#""a\u0000c""#)
                .replace(r#""peer_asn":1e400"#, r#""peer_asn":1E400"#)
        })
        .collect();
    env.sim.state.set_verbatim_inventory(changed.clone());
    let report = env.sync(&[]).await;
    assert_eq!(report["modified"], 1, "{report}");
    assert_eq!(
        by_id(&env.export_exact(&[]).await),
        by_id(&parsed(&changed))
    );
    let drift = env.run(&["drift", "--format", "json"]).await;
    let drift = json::parse(&drift.assert_ok().stdout).unwrap();
    let records = drift.as_array().unwrap();
    assert_eq!(records.len(), 1, "{drift}");
    assert_eq!(records[0]["connection_id"], "nul-\u{FDD0}0000-id");
    assert_eq!(records[0]["field"], "name");
    assert_eq!(records[0]["old"], "a\u{FDD0}0000b");
    assert_eq!(records[0]["new"], "a\u{FDD0}0000c");
}

async fn generated_connections_are_synced_and_exported_exactly(backend: Backend) {
    let config = ProptestConfig {
        cases: 4,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let inventories = (1..6usize)
        .prop_flat_map(|count| (0..count).map(arbitrary::connection).collect::<Vec<_>>());
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&inventories, |connections| {
        let served: Vec<String> = connections.iter().map(arbitrary::Json::sent).collect();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(round_trip(backend, served))
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Syncs `served` into a fresh database and exports it: every value must come back as sent.
async fn round_trip(backend: Backend, served: Vec<String>) -> Result<(), TestCaseError> {
    let env = TestEnv::with_verbatim_inventory(backend, served.clone()).await;
    let run = env.run(&["sync", "--output", "json"]).await;
    prop_assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, served.join("\n"));
    let exported = env.export_exact(&[]).await;
    prop_assert_eq!(
        by_id(&exported),
        by_id(&parsed(&served)),
        "{}",
        served.join("\n")
    );
    Ok(())
}

/// Nesting past the parser's limit is the one value no sync can read: the run fails, naming
/// the connection and the field, and nothing stored changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_past_the_limit_fails_the_run_naming_the_connection_and_field() {
    let served = odd_connections();
    let env = TestEnv::with_verbatim_inventory(Backend::Sqlite, served.clone()).await;
    env.sync(&[]).await;
    let export = || async { env.run(&["export"]).await.assert_ok().stdout.clone() };
    let before = export().await;
    let deeper = format!("{}0{}", "[".repeat(125), "]".repeat(125));
    let mut served = served;
    let index = served.len();
    served.push(format!(r#"{{"id":"too\u0000deep","future":{deeper}}}"#));
    env.sim.state.set_verbatim_inventory(served);
    let run = env.run(&["sync"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let named = format!(
        r#"vpn_connections[{index}] (id "too\0deep") nests its field "future" deeper than 127"#
    );
    assert!(run.stderr.contains(&named), "{}", run.stderr);
    assert_eq!(export().await, before);
    let db = env.db().await;
    let sql = "SELECT COUNT(*) FROM connections WHERE last_changed_run_id <> 1";
    assert_eq!(db.scalar(sql).await, 0);
    db.close().await;
}
