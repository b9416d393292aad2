//! One inventory per project: runs of overlapping scopes, through any endpoint, record each
//! change once, and an older sweep never overwrites a newer one.

use crate::support::{Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;
use vpn_inventory::api::filters::Filters;
use vpn_inventory::api::model::VpnConnection;
use vpn_inventory::reconcile::{self, Removable, RemovalGuard, Removals};
use vpn_inventory::scope::Scope;
use vpn_inventory::store::{DatabaseUrl, PageToStage, StageOutcome, StagedConnection, Store};
use vpn_simulator::mutate::AppliedChange;
use vpn_simulator::{Faults, Transient, TransientAnswer};

backend_tests!(
    a_change_is_recorded_by_the_first_run_that_sees_it,
    a_body_staged_as_held_is_found_when_the_inventory_moved,
    an_endpoint_alias_feeds_the_same_inventory,
    an_older_sweep_never_overwrites_a_newer_one,
    removals_stay_within_what_a_scope_selects,
    a_connection_moved_out_of_a_scope_is_not_removed_by_it,
    a_filtered_run_removes_only_what_the_api_no_longer_serves,
);

/// (connection id, change, field) of change records or applied changes.
type Seen = BTreeSet<(String, String, String)>;

fn seen_records(records: &Value) -> Seen {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&r["connection_id"]),
                text(&r["change"]),
                text(&r["field"]),
            )
        })
        .collect()
}

fn seen_changes<'a>(changes: impl IntoIterator<Item = &'a AppliedChange>) -> Seen {
    changes
        .into_iter()
        .map(|c| {
            let field = c.field.clone().unwrap_or_default();
            (c.connection_id.clone(), c.change.to_owned(), field)
        })
        .collect()
}

async fn records_of(env: &TestEnv, report: &Value) -> Value {
    let run = report["run_id"].to_string();
    env.run(&["drift", "--run", &run, "--format", "json"])
        .await
        .assert_ok()
        .json()
}

/// The reproduction: a full sync, operators' changes, a sync of one gateway, a full sync.
async fn a_change_is_recorded_by_the_first_run_that_sees_it(backend: Backend) {
    let env = TestEnv::generated(backend, 300, 44).await;
    env.sync(&[]).await;
    let gateway_of = |inventory: &[Value], id: &str| {
        let conn = inventory.iter().find(|c| c["id"] == id);
        conn.map(|c| c["vgw_id"].as_str().unwrap().to_owned())
    };
    let before = env.sim.state.inventory();
    let changes = env.sim.state.mutate(1, 3);
    let after = env.sim.state.inventory();
    let gateway_of_change = |c: &AppliedChange| {
        gateway_of(&after, &c.connection_id)
            .or_else(|| gateway_of(&before, &c.connection_id))
            .unwrap()
    };
    let modified = changes
        .iter()
        .find(|c| c.change == "modified" && c.field.as_deref() != Some("status"))
        .expect("a round modifies a connection");
    let gateway = gateway_of_change(modified);
    let (mine, rest): (Vec<&AppliedChange>, Vec<&AppliedChange>) = changes
        .iter()
        .partition(|c| gateway_of_change(c) == gateway);

    // The gateway's run records its changes only: nothing it holds already is "added".
    let filtered = env.sync(&["--vgw-id", &gateway]).await;
    assert_eq!(
        seen_records(&records_of(&env, &filtered).await),
        seen_changes(mine.iter().copied()),
        "{filtered}"
    );
    // The full run records the rest, and not the gateway's changes again.
    let full = env.sync(&[]).await;
    assert_eq!(
        seen_records(&records_of(&env, &full).await),
        seen_changes(rest.iter().copied())
    );
    let id = &modified.connection_id;
    assert_eq!(env.history_kinds(id).await, ["added", "modified"]);
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&after));
}

async fn an_endpoint_alias_feeds_the_same_inventory(backend: Backend) {
    let env = TestEnv::generated(backend, 40, 45).await;
    env.sync(&[]).await;
    let alias = env.sim.endpoint().replace("127.0.0.1", "localhost");
    let mut served = env.sim.state.inventory();
    served[0]["name"] = json!("renamed-behind-the-alias");
    env.sim.state.set_inventory(served.clone());
    let report = env.sync(&["--endpoint", &alias]).await;
    assert_eq!(
        (&report["added"], &report["modified"], &report["unchanged"]),
        (&json!(0), &json!(1), &json!(39))
    );
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    let id = served[0]["id"].as_str().unwrap();
    assert_eq!(env.history_kinds(id).await, ["added", "modified"]);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[0]["scope"]["endpoint"], alias.as_str());
}

/// A slow full sync fetches a connection, which is then renamed and stored by a filtered sync;
/// when the slow one applies, the newer name stands and nothing is recorded for it.
async fn an_older_sweep_never_overwrites_a_newer_one(backend: Backend) {
    let env = TestEnv::generated(backend, 12, 46).await;
    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    // The first page (newest first) holds connection 0.
    let id = served[0]["id"].as_str().unwrap().to_owned();
    let gateway = served[0]["vgw_id"].as_str().unwrap().to_owned();
    env.sim.state.set_faults(Faults {
        hang_page: Some(2),
        ..Faults::default()
    });
    let mut slow = env.command(&["sync", "--output", "json", "--page-size", "5"]);
    slow.stdout(Stdio::piped()).stderr(Stdio::piped());
    let slow = slow.spawn().unwrap();
    env.sim.state.hanging.notified().await;

    served[0]["name"] = json!("renamed-meanwhile");
    env.sim.state.set_inventory(served.clone());
    env.sim.state.set_faults(Faults::default());
    let filtered = env.sync(&["--vgw-id", &gateway]).await;
    assert_eq!(filtered["modified"], 1);

    env.sim.state.release();
    let slow = crate::support::Run::from(slow.wait_with_output().await.unwrap());
    let slow = slow.assert_ok().json();
    assert_eq!((&slow["modified"], &slow["added"]), (&json!(0), &json!(0)));
    let exported = env.export().await;
    let stored = exported.iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(stored["name"], "renamed-meanwhile");
    assert_eq!(env.history_kinds(&id).await, ["added", "modified"]);
    assert_same_connections(&sorted_by_id(exported), &expected_export(&served));
}

async fn removals_stay_within_what_a_scope_selects(backend: Backend) {
    let env = TestEnv::generated(backend, 60, 47).await;
    let served = env.sim.state.inventory();
    env.sync(&[]).await;
    let gateway = served[0]["vgw_id"].as_str().unwrap().to_owned();
    let vgw_ip = served[0]["vgw_ip"].as_str().unwrap().to_owned();
    let of_gateway = |c: &&Value| c["vgw_id"] == gateway.as_str();
    let mine: Vec<&Value> = served.iter().filter(of_gateway).collect();
    let other = served.iter().find(|c| !of_gateway(c)).unwrap();
    assert!(
        mine.len() >= 2,
        "the seed gives the gateway two connections"
    );

    // Gone: one of the gateway's connections and one elsewhere. The gateway's run removes
    // only its own, although the inventory held both.
    let mut next = served.clone();
    next.retain(|c| c["id"] != mine[0]["id"] && c["id"] != other["id"]);
    env.sim.state.set_inventory(next.clone());
    let filtered = env.sync(&["--vgw-id", &gateway]).await;
    assert_eq!(filtered["removed"], 1);
    let records = records_of(&env, &filtered).await;
    assert_eq!(records[0]["connection_id"], mine[0]["id"]);

    // A filter stored fields cannot answer (the gateway's EIP id) judges only what the same
    // scope returned before: its first run removes nothing, its second what it lost.
    let first = env.sync(&["--eip-id", &vgw_ip]).await;
    assert_eq!((&first["removed"], &first["added"]), (&json!(0), &json!(0)));
    next.retain(|c| c["id"] != mine[1]["id"]);
    env.sim.state.set_inventory(next.clone());
    let second = env.sync(&["--eip-id", &vgw_ip]).await;
    assert_eq!(second["removed"], 1);
    // The full run finds the other removal, and nothing twice.
    let full = env.sync(&[]).await;
    assert_eq!((&full["removed"], &full["added"]), (&json!(1), &json!(0)));
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&next));
    for gone in [mine[0], mine[1], other] {
        let id = gone["id"].as_str().unwrap();
        assert_eq!(env.history_kinds(id).await, ["added", "removed"]);
    }
}

/// A connection moves to another enterprise project; the new project's run records the move,
/// and the old project's run, judging by the stored fields, does not take it for removed.
async fn a_connection_moved_out_of_a_scope_is_not_removed_by_it(backend: Backend) {
    let env = TestEnv::generated(backend, 60, 48).await;
    let mut served = env.sim.state.inventory();
    let old = served[0]["enterprise_project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = served
        .iter()
        .map(|c| c["enterprise_project_id"].as_str().unwrap().to_owned())
        .find(|ep| *ep != old)
        .expect("two enterprise projects");
    env.sync(&["--enterprise-project-id", &old]).await;
    env.sync(&["--enterprise-project-id", &new]).await;
    served[0]["enterprise_project_id"] = json!(new);
    env.sim.state.set_inventory(served.clone());

    let moved_in = env.sync(&["--enterprise-project-id", &new]).await;
    assert_eq!(
        (&moved_in["modified"], &moved_in["added"]),
        (&json!(1), &json!(0))
    );
    let left = env.sync(&["--enterprise-project-id", &old]).await;
    assert_eq!(left["removed"], 0, "{left}");
    // The full run adds only the other enterprise projects' connections.
    let elsewhere = served
        .iter()
        .filter(|c| c["enterprise_project_id"] != old.as_str())
        .filter(|c| c["enterprise_project_id"] != new.as_str())
        .count();
    let full = env.sync(&[]).await;
    let changed = ["added", "removed", "modified"].map(|k| full[k].as_u64().unwrap());
    assert_eq!(changed, [elsewhere as u64, 0, 0]);
    let id = served[0]["id"].as_str().unwrap();
    assert_eq!(env.history_kinds(id).await, ["added", "modified"]);
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
}

/// A connection moves to another gateway and no run of the new gateway has seen it: the old
/// gateway's run lacks it just as it lacks a deleted one. It asks the API for both by id and
/// removes only the deleted one; the move is recorded by the next run that sees it. When the
/// API cannot be asked, or answers with other connections, the run removes nothing.
async fn a_filtered_run_removes_only_what_the_api_no_longer_serves(backend: Backend) {
    let env = TestEnv::generated(backend, 60, 47).await;
    let served = env.sim.state.inventory();
    let gateway_of = |c: &Value| c["vgw_id"].as_str().unwrap().to_owned();
    let mut sizes = std::collections::BTreeMap::<String, usize>::new();
    for conn in &served {
        *sizes.entry(gateway_of(conn)).or_default() += 1;
    }
    let (gateway, size) = sizes.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(
        *size >= 4,
        "the seed gives a gateway four connections: {sizes:?}"
    );
    let mine: Vec<String> = served
        .iter()
        .filter(|c| gateway_of(c) == *gateway)
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let elsewhere = served
        .iter()
        .map(gateway_of)
        .find(|g| g != gateway)
        .unwrap();
    env.sync(&[]).await;

    let (moved, deleted) = (&mine[0], &mine[1]);
    let mut next = served.clone();
    next.retain(|c| c["id"] != deleted.as_str());
    for conn in &mut next {
        if conn["id"] == moved.as_str() {
            conn["vgw_id"] = json!(elsewhere);
        }
    }
    env.sim.state.set_inventory(next.clone());
    env.sim.state.set_faults(Faults::default());
    let filtered = env.sync(&["--vgw-id", gateway]).await;
    let counts = ["removed", "modified", "added"].map(|k| filtered[k].as_u64().unwrap());
    assert_eq!(counts, [1, 0, 0], "{filtered}");
    assert_eq!(filtered["removals_skipped"], Value::Null);
    let asked = env.sim.state.requests();
    assert_eq!(
        asked, 3,
        "one page, then one request for each connection it lacked"
    );
    let records = records_of(&env, &filtered).await;
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    assert_eq!(records[0]["connection_id"], deleted.as_str());
    let exported = env.export().await;
    let kept = exported.iter().find(|c| c["id"] == moved.as_str()).unwrap();
    assert_eq!(kept["vgw_id"], gateway.as_str(), "kept as stored");

    // The full run sees the move: a modification, not a removal and an addition.
    let full = env.sync(&[]).await;
    let counts = ["removed", "modified", "added"].map(|k| full[k].as_u64().unwrap());
    assert_eq!(counts, [0, 1, 0], "{full}");
    assert_eq!(env.history_kinds(moved).await, ["added", "modified"]);
    assert_eq!(env.history_kinds(deleted).await, ["added", "removed"]);
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&next));

    // Asked by id, the API answers with an error: the sweep stored, no removal made.
    next.retain(|c| c["id"] != mine[2].as_str());
    env.sim.state.set_inventory(next.clone());
    let refused = TransientAnswer::Status {
        status: 400,
        body: json!({"code": "VPN.0001", "message": "invalid request"}),
        retry_after: None,
    };
    env.sim.state.set_faults(Faults {
        transient: Some(Transient {
            from: 2,
            times: 1,
            answer: refused,
        }),
        ..Faults::default()
    });
    let doubted = env.sync(&["--vgw-id", gateway]).await;
    assert_eq!(doubted["removed"], 0, "{doubted}");
    let reason = doubted["removals_skipped"].as_str().unwrap();
    assert!(
        reason.contains(mine[2].as_str()) && reason.contains("VPN.0001"),
        "{reason}"
    );
    assert!(
        env.export()
            .await
            .iter()
            .any(|c| c["id"] == mine[2].as_str())
    );
    // A service that ignores `vpn_id` answers with the first page of everything: no proof.
    env.sim.state.set_faults(Faults {
        ignore_vpn_id: true,
        ..Faults::default()
    });
    let ignored = env.sync(&["--vgw-id", gateway]).await;
    assert_eq!(ignored["removed"], 0, "{ignored}");
    let reason = ignored["removals_skipped"].as_str().unwrap();
    assert!(reason.contains("answered with another"), "{reason}");
    env.sim.state.set_faults(Faults::default());
    let confirmed = env.sync(&["--vgw-id", gateway]).await;
    assert_eq!(confirmed["removed"], 1, "{confirmed}");
    assert_eq!(env.history_kinds(&mine[2]).await, ["added", "removed"]);
}

/// A page of one connection, staged as a sweep stages it: without its body when the
/// inventory holds its content.
async fn stage_one(store: &Store, run_id: i64, project: &str, served: &Value) -> StageOutcome {
    let conn = VpnConnection::from_map(served.as_object().unwrap().clone());
    let (id, content_hash) = (conn.id.clone().unwrap(), conn.content_hash());
    let stored = store.stored_hashes(project, &[&id]).await.unwrap();
    let held = stored.get(&id).is_some_and(|s| s.content == content_hash);
    let staged = [StagedConnection {
        id,
        content_hash,
        served_hash: None,
        created_at: served["created_at"].as_str().map(str::to_owned),
        body: (!held).then(|| vpn_inventory::json::to_string(served)),
    }];
    let page = PageToStage {
        page_no: 1,
        marker: None,
        next_marker: None,
        request_id: None,
        fetched_at: chrono::Utc::now(),
        connections: &staged,
    };
    store.stage_page(run_id, &page).await.unwrap()
}

/// An unchanged connection is staged without its body. When an older sweep then changes it in
/// the inventory before this run applies, the apply finds the body among the versions: the
/// newer observation stands, recorded as a modification.
async fn a_body_staged_as_held_is_found_when_the_inventory_moved(backend: Backend) {
    let original = json!({"id": "c1", "name": "original", "vgw_id": "vgw-1",
        "created_at": "2024-01-01T00:00:00Z"});
    let env = TestEnv::with_inventory(backend, vec![original.clone()]).await;
    env.sync(&[]).await;
    let store = Store::open(&DatabaseUrl::parse(&env.database_url()).unwrap())
        .await
        .unwrap();
    let project = env.config.project_id.as_str();
    let endpoint = env.sim.endpoint();
    let full = Scope::new(&endpoint, None, project, Filters::default());
    let gateway = Filters {
        vgw_id: Some("vgw-1".into()),
        ..Filters::default()
    };
    let gateway = Scope::new(&endpoint, None, project, gateway);
    let mut renamed = original.clone();
    renamed["name"] = json!("renamed");

    // The older sweep fetches the rename; the newer one fetches the original content again,
    // which the inventory holds: staged without its body.
    let older_scope = store.ensure_scope(&full).await.unwrap();
    let sync = store.start_sync().await.unwrap();
    let older = store
        .start_run(older_scope, &full, 200, sync)
        .await
        .unwrap();
    stage_one(&store, older, project, &renamed).await;
    let newer_scope = store.ensure_scope(&gateway).await.unwrap();
    let newer = store
        .start_run(newer_scope, &gateway, 200, sync)
        .await
        .unwrap();
    stage_one(&store, newer, project, &original).await;
    let db = env.db().await;
    let bodiless = "SELECT COUNT(*) FROM staged_connections WHERE body IS NULL";
    assert_eq!(db.scalar(bodiless).await, 1);

    let trusting = Removals {
        doubt: None,
        guard: RemovalGuard::default(),
        removable: Removable::Lacked,
    };
    for (run, scope_id, scope) in [(older, older_scope, &full), (newer, newer_scope, &gateway)] {
        let tx = store.begin_apply(Duration::from_secs(5)).await.unwrap();
        let applying = reconcile::Applying {
            run_id: run,
            scope_id,
            scope,
            removals: trusting.clone(),
            traces: None,
        };
        let applied = reconcile::complete_run(&store, tx, applying).await.unwrap();
        assert_eq!(applied.counts.modified, 1, "run {run}");
    }
    let exported = env.export().await;
    assert_eq!(exported[0]["name"], "original");
    let history = env.run(&["history", "c1", "--format", "json"]).await.json();
    let names: Vec<(i64, &str, &Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_i64().unwrap(),
                r["change"].as_str().unwrap(),
                &r["new"],
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (1, "added", &Value::Null),
            (older, "modified", &json!("renamed")),
            (newer, "modified", &json!("original")),
        ]
    );
    db.close().await;
}
