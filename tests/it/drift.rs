//! Drift: exactly what changed between complete runs of a scope, and history.

use crate::support::{Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id};
use serde_json::{Value, json};
use vpn_simulator::Faults;

backend_tests!(
    first_run_adds_all_then_field_changes_are_recorded_exactly,
    reordering_telemetry_and_updated_at_are_stored_but_not_changes,
    removal_and_return_show_in_history_and_failed_runs_remove_nothing,
    export_as_of_rebuilds_every_past_run,
    overlapping_scopes_record_each_change_once,
);

pub async fn drift(env: &TestEnv, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["drift", "--format", "json"];
    all.extend_from_slice(args);
    env.run(&all)
        .await
        .assert_ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

/// (connection_id, change, category, field, old, new) of each record.
pub fn summary(records: &[Value]) -> Vec<(String, String, String, Value, Value, Value)> {
    let mut out: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["connection_id"].as_str().unwrap().to_owned(),
                r["change"].as_str().unwrap().to_owned(),
                r["category"].as_str().unwrap().to_owned(),
                r["field"].clone(),
                r["old"].clone(),
                r["new"].clone(),
            )
        })
        .collect();
    out.sort_by_key(|r| format!("{r:?}"));
    out
}

fn find(served: &mut [Value], pred: impl Fn(&Value) -> bool) -> &mut Value {
    served
        .iter_mut()
        .find(|c| pred(c))
        .expect("a connection of that kind")
}

async fn first_run_adds_all_then_field_changes_are_recorded_exactly(backend: Backend) {
    let env = TestEnv::generated(backend, 60, 31).await;
    let first = env.sync(&[]).await;
    assert!(drift(&env, &[]).await.is_empty(), "a baseline is no drift");
    let records = drift(&env, &["--include-baseline"]).await;
    assert_eq!(records.len(), 60);
    assert!(
        records
            .iter()
            .all(|r| r["change"] == "added" && r["category"] == "config" && r["field"].is_null())
    );
    assert_eq!(records[0]["run_id"], first["run_id"]);

    let mut served = env.sim.state.inventory();
    let policy = find(&mut served, |c| {
        c["policy_rules"].as_array().is_some_and(|r| {
            !r.is_empty()
                && r[0]["destination"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty())
        }) && c["tags"]
            .as_array()
            .is_some_and(|t| !t.is_empty() && t[0].as_object().unwrap().len() == 2)
            && c["ikepolicy"]["dpd"].is_object()
    });
    let pid = policy["id"].as_str().unwrap().to_owned();
    let rule_index = policy["policy_rules"][0]["rule_index"].clone();
    let old_dest = policy["policy_rules"][0]["destination"].clone();
    policy["policy_rules"][0]["destination"]
        .as_array_mut()
        .unwrap()
        .push(json!("172.31.255.0/24"));
    let new_dest = policy["policy_rules"][0]["destination"].clone();
    let old_enc = policy["ikepolicy"]["encryption_algorithm"].clone();
    let new_enc = if old_enc == "aes-256" {
        json!("aes-128")
    } else {
        json!("aes-256")
    };
    policy["ikepolicy"]["encryption_algorithm"] = new_enc.clone();
    let old_interval = policy["ikepolicy"]["dpd"]["interval"].clone();
    policy["ikepolicy"]["dpd"]["interval"] = json!(old_interval.as_i64().unwrap() + 1);
    let tag_key = policy["tags"][0]["key"].as_str().unwrap().to_owned();
    let old_tag = policy["tags"][0]["value"].clone();
    policy["tags"][0]["value"] = json!("changed value");
    let old_status = policy["status"].clone();
    let new_status = if old_status == "ACTIVE" {
        json!("DOWN")
    } else {
        json!("ACTIVE")
    };
    policy["status"] = new_status.clone();
    policy["updated_at"] = json!("2026-11-25T00:00:00.000Z");
    env.sim.state.set_inventory(served.clone());

    let report = env.sync(&[]).await;
    assert_eq!(
        (report["modified"].as_u64(), report["unchanged"].as_u64()),
        (Some(1), Some(59))
    );
    let expected = vec![
        (
            "ikepolicy.encryption_algorithm".to_owned(),
            "config",
            old_enc,
            new_enc,
        ),
        (
            "ikepolicy.dpd.interval".into(),
            "config",
            old_interval.clone(),
            json!(old_interval.as_i64().unwrap() + 1),
        ),
        (
            format!("policy_rules[{rule_index}].destination"),
            "config",
            old_dest,
            new_dest,
        ),
        (
            format!("tags.{tag_key}"),
            "config",
            old_tag,
            json!("changed value"),
        ),
        ("status".into(), "state", old_status, new_status),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(field, cat, old, new)| {
            (
                pid.clone(),
                "modified".to_owned(),
                cat.to_owned(),
                json!(field),
                old,
                new,
            )
        })
        .collect();
    let mut expected = expected;
    expected.sort_by_key(|r| format!("{r:?}"));
    let records = drift(&env, &["--run", &report["run_id"].to_string()]).await;
    assert_eq!(summary(&records), expected);
    assert!(
        records
            .iter()
            .all(|r| r["connection_name"] == policy_name(&served, &pid))
    );

    // --category and the default (latest complete run) agree with --run.
    let state = drift(&env, &["--category", "state"]).await;
    assert_eq!(state.len(), 1);
    assert_eq!(state[0]["field"], "status");
    let csv = env.run(&["drift", "--format", "csv"]).await;
    let lines: Vec<&str> = csv.assert_ok().stdout.lines().collect();
    assert_eq!(
        lines[0],
        "run_id,connection_id,connection_name,change,category,field,old,new,old_type,new_type,\
         detected_at,project_id,target,changed_by,changed_by_time,changed_by_operation,\
         changed_by_source_ip,changed_by_unknown"
    );
    assert_eq!(lines.len(), 6);
}

fn policy_name(served: &[Value], id: &str) -> Value {
    served.iter().find(|c| c["id"] == id).unwrap()["name"].clone()
}

async fn reordering_telemetry_and_updated_at_are_stored_but_not_changes(backend: Backend) {
    let env = TestEnv::generated(backend, 80, 32).await;
    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    let mut touched = 0;
    for conn in served.iter_mut() {
        if let Some(subnets) = conn["peer_subnets"].as_array_mut().filter(|s| s.len() > 1) {
            subnets.reverse();
            touched += 1;
        }
        if let Some(rules) = conn["policy_rules"].as_array_mut() {
            rules.reverse();
            for rule in rules {
                if let Some(d) = rule["destination"].as_array_mut() {
                    d.reverse();
                }
            }
        }
        if let Some(tags) = conn["tags"].as_array_mut() {
            tags.reverse();
        }
        if conn["bgp_peer"].is_object() {
            conn["bgp_peer"]["state_duration"] = json!(123456);
            conn["bgp_peer"]["num_message_sent"] = json!(999);
            touched += 1;
        }
        conn["updated_at"] = json!("2026-11-25T01:02:03.456Z");
    }
    assert!(touched > 5);
    env.sim.state.set_inventory(served.clone());
    let report = env.sync(&["--detailed-exitcode"]).await;
    assert_eq!(
        (report["modified"].as_u64(), report["unchanged"].as_u64()),
        (Some(0), Some(80))
    );
    assert!(drift(&env, &[]).await.is_empty());
    // The latest telemetry and order are stored all the same.
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
}

async fn removal_and_return_show_in_history_and_failed_runs_remove_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 33).await;
    env.sync(&["--page-size", "6"]).await;
    let full = env.sim.state.inventory();
    let gone = full[5].clone();
    let id = gone["id"].as_str().unwrap().to_owned();

    // A failed sweep that missed the connection records nothing.
    let without: Vec<Value> = full
        .iter()
        .filter(|c| c["id"] != id.as_str())
        .cloned()
        .collect();
    env.sim.state.set_inventory(without.clone());
    env.sim.state.set_faults(Faults {
        malformed_page: Some(3),
        ..Faults::default()
    });
    let failed = env
        .run(&["sync", "--page-size", "6", "--detailed-exitcode"])
        .await;
    assert_eq!(failed.code, Some(1));
    env.sim.state.set_faults(Faults::default());
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let failed_run = runs[0]["run_id"].to_string();
    let failed_drift = env.run(&["drift", "--run", &failed_run]).await;
    assert_eq!(failed_drift.code, Some(1));
    assert!(
        failed_drift.stderr.contains("recorded no changes"),
        "{}",
        failed_drift.stderr
    );
    let err = env.run(&["export", "--as-of", &failed_run]).await;
    assert!(
        err.code == Some(1) && err.stderr.contains("is failed"),
        "{}",
        err.stderr
    );

    let removed = env
        .run(&[
            "sync",
            "--output",
            "json",
            "--page-size",
            "6",
            "--detailed-exitcode",
        ])
        .await;
    assert_eq!(removed.code, Some(2), "{}", removed.stderr);
    assert_eq!(removed.json()["removed"], 1);
    env.sim.state.set_inventory(full.clone());
    let back = env.sync(&["--page-size", "6"]).await;
    assert_eq!(back["added"], 1);
    let unchanged = env.run(&["sync", "--detailed-exitcode"]).await;
    assert_eq!(unchanged.code, Some(0));

    let history = env.run(&["history", &id, "--format", "json"]).await.json();
    let changes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["added", "removed", "added"]);
    assert_eq!(history[1]["connection_name"], gone["name"]);
    let table = env.run(&["history", &id]).await;
    assert_eq!(
        table.assert_ok().stdout.lines().count(),
        4,
        "{}",
        table.stdout
    );
}

async fn export_as_of_rebuilds_every_past_run(backend: Backend) {
    let env = TestEnv::generated(backend, 40, 34).await;
    let mut snapshots = Vec::new();
    let mut served = env.sim.state.inventory();
    for round in 0..4 {
        if round > 0 {
            served.remove(round * 3);
            served[round]["name"] = json!(format!("renamed-{round}"));
            served[round + 10]["bgp_peer"] = json!({"peer_asn": 4294967295u64, "state": "Idle"});
            env.sim.state.set_inventory(served.clone());
        }
        let report = env.sync(&[]).await;
        snapshots.push((report["run_id"].to_string(), env.sim.state.inventory()));
    }
    for (run, snapshot) in &snapshots {
        let past = env.run(&["export", "--as-of", run]).await.json();
        assert_same_connections(
            &sorted_by_id(past.as_array().unwrap().clone()),
            &expected_export(snapshot),
        );
    }
    // A time right now means the latest run; a time before any run means nothing.
    let now = chrono::Utc::now().to_rfc3339();
    assert_eq!(
        env.run(&["export", "--as-of", &now])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        37
    );
    assert_eq!(
        env.run(&["export", "--as-of", "2001-01-01T00:00:00Z"])
            .await
            .stdout
            .trim(),
        "[]"
    );
    // Every time `drift --since` takes: now, a date, a time ago.
    let count = |as_of: &'static str| {
        let env = &env;
        async move {
            let export = env.run(&["export", "--as-of", as_of]).await;
            export.assert_ok().json().as_array().unwrap().len()
        }
    };
    assert_eq!(count("now").await, 37);
    assert_eq!(count("2999-01-01").await, 37);
    assert_eq!(count("2001-01-01").await, 0);
    assert_eq!(count("1d").await, 0);
    let wrong = env.run(&["export", "--as-of", "yesterday"]).await;
    assert_eq!(wrong.code, Some(64), "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("a time ago (24h, 7d"),
        "{}",
        wrong.stderr
    );
    let since = env
        .run(&[
            "drift",
            "--since",
            "2001-01-01T00:00:00Z",
            "--include-baseline",
            "--format",
            "json",
        ])
        .await
        .json();
    assert!(since.as_array().unwrap().len() >= 40 + 3 + 3 + 3);
}

async fn overlapping_scopes_record_each_change_once(backend: Backend) {
    let env = TestEnv::generated(backend, 120, 35).await;
    let served = env.sim.state.inventory();
    let gateway = served[0]["vgw_id"].as_str().unwrap().to_owned();
    let of_gateway = served
        .iter()
        .filter(|c| c["vgw_id"] == gateway.as_str())
        .count();
    let filtered = env.sync(&["--vgw-id", &gateway]).await;
    assert_eq!(filtered["added"].as_u64(), Some(of_gateway as u64));
    // One inventory per project: the project-wide scope's first run adds only the rest.
    let all = env.sync(&[]).await;
    assert_eq!(all["added"].as_u64(), Some(120 - of_gateway as u64));
    assert_eq!(all["unchanged"].as_u64(), Some(of_gateway as u64));

    // Drop one connection of the gateway and one of another: the filtered scope removes only its
    // own.
    let other = served
        .iter()
        .find(|c| c["vgw_id"] != gateway.as_str())
        .unwrap()["id"]
        .clone();
    let mine = served
        .iter()
        .find(|c| c["vgw_id"] == gateway.as_str())
        .unwrap()["id"]
        .clone();
    let mut next = served.clone();
    next.retain(|c| c["id"] != other && c["id"] != mine);
    let changed = next
        .iter_mut()
        .find(|c| c["vgw_id"] == gateway.as_str())
        .unwrap();
    changed["name"] = json!("gw-renamed");
    let changed_id = changed["id"].clone();
    env.sim.state.set_inventory(next);
    let filtered = env.sync(&["--vgw-id", &gateway]).await;
    assert_eq!(
        (filtered["removed"].as_u64(), filtered["modified"].as_u64()),
        (Some(1), Some(1))
    );
    let records = drift(&env, &[]).await;
    assert_eq!(
        summary(&records)
            .into_iter()
            .map(|r| (r.0, r.1))
            .collect::<Vec<_>>(),
        {
            let mut v = vec![
                (
                    changed_id.as_str().unwrap().to_owned(),
                    "modified".to_owned(),
                ),
                (mine.as_str().unwrap().to_owned(), "removed".to_owned()),
            ];
            v.sort_by_key(|r| format!("{r:?}"));
            v
        }
    );
    // The project-wide scope then finds the other removal; the filtered scope recorded its
    // removal and the rename already, so they are not recorded again.
    let all = env.sync(&[]).await;
    assert_eq!(
        (all["removed"].as_u64(), all["modified"].as_u64()),
        (Some(1), Some(0))
    );
    let history = env
        .run(&["history", mine.as_str().unwrap(), "--format", "json"])
        .await
        .json();
    let changes: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["added", "removed"]);
}
