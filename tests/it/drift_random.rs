//! Randomized end-to-end drift: rounds of random mutations of the served inventory
//! (`vpn_simulator::mutate`), each followed by a real sync, must give exactly the change records
//! the mutations imply, the matching counts, and an `export --as-of` of every run that is what was
//! served for it.

use crate::support::{
    Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id, strict_sweep_pages,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use vpn_inventory::api::model::canonical_json;
use vpn_simulator::mutate::{AppliedChange, Mutator, Returns};

backend_tests!(random_rounds_record_exactly_what_changed);

const SEED: u64 = 0x5EED_D21F;
const CONNECTIONS: usize = 150;
const ROUNDS: u64 = 25;

/// A record as comparable text: (connection_id, change, category, field, old, new), values as
/// canonical JSON so `1` and `"1"` differ and key order does not.
type Key = (String, String, String, String, String, String);

fn key_of_record(r: &Value) -> Key {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&r["connection_id"]),
        text(&r["change"]),
        text(&r["category"]),
        canonical_json(&r["field"]),
        canonical_json(&r["old"]),
        canonical_json(&r["new"]),
    )
}

fn key_of_change(c: &AppliedChange) -> Key {
    (
        c.connection_id.clone(),
        c.change.to_owned(),
        c.category.to_owned(),
        canonical_json(&c.field.clone().map_or(Value::Null, Value::from)),
        canonical_json(&c.old),
        canonical_json(&c.new),
    )
}

/// Counts of each key (a multiset).
fn multiset(keys: impl IntoIterator<Item = Key>) -> BTreeMap<Key, i64> {
    let mut out = BTreeMap::new();
    for k in keys {
        *out.entry(k).or_default() += 1;
    }
    out
}

/// Panics naming every record that is missing or unexpected, with its round.
fn assert_same_records(round: u64, recorded: &[Value], expected: &[AppliedChange]) {
    let mut diff = multiset(expected.iter().map(key_of_change));
    for (k, n) in multiset(recorded.iter().map(key_of_record)) {
        *diff.entry(k).or_default() -= n;
    }
    let problems: Vec<String> = diff
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|((id, change, category, field, old, new), n)| {
            let what = if *n > 0 { "missing" } else { "unexpected" };
            format!(
                "round {round}: {what} x{}: connection {id} field {field}: \
                 {change}/{category} {old} -> {new}",
                n.abs()
            )
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} of {} expected records differ:\n{}",
        problems.len(),
        expected.len(),
        problems.join("\n")
    );
}

fn id_of(connection: &Value) -> String {
    connection["id"].as_str().unwrap_or_default().to_owned()
}

async fn drift_of_run(env: &TestEnv, run_id: &str) -> Vec<Value> {
    let out = env
        .run(&["drift", "--run", run_id, "--format", "json"])
        .await
        .assert_ok()
        .json();
    match out {
        Value::Array(records) => records,
        other => panic!("drift is not an array: {other}"),
    }
}

/// Checks one run's report and records against what the round changed.
async fn check_run(
    env: &TestEnv,
    round: u64,
    report: &Value,
    served: usize,
    changes: &[AppliedChange],
    page_size: usize,
) {
    let run_id = report["run_id"].to_string();
    let count = |change: &str| changes.iter().filter(|c| c.change == change).count() as u64;
    let modified = changes
        .iter()
        .filter(|c| c.change == "modified")
        .map(|c| c.connection_id.as_str())
        .collect::<BTreeSet<_>>()
        .len() as u64;
    let fetched = served as u64;
    let counts = |r: &Value| {
        [
            "status",
            "fetched",
            "duplicates",
            "added",
            "removed",
            "modified",
            "unchanged",
            "pages",
        ]
        .map(|k| r[k].clone())
    };
    let expected = serde_json::json!({
        "status": "complete",
        "fetched": fetched,
        "duplicates": 0,
        "added": count("added"),
        "removed": count("removed"),
        "modified": modified,
        "unchanged": fetched - count("added") - modified,
        "pages": strict_sweep_pages(served, page_size),
    });
    assert_eq!(
        counts(report),
        counts(&expected),
        "round {round} (run {run_id}, page size {page_size}): sync report {report}"
    );

    let records = drift_of_run(env, &run_id).await;
    for r in &records {
        assert_eq!(r["run_id"], report["run_id"], "round {round}: record {r}");
    }
    assert_same_records(round, &records, changes);
}

async fn random_rounds_record_exactly_what_changed(backend: Backend) {
    let env = TestEnv::generated(backend, CONNECTIONS, SEED).await;
    let mut served = env.sim.state.inventory();
    let mut mutator = Mutator::new(SEED, &served);

    let report = env.sync(&["--page-size", "7"]).await;
    let mut all_added: Vec<AppliedChange> = served
        .iter()
        .map(|c| AppliedChange::added(&id_of(c)))
        .collect();
    all_added.sort();
    check_run(&env, 0, &report, served.len(), &all_added, 7).await;
    let mut snapshots = vec![(0, report["run_id"].to_string(), served.clone())];

    // What the rounds exercised: record kinds, ids coming back, changes that are no record.
    let mut totals = BTreeMap::new();
    let mut returns = Returns::default();
    let mut silent = 0;
    for round in 1..=ROUNDS {
        let before: BTreeMap<String, Value> =
            served.iter().map(|c| (id_of(c), c.clone())).collect();
        let changes = mutator.round(&mut served);
        env.sim.state.set_inventory(served.clone());
        // Mostly 7, so pages split anywhere; sometimes tiny or one page for everything.
        let page_size = match round % 6 {
            2 => 3,
            4 => 60,
            5 => 500,
            _ => 7,
        };
        let report = env.sync(&["--page-size", &page_size.to_string()]).await;
        check_run(&env, round, &report, served.len(), &changes, page_size).await;
        for c in &changes {
            *totals.entry(c.change).or_insert(0) += 1;
        }
        returns.observe(&changes);
        let recorded: HashSet<&str> = changes.iter().map(|c| c.connection_id.as_str()).collect();
        silent += served
            .iter()
            .filter(|c| {
                before.get(&id_of(c)).is_some_and(|b| b != *c)
                    && !recorded.contains(id_of(c).as_str())
            })
            .count();
        snapshots.push((round, report["run_id"].to_string(), served.clone()));
    }
    assert!(
        ["added", "removed", "modified"]
            .iter()
            .all(|k| totals.get(k).is_some_and(|n| *n > 3))
            && returns.returned > 0
            && silent > 0,
        "too little happened: {totals:?}, {} re-added, {silent} changed without a record",
        returns.returned
    );

    for (round, run_id, snapshot) in &snapshots {
        let past = match env
            .run(&["export", "--as-of", run_id])
            .await
            .assert_ok()
            .json()
        {
            Value::Array(items) => sorted_by_id(items),
            other => panic!("round {round}: export --as-of {run_id} is not an array: {other}"),
        };
        let expected = expected_export(snapshot);
        if past != expected {
            eprintln!("round {round}: export --as-of {run_id} differs from what was served");
        }
        assert_same_connections(&past, &expected);
    }
    // The normalized tables, rewritten round after round, still give back the last inventory.
    let (_, _, last) = snapshots.last().expect("rounds ran");
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(last));
}
