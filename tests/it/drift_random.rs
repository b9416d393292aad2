//! Randomized end-to-end drift: rounds of random mutations of the served inventory
//! (`vpn_simulator::mutate`), each followed by a real sync, must give exactly the change records
//! the mutations imply, the matching counts, and an `export --as-of` of every run that is what was
//! served for it. A second test interleaves full runs with runs of one gateway (`--vgw-id`): each
//! change must then be recorded exactly once, by the first run of any scope that covers it.

use crate::support::{
    Backend, Run, TestEnv, assert_same_connections, expected_export, sorted_by_id,
    strict_sweep_pages,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use vpn_inventory::api::model::canonical_json;
use vpn_simulator::mutate::{AppliedChange, Mutator, Returns};
use vpn_simulator::random::Rng;

backend_tests!(
    random_rounds_record_exactly_what_changed,
    interleaved_scopes_record_each_change_once
);

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

/// Panics naming every record that is missing or unexpected, with where (`at`) it was expected.
fn assert_same_records(at: &str, recorded: &[Value], expected: &[AppliedChange]) {
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
                "{at}: {what} x{}: connection {id} field {field}: \
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
        .run(&[
            "drift",
            "--run",
            run_id,
            "--include-baseline",
            "--format",
            "json",
        ])
        .await
        .assert_ok()
        .json();
    match out {
        Value::Array(records) => records,
        other => panic!("drift is not an array: {other}"),
    }
}

/// Checks one run's report and records against the changes it must find (`served`: how many
/// connections its scope was served).
async fn check_run(
    env: &TestEnv,
    at: &str,
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
        "{at} (run {run_id}, page size {page_size}): sync report {report}"
    );

    let records = drift_of_run(env, &run_id).await;
    for r in &records {
        assert_eq!(r["run_id"], report["run_id"], "{at}: record {r}");
    }
    assert_same_records(at, &records, changes);
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
    check_run(&env, "round 0", &report, served.len(), &all_added, 7).await;
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
        let at = format!("round {round}");
        check_run(&env, &at, &report, served.len(), &changes, page_size).await;
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

const INTERLEAVED_SEED: u64 = 0x1A7E_51EE;
const INTERLEAVED_CONNECTIONS: usize = 120;
const INTERLEAVED_ROUNDS: u64 = 18;

/// A run's scope: `None` for the whole project, else one gateway's id (`--vgw-id`).
type Scope = Option<String>;

/// Whether a run of `scope` covers a connection on `gateway`.
fn covers(scope: &Scope, gateway: &str) -> bool {
    scope.as_deref().is_none_or(|g| g == gateway)
}

fn gateway_of(connection: &Value) -> String {
    connection["vgw_id"].as_str().unwrap_or_default().to_owned()
}

/// The interleaved test's picture of the project: the inventory as the runs so far observed it,
/// and per connection the changes made since that no run has observed yet.
///
/// Each change must be recorded exactly once, by the first run that covers its connection, and
/// that record is the *net* difference between the stored and the served connection. To keep
/// the expected records exact without a second drift detector, the mutator only ever edits
/// connections the inventory holds exactly as served ([`Observed::is_clean`]): a connection
/// changed in one round (noise included) is left alone until a run has observed it, however many
/// rounds that takes, so its pending changes are one round's `AppliedChange`s, old values as
/// stored. A removal is observed in its own round (see [`scopes_of_round`]), because the mutator
/// may bring the connection back in any later round, and a removal and return seen as one would
/// be a net change no `AppliedChange` describes.
#[derive(Default)]
struct Observed {
    /// Every connection ever served, with its gateway (the mutator never moves one).
    gateways: BTreeMap<String, String>,
    /// What the inventory holds: each connection as served to the last run that covered it.
    stored: BTreeMap<String, Value>,
    /// Changes no run has observed yet, with the round that made them.
    pending: BTreeMap<String, (u64, Vec<AppliedChange>)>,
    /// Every change made, for the checks across all runs.
    applied: Vec<AppliedChange>,
    /// Connections whose changes a run of a later round recorded: by a full run, by a gateway's.
    deferred_to_full: usize,
    deferred_to_gateway: usize,
}

impl Observed {
    /// Takes in the newly served inventory and the changes of the round that made it.
    fn take(&mut self, round: u64, served: &[Value], changes: &[AppliedChange]) {
        for c in served {
            let gateway = gateway_of(c);
            let known = self
                .gateways
                .entry(id_of(c))
                .or_insert_with(|| gateway.clone());
            assert_eq!(
                *known,
                gateway,
                "round {round}: connection {} moved to another gateway; this test assumes \
                 it cannot",
                id_of(c)
            );
        }
        let mut by_connection: BTreeMap<&str, Vec<AppliedChange>> = BTreeMap::new();
        for c in changes {
            by_connection
                .entry(&c.connection_id)
                .or_default()
                .push(c.clone());
        }
        for (id, changes) in by_connection {
            assert!(
                self.gateways.contains_key(id),
                "round {round}: {id} unknown"
            );
            let earlier = self.pending.insert(id.to_owned(), (round, changes));
            assert!(
                earlier.is_none(),
                "round {round}: {id} changed again before a run observed it"
            );
        }
        self.applied.extend_from_slice(changes);
    }

    /// Whether the inventory holds `connection` exactly as it is served.
    fn is_clean(&self, connection: &Value) -> bool {
        self.stored.get(&id_of(connection)) == Some(connection)
    }

    /// The records a complete run of `scope` in `round` must make, taken out of the pending
    /// changes; the inventory then holds what the run was served.
    fn observe(&mut self, round: u64, scope: &Scope, served: &[Value]) -> Vec<AppliedChange> {
        let covered: Vec<String> = self
            .pending
            .keys()
            .filter(|id| covers(scope, &self.gateways[*id]))
            .cloned()
            .collect();
        let mut expected = Vec::new();
        for id in covered {
            let (made, changes) = self.pending.remove(&id).expect("pending");
            if made < round {
                match scope {
                    None => self.deferred_to_full += 1,
                    Some(_) => self.deferred_to_gateway += 1,
                }
            }
            expected.extend(changes);
        }
        let gateways = &self.gateways;
        self.stored.retain(|id, _| !covers(scope, &gateways[id]));
        for c in served.iter().filter(|c| covers(scope, &gateway_of(c))) {
            self.stored.insert(id_of(c), c.clone());
        }
        expected
    }
}

/// The runs of a round, in order: one or two gateways picked at random among those that have
/// connections served or changes pending; then, unless a full run comes this round, the
/// gateways of the round's removals not picked yet; and every third round a full run, first or
/// last (so gateway runs after it must find nothing, and it must not repeat what they found).
fn scopes_of_round(
    rng: &mut Rng,
    round: u64,
    observed: &Observed,
    served: &[Value],
    removed_from: &BTreeSet<String>,
) -> Vec<Scope> {
    let mut gateways: Vec<String> = served
        .iter()
        .map(gateway_of)
        .chain(
            observed
                .pending
                .keys()
                .map(|id| observed.gateways[id].clone()),
        )
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut scopes = Vec::new();
    for _ in 0..1 + rng.below(2) {
        if gateways.is_empty() {
            break;
        }
        let pick = rng.below(gateways.len() as u64) as usize;
        scopes.push(Some(gateways.swap_remove(pick)));
    }
    if round > 0 && round.is_multiple_of(3) {
        if round % 6 == 3 {
            scopes.insert(0, None);
        } else {
            scopes.push(None);
        }
    } else {
        for g in removed_from {
            if !scopes.iter().any(|s| s.as_ref() == Some(g)) {
                scopes.push(Some(g.clone()));
            }
        }
    }
    scopes
}

/// Runs the binary once per argument list, several at a time; the results in the same order.
async fn run_many(env: &TestEnv, arg_lists: &[Vec<String>]) -> Vec<Run> {
    let mut out = Vec::with_capacity(arg_lists.len());
    for chunk in arg_lists.chunks(8) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|args| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let mut cmd = env.command(&args);
                tokio::spawn(async move { cmd.output().await })
            })
            .collect();
        for task in tasks {
            let output = task.await.expect("task").expect("binary runs");
            out.push(Run::from(output));
        }
    }
    out
}

/// Panics unless a connection's history reads as one life after another: `added` only while
/// the inventory does not hold it, `modified` and `removed` only while it does.
fn assert_history_is_lives(id: &str, history: &[Value]) {
    let mut held = false;
    for (i, r) in history.iter().enumerate() {
        let change = r["change"].as_str().unwrap_or_default();
        assert_eq!(r["connection_id"], id, "history of {id}: record {r}");
        let fits = match change {
            "added" => !held,
            "modified" | "removed" => held,
            _ => false,
        };
        assert!(
            fits,
            "history of {id}: record {i} is {change:?} while the inventory {} it:\n{history:#?}",
            if held { "holds" } else { "does not hold" }
        );
        held = match change {
            "added" => true,
            "removed" => false,
            _ => held,
        };
    }
}

async fn interleaved_scopes_record_each_change_once(backend: Backend) {
    let env = TestEnv::generated(backend, INTERLEAVED_CONNECTIONS, INTERLEAVED_SEED).await;
    let mut served = env.sim.state.inventory();
    let mut mutator = Mutator::new(INTERLEAVED_SEED, &served);
    let mut rng = Rng::new(!INTERLEAVED_SEED);
    let mut observed = Observed::default();
    // Round 0 made the whole inventory; its runs (gateways only) see part of it.
    let everything: Vec<AppliedChange> = served
        .iter()
        .map(|c| AppliedChange::added(&id_of(c)))
        .collect();
    observed.take(0, &served, &everything);

    // (where, run id, what the inventory holds after the run), for `export --as-of`.
    let mut runs: Vec<(String, String, Vec<Value>)> = Vec::new();
    let mut totals = BTreeMap::new();
    let mut returns = Returns::default();
    let mut full_runs_first = 0;
    for round in 0..=INTERLEAVED_ROUNDS + 1 {
        let last = round > INTERLEAVED_ROUNDS;
        let mut removed_from = BTreeSet::new();
        if round > 0 && !last {
            let (mut clean, dirty): (Vec<Value>, Vec<Value>) =
                served.into_iter().partition(|c| observed.is_clean(c));
            assert!(clean.len() > 10, "round {round}: {} clean", clean.len());
            let changes = mutator.round(&mut clean);
            clean.extend(dirty);
            served = clean;
            env.sim.state.set_inventory(served.clone());
            observed.take(round, &served, &changes);
            for c in &changes {
                *totals.entry(c.change).or_insert(0) += 1;
                if c.change == "removed" {
                    removed_from.insert(observed.gateways[&c.connection_id].clone());
                }
            }
            returns.observe(&changes);
        }
        // After the rounds, one full run finds whatever is still pending.
        let scopes = if last {
            vec![None]
        } else {
            scopes_of_round(&mut rng, round, &observed, &served, &removed_from)
        };
        full_runs_first += usize::from(scopes.len() > 1 && scopes[0].is_none());
        for (i, scope) in scopes.iter().enumerate() {
            let page_size = [7, 3, 60, 7, 500][(round as usize + i) % 5];
            let mut args = vec!["--page-size".to_owned(), page_size.to_string()];
            let at = match scope {
                None => format!("round {round}, full run"),
                Some(g) => {
                    args.extend(["--vgw-id".to_owned(), g.clone()]);
                    format!("round {round}, run of gateway {g}")
                }
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let report = env.sync(&args).await;
            let expected = observed.observe(round, scope, &served);
            let fetched = served
                .iter()
                .filter(|c| covers(scope, &gateway_of(c)))
                .count();
            check_run(&env, &at, &report, fetched, &expected, page_size).await;
            let held = observed.stored.values().cloned().collect();
            runs.push((at, report["run_id"].to_string(), held));
        }
    }
    assert!(
        observed.pending.is_empty(),
        "a full run observes everything"
    );
    assert!(
        ["added", "removed", "modified"]
            .iter()
            .all(|k| totals.get(k).is_some_and(|n| *n > 3))
            && returns.returned > 0
            && observed.deferred_to_full > 3
            && observed.deferred_to_gateway > 3
            && full_runs_first > 0,
        "too little happened: {totals:?}, {} re-added, changes recorded a round later: {} by \
         full runs, {} by gateway runs; {full_runs_first} full runs before gateway runs",
        returns.returned,
        observed.deferred_to_full,
        observed.deferred_to_gateway
    );

    // Across all runs, every change was recorded exactly once.
    let all = match env
        .run(&[
            "drift",
            "--since",
            "2000-01-01T00:00:00Z",
            "--include-baseline",
            "--format",
            "json",
        ])
        .await
        .assert_ok()
        .json()
    {
        Value::Array(records) => records,
        other => panic!("drift --since is not an array: {other}"),
    };
    assert_same_records("all runs", &all, &observed.applied);

    // Every connection's history is one life after another, and holds its changes.
    let ids: Vec<&String> = observed.gateways.keys().collect();
    let histories = run_many(
        &env,
        &ids.iter()
            .map(|id| {
                ["history", id, "--format", "json"]
                    .map(str::to_owned)
                    .to_vec()
            })
            .collect::<Vec<_>>(),
    )
    .await;
    for (id, history) in ids.iter().zip(&histories) {
        let Value::Array(records) = history.assert_ok().json() else {
            panic!("history of {id} is not an array: {}", history.stdout);
        };
        assert_history_is_lives(id, &records);
        let mine: Vec<AppliedChange> = observed
            .applied
            .iter()
            .filter(|c| &&c.connection_id == id)
            .cloned()
            .collect();
        assert_same_records(&format!("history of {id}"), &records, &mine);
    }

    // Each run left the inventory holding what the runs so far were served: a gateway's run
    // touched nothing outside it.
    let as_of = run_many(
        &env,
        &runs
            .iter()
            .map(|(_, run_id, _)| ["export", "--as-of", run_id].map(str::to_owned).to_vec())
            .collect::<Vec<_>>(),
    )
    .await;
    for ((at, run_id, held), past) in runs.iter().zip(&as_of) {
        let past = match past.assert_ok().json() {
            Value::Array(items) => sorted_by_id(items),
            other => panic!("{at}: export --as-of {run_id} is not an array: {other}"),
        };
        let expected = expected_export(held);
        if past != expected {
            eprintln!("{at}: export --as-of {run_id} differs from what the runs observed");
        }
        assert_same_connections(&past, &expected);
    }
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
}
