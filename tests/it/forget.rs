//! `forget-scope`: a scope leaves `status` with its staging and membership rows; the
//! project's inventory, versions, change records and runs stay.

use crate::support::{Backend, TestEnv};
use serde_json::Value;
use std::time::Duration;
use vpn_inventory::scope::{Filters, Scope};
use vpn_inventory::store::{DatabaseUrl, Store};

backend_tests!(
    forgetting_a_scope_keeps_the_inventory_and_history,
    forget_scope_refuses_while_a_sync_of_the_scope_runs,
);

/// Counts of what the project's inventory holds, which forgetting a scope must not change.
const KEPT: [&str; 4] = [
    "SELECT COUNT(*) FROM connections",
    "SELECT COUNT(*) FROM connection_versions",
    "SELECT COUNT(*) FROM change_records",
    "SELECT COUNT(*) FROM sync_runs",
];

async fn forgetting_a_scope_keeps_the_inventory_and_history(backend: Backend) {
    let env = TestEnv::generated(backend, 30, 21).await;
    let project = env.config.project_id.clone();
    let gateway = env.first_gateway();
    env.sync(&[]).await;
    env.sim.state.mutate(3, 8);
    env.sync(&[]).await;
    env.sync(&["--vgw-id", &gateway]).await;
    // A failed run of the whole project keeps its staged pages for `sync --resume`.
    env.sim.state.set_faults(vpn_simulator::Faults {
        error_page: Some((
            3,
            403,
            serde_json::json!({"code": "VPN.0003", "message": "no"}),
        )),
        ..vpn_simulator::Faults::default()
    });
    assert_eq!(env.run(&["sync", "--page-size", "5"]).await.code, Some(1));
    env.sim.state.set_faults(vpn_simulator::Faults::default());
    let db = env.db().await;
    let staged = "SELECT COUNT(*) FROM staged_connections";
    assert!(db.scalar(staged).await > 0);
    let members = "SELECT COUNT(*) FROM scope_connections";
    let whole_members = db
        .scalar(
            "SELECT COUNT(*) FROM scope_connections c JOIN scopes s ON s.id = c.scope_id
             WHERE s.vgw_id IS NULL",
        )
        .await;
    // Only the filtered scope keeps what it returned: the whole project's selection is its
    // inventory.
    assert_eq!(whole_members, 0);
    let gateway_members = db.scalar(members).await;
    assert!(gateway_members > 0);
    let mut kept = Vec::new();
    for sql in KEPT {
        kept.push(db.scalar(sql).await);
    }
    let before = env.inventory_fingerprint().await;

    let forgot = env
        .run(&["forget-scope", &project, "--format", "json"])
        .await
        .json();
    assert_eq!(forgot["memberships"], whole_members, "{forgot}");
    assert!(forgot["staged_rows"].as_u64().unwrap() > 0, "{forgot}");
    assert_eq!(forgot["runs_kept"], 3, "{forgot}");
    assert_eq!(db.scalar(staged).await, 0);
    assert_eq!(
        db.scalar(members).await,
        gateway_members,
        "the other scope's stay"
    );
    for (sql, count) in KEPT.iter().zip(&kept) {
        assert_eq!(db.scalar(sql).await, *count, "{sql}");
    }
    assert_eq!(env.inventory_fingerprint().await, before);
    let status = env.run(&["status", "--format", "json"]).await.json();
    let scopes = status["scopes"].as_array().unwrap();
    assert_eq!(scopes.len(), 1, "{status}");
    assert_eq!(scopes[0]["scope"]["vgw_id"], gateway.as_str());
    // History still names the forgotten scope's runs.
    let drift = env.run(&["drift", "--run", "2", "--format", "json"]).await;
    assert!(!drift.assert_ok().json().as_array().unwrap().is_empty());

    // Nor do the metrics, written after any sync.
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("vpn.prom");
    let path = metrics.to_str().unwrap();
    env.sync(&["--vgw-id", &gateway, "--metrics-file", path])
        .await;
    let metrics = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        metrics.contains(&format!("vgw_id=\"{gateway}\"")),
        "{metrics}"
    );
    assert!(!metrics.contains("vgw_id=\"\""), "{metrics}");

    let again = env.run(&["forget-scope", &project]).await;
    assert_eq!(again.code, Some(1));
    assert!(again.stderr.contains("no scope"), "{}", again.stderr);

    // Synced again, the scope is back with only its new runs; nothing was lost to re-add.
    let next = env.sync(&[]).await;
    assert_eq!(
        (&next["added"], &next["removed"]),
        (&Value::from(0), &Value::from(0))
    );
    let status = env.run(&["status", "--format", "json"]).await.json();
    let whole = status["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"].get("vgw_id").is_none())
        .expect("the scope is listed again")
        .clone();
    assert_eq!(whole["last_complete"]["run_id"], next["run_id"]);
    assert_eq!(whole["last_failed"], Value::Null, "{whole}");
    assert_eq!(db.scalar(members).await, gateway_members + whole_members);
    db.close().await;
}

async fn forget_scope_refuses_while_a_sync_of_the_scope_runs(backend: Backend) {
    let env = TestEnv::generated(backend, 5, 22).await;
    let gateway = env.first_gateway();
    env.sync(&["--vgw-id", &gateway]).await;
    let project = env.config.project_id.clone();
    let url = DatabaseUrl::parse(&env.database_url()).expect("database URL");
    let store = Store::open(&url).await.expect("open the inventory");
    // A sync of the scope holds its lock for the whole run.
    let filters = Filters {
        vgw_id: Some(gateway.clone()),
        ..Filters::default()
    };
    let scope = Scope::new(&env.sim.endpoint(), None, &project, filters);
    let running = store
        .lock_scope(&scope, Duration::ZERO)
        .await
        .expect("the scope's lock");
    let named = format!("{project} vgw_id={gateway}");
    let refused = env.run(&["forget-scope", &named]).await;
    assert_eq!(refused.code, Some(1));
    assert!(refused.stderr.contains("is running"), "{}", refused.stderr);
    let db = env.db().await;
    let returned = "SELECT COUNT(*) FROM scope_connections";
    assert!(db.scalar(returned).await > 0);
    assert_eq!(
        db.scalar(returned).await,
        db.scalar("SELECT COUNT(*) FROM connections").await
    );
    running.release().await;
    env.run(&["forget-scope", &named]).await.assert_ok();
    assert_eq!(db.scalar("SELECT COUNT(*) FROM scope_connections").await, 0);
    db.close().await;
    store.close().await;
}
