//! Several hosts running the same `sync --all` against one database share the work: a target
//! another process is syncing is skipped, not waited for, and one synced less than
//! `--min-interval` ago is not synced again.

use crate::support::{Backend, Run, TestEnv, target_toml};
use serde_json::Value;
use std::collections::BTreeMap;
use vpn_inventory::api::filters::Filters;
use vpn_inventory::scope::Scope;
use vpn_inventory::store::{DatabaseUrl, Store};

backend_tests!(
    a_target_being_synced_elsewhere_is_skipped_not_waited_for,
    two_processes_share_the_targets_and_sync_each_once,
    the_exit_code_and_summary_of_a_sync_agree_with_its_drift,
);

/// A configuration of three targets of one project: all of it, and two of its gateways.
struct Shared {
    env: TestEnv,
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    gateways: [String; 2],
}

impl Shared {
    async fn new(backend: Backend) -> Self {
        let env = TestEnv::generated(backend, 30, 71).await;
        let mut gateways: Vec<String> = env
            .sim
            .state
            .inventory()
            .iter()
            .filter_map(|c| c["vgw_id"].as_str().map(str::to_owned))
            .collect();
        gateways.sort();
        gateways.dedup();
        assert!(gateways.len() >= 2, "the inventory has two gateways");
        let gateways = [gateways[0].clone(), gateways[1].clone()];
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let (project, endpoint) = (&env.config.project_id, env.sim.endpoint());
        let [east, west] = gateways.clone().map(|g| format!("vgw_id = \"{g}\""));
        let text = [
            target_toml("whole", project, &endpoint, &[]),
            target_toml("east", project, &endpoint, &[&east]),
            target_toml("west", project, &endpoint, &[&west]),
        ]
        .concat();
        std::fs::write(&config, text).unwrap();
        Self {
            env,
            _dir: dir,
            config,
            gateways,
        }
    }

    async fn sync_all(&self, extra: &[&str]) -> Run {
        let config = self.config.to_str().unwrap();
        let mut args = vec!["--config", config, "sync", "--all", "--format", "json"];
        args.extend_from_slice(extra);
        let mut cmd = self.env.command(&args);
        cmd.env("SIM_AK", &self.env.config.access_key)
            .env("SIM_SK", &self.env.config.secret_key);
        self.env.run_cmd(cmd).await
    }

    /// The scope the target synced for `gateway` covers, as the configuration builds it.
    fn gateway_scope(&self, gateway: &str) -> Scope {
        let filters = Filters {
            vgw_id: Some(gateway.to_owned()),
            ..Filters::default()
        };
        let project = &self.env.config.project_id;
        Scope::new(&self.env.sim.endpoint(), None, project, filters)
    }

    async fn store(&self) -> Store {
        let url = DatabaseUrl::parse(&self.env.database_url()).unwrap();
        Store::open(&url).await.unwrap()
    }
}

/// Each target's record in the summary of a `sync --all --format json` that succeeded
/// (exit 0, or 2 with `--detailed-exitcode`).
fn outcomes(run: &Run) -> BTreeMap<String, Value> {
    assert!(matches!(run.code, Some(0 | 2)), "{}", run.stderr);
    let summary = run.json();
    let records = summary.as_array().expect("one record per target");
    records
        .iter()
        .map(|r| (r["target"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

fn statuses(outcomes: &BTreeMap<String, Value>) -> BTreeMap<&str, &str> {
    outcomes
        .iter()
        .map(|(name, r)| (name.as_str(), r["status"].as_str().unwrap()))
        .collect()
}

async fn a_target_being_synced_elsewhere_is_skipped_not_waited_for(backend: Backend) {
    let shared = Shared::new(backend).await;
    // Another host holds the east target's lock, as its sync does while it runs. The lock
    // wait is long: a skipped target must not wait for it.
    let store = shared.store().await;
    let east = shared.gateway_scope(&shared.gateways[0]);
    let held = store
        .lock_scope(&east, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let run = shared.sync_all(&["--lock-timeout", "1h"]).await;
    let first = outcomes(&run);
    assert_eq!(
        statuses(&first),
        BTreeMap::from([
            ("east", "skipped"),
            ("west", "complete"),
            ("whole", "complete")
        ]),
        "{}",
        run.stdout
    );
    let reason = first["east"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("another process is syncing it now"),
        "{reason}"
    );
    held.release().await;

    // The other two completed just now: under --min-interval they are left alone, and east,
    // free and never synced, runs.
    let run = shared.sync_all(&["--min-interval", "1h"]).await;
    let second = outcomes(&run);
    assert_eq!(
        statuses(&second),
        BTreeMap::from([
            ("east", "complete"),
            ("west", "skipped"),
            ("whole", "skipped")
        ]),
        "{}",
        run.stdout
    );
    let reason = second["whole"]["reason"].as_str().unwrap();
    let whole_run = &first["whole"]["run_id"];
    assert!(
        reason.contains(&format!("run {whole_run}")) && reason.contains("--min-interval 1h"),
        "{reason}"
    );
    assert_eq!(second["whole"]["run_id"], *whole_run);
    // Without --min-interval every free target runs again.
    let third = outcomes(&shared.sync_all(&[]).await);
    assert!(
        statuses(&third).values().all(|s| *s == "complete"),
        "{third:?}"
    );
    // A sync from flags has no targets to skip: --min-interval there is a usage mistake.
    let flags = shared.env.run(&["sync", "--min-interval", "1h"]).await;
    assert_eq!(flags.code, Some(64), "{}", flags.stderr);
    assert!(
        flags
            .stderr
            .contains("--min-interval applies to configured targets"),
        "{}",
        flags.stderr
    );
    store.close().await;
}

async fn two_processes_share_the_targets_and_sync_each_once(backend: Backend) {
    let shared = Shared::new(backend).await;
    let args = ["--min-interval", "1h", "--concurrency", "1"];
    let (one, two) = tokio::join!(shared.sync_all(&args), shared.sync_all(&args));
    let (one, two) = (outcomes(&one), outcomes(&two));
    for target in ["whole", "east", "west"] {
        let mut seen = [
            one[target]["status"].as_str(),
            two[target]["status"].as_str(),
        ];
        seen.sort();
        assert_eq!(
            seen,
            [Some("complete"), Some("skipped")],
            "{target}: {one:?} {two:?}"
        );
    }
    // Three runs in all, each of one of the two syncs.
    let runs = shared.env.run(&["runs", "--format", "json"]).await.json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs.iter().all(|r| r["status"] == "complete"), "{runs:?}");
    assert_eq!(shared.env.export().await.len(), 30);
}

async fn the_exit_code_and_summary_of_a_sync_agree_with_its_drift(backend: Backend) {
    let shared = Shared::new(backend).await;
    // The first sync is every target's baseline: no change, exit 0, and no drift.
    let first = shared.sync_all(&["--detailed-exitcode"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let first = outcomes(&first);
    assert!(first.values().any(|r| r["baseline"] == true), "{first:?}");
    let drift = shared.env.run(&["drift", "--format", "json"]).await;
    assert_eq!(drift.assert_ok().json(), serde_json::json!([]));
    assert!(
        drift.stderr.contains("--include-baseline"),
        "{}",
        drift.stderr
    );

    shared.env.sim.state.mutate(6, 9);
    let second = shared.sync_all(&["--detailed-exitcode"]).await;
    assert_eq!(second.code, Some(2), "{}", second.stderr);
    let second = outcomes(&second);
    let sync_ids: std::collections::BTreeSet<i64> = second
        .values()
        .map(|r| r["sync_id"].as_i64().unwrap())
        .collect();
    assert_eq!(sync_ids.len(), 1, "one sync: {second:?}");
    // drift shows that sync: every run's records, and as many as the runs reported.
    let records = shared.env.run(&["drift", "--format", "json"]).await.json();
    let records = records.as_array().unwrap();
    let connections_changed = |run: &Value| {
        let mut ids: Vec<&str> = records
            .iter()
            .filter(|r| r["run_id"] == run["run_id"])
            .map(|r| r["connection_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        i64::try_from(ids.len()).unwrap()
    };
    for (target, run) in &second {
        let reported = ["added", "removed", "modified"].map(|k| run[k].as_i64().unwrap());
        assert_eq!(
            connections_changed(run),
            reported.iter().sum::<i64>(),
            "{target}: {run}"
        );
    }
    assert!(!records.is_empty());
    let by_sync = ["drift", "--sync", &sync_ids.first().unwrap().to_string()];
    let by_sync = [&by_sync[..], &["--format", "json"]].concat();
    assert_eq!(
        shared.env.run(&by_sync).await.json().as_array(),
        Some(records)
    );
}
