//! Many projects in one inventory (issue 24): a configuration of three targets over two
//! projects, one project also synced by a gateway-filtered target, in one `sync --all`. Every
//! change and run says its project and target, `--project` and `--target` narrow `drift`,
//! `history`, `runs` and `status`, runs group under their sync in apply order, and the
//! default `runs` and `status` tables fit in 120 columns.

use crate::support::{Backend, TestEnv, target_toml};
use serde_json::Value;
use std::collections::BTreeSet;
use vpn_simulator::server::{SimConfig, generated_inventory};

backend_tests!(every_answer_says_which_project_and_target);

/// The second project: another 32-hex id, served by a simulator of its own.
const SOUTH: &str = "fedcba9876543210fedcba9876543210";

/// The test's environment, the second project's simulator, and the configuration file.
struct TwoProjects {
    env: TestEnv,
    south: vpn_simulator::RunningSimulator,
    gateway: String,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TwoProjects {
    async fn new(backend: Backend) -> Self {
        let env = TestEnv::generated(backend, 24, 71).await;
        let south_config = SimConfig {
            project_id: SOUTH.into(),
            ..SimConfig::default()
        };
        let south = vpn_simulator::spawn(
            ([127, 0, 0, 1], 0).into(),
            south_config,
            generated_inventory(16, 72),
        )
        .await
        .expect("the second simulator starts");
        let gateway = env.first_gateway();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let north = (&env.config.project_id, env.sim.endpoint());
        let filter = format!("vgw_id = \"{gateway}\"");
        let text = [
            target_toml("prod-north", north.0, &north.1, &[]),
            target_toml("prod-north-gw", north.0, &north.1, &[&filter]),
            target_toml("prod-south", SOUTH, &south.endpoint(), &[]),
        ]
        .concat();
        std::fs::write(&config, text).unwrap();
        Self {
            env,
            south,
            gateway,
            config,
            _dir: dir,
        }
    }

    /// The binary with the configuration and the simulators' keys.
    async fn run(&self, args: &[&str]) -> crate::support::Run {
        self.run_with_secret(args, &self.env.config.secret_key)
            .await
    }

    /// [`TwoProjects::run`] with another secret key.
    async fn run_with_secret(&self, args: &[&str], secret_key: &str) -> crate::support::Run {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut cmd = self.env.command(&all);
        cmd.env("SIM_AK", &self.env.config.access_key)
            .env("SIM_SK", secret_key);
        self.env.run_cmd(cmd).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        self.run(&all).await.assert_ok().json()
    }

    async fn stdout(&self, args: &[&str]) -> String {
        self.run(args).await.assert_ok().stdout.clone()
    }
}

fn items(value: &Value) -> &Vec<Value> {
    value.as_array().expect("an array")
}

/// (project_id, target) of each record or run.
fn places(rows: &[Value]) -> BTreeSet<(String, String)> {
    rows.iter()
        .map(|r| (r["project_id"].to_string(), r["target"].to_string()))
        .collect()
}

#[track_caller]
fn assert_fits_a_screen(table: &str) {
    for line in table.lines() {
        assert!(line.chars().count() <= 120, "{} wide:\n{table}", line.len());
    }
}

async fn every_answer_says_which_project_and_target(backend: Backend) {
    let t = TwoProjects::new(backend).await;
    let north = t.env.config.project_id.clone();
    t.run(&["sync", "--all"]).await.assert_ok();
    assert!(!t.env.sim.state.mutate(3, 5).is_empty());
    assert!(!t.south.state.mutate(3, 6).is_empty());
    t.run(&["sync", "--all"]).await.assert_ok();

    // runs: six runs, the second sync's three under one sync id, applied 1st to 3rd.
    let runs = t.json(&["runs"]).await;
    let runs = items(&runs);
    assert_eq!(runs.len(), 6, "{runs:?}");
    let sync = runs[0]["sync_id"].clone();
    let latest: Vec<&Value> = runs.iter().filter(|r| r["sync_id"] == sync).collect();
    assert_eq!(latest.len(), 3, "{runs:?}");
    let mut order: Vec<(i64, i64)> = latest
        .iter()
        .map(|r| {
            let seq = r["apply_seq"].as_i64().unwrap();
            (r["apply_order"].as_i64().unwrap(), seq)
        })
        .collect();
    order.sort_unstable();
    assert_eq!(order.iter().map(|o| o.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(order.windows(2).all(|w| w[0].1 < w[1].1), "{order:?}");
    let target_of_run = |run: &Value| -> (String, String) {
        let r = runs
            .iter()
            .find(|r| r["run_id"] == *run)
            .expect("a listed run");
        assert_eq!(r["project_id"], r["scope"]["project_id"], "{r}");
        assert!(r["region"].is_string() || r["region"].is_null(), "{r}");
        (r["project_id"].to_string(), r["target"].to_string())
    };
    let expected: BTreeSet<(String, String)> = [
        (&north, "prod-north"),
        (&north, "prod-north-gw"),
        (&SOUTH.to_owned(), "prod-south"),
    ]
    .iter()
    .map(|(p, t)| (Value::from(p.as_str()).to_string(), format!("\"{t}\"")))
    .collect();
    assert_eq!(places(runs), expected);

    // drift: every change of the latest sync, each with its run's project and target.
    let drift = t.json(&["drift"]).await;
    let drift = items(&drift);
    let mut of_sync = Vec::new();
    for run in &latest {
        let id = run["run_id"].to_string();
        of_sync.extend(items(&t.json(&["drift", "--run", &id]).await).clone());
    }
    let key = |r: &Value| {
        format!(
            "{} {} {} {}",
            r["run_id"], r["connection_id"], r["change"], r["field"]
        )
    };
    let mut keys: Vec<String> = drift.iter().map(key).collect();
    let mut expected_keys: Vec<String> = of_sync.iter().map(key).collect();
    keys.sort();
    expected_keys.sort();
    assert_eq!(keys, expected_keys);
    for record in drift {
        assert_eq!(
            (
                record["project_id"].to_string(),
                record["target"].to_string()
            ),
            target_of_run(&record["run_id"]),
            "{record}"
        );
    }
    let projects: BTreeSet<&str> = drift
        .iter()
        .map(|r| r["project_id"].as_str().unwrap())
        .collect();
    assert_eq!(projects, BTreeSet::from([north.as_str(), SOUTH]));
    let table = t.stdout(&["drift"]).await;
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("PROJECT") && header.contains("TARGET"),
        "{table}"
    );
    assert!(table.contains("fedcba98  prod-south"), "{table}");
    let csv = t.stdout(&["drift", "--format", "csv"]).await;
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains(",project_id,target,changed_by,"),
        "{csv}"
    );
    assert!(csv.contains(&format!("{SOUTH},prod-south")), "{csv}");

    // --project and --target narrow drift, alone, together and with --sync or --run.
    let south_only: Vec<&Value> = drift.iter().filter(|r| r["project_id"] == SOUTH).collect();
    for args in [
        &["drift", "--project", SOUTH][..],
        &["drift", "--project", "fedcba98"],
        &["drift", "--target", "prod-south"],
        &["drift", "--project", SOUTH, "--target", "prod-south"],
        &[
            "drift",
            "--target",
            "prod-south",
            "--sync",
            &sync.to_string(),
        ],
        &["drift", "--target", "prod-south", "--since", "1h"],
    ] {
        let narrowed = t.json(args).await;
        assert_eq!(
            items(&narrowed).iter().collect::<Vec<_>>(),
            south_only,
            "{args:?}"
        );
    }
    let gateway_run = latest
        .iter()
        .find(|r| r["target"] == "prod-north-gw")
        .unwrap();
    let none = t
        .json(&[
            "drift",
            "--project",
            SOUTH,
            "--run",
            &gateway_run["run_id"].to_string(),
        ])
        .await;
    assert_eq!(none, Value::Array(Vec::new()));
    let unknown = t.run(&["drift", "--target", "prod-west"]).await;
    assert_eq!(
        unknown.code,
        Some(64),
        "a usage mistake: {}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("--target prod-west")
            && unknown
                .stderr
                .contains("prod-north, prod-north-gw, prod-south"),
        "{}",
        unknown.stderr
    );
    let unknown = t.run(&["runs", "--project", "99"]).await;
    assert_eq!(unknown.code, Some(64), "{}", unknown.stderr);
    assert!(unknown.stderr.contains(SOUTH), "{}", unknown.stderr);

    // history: a south connection's records name its project and target; other projects'
    // and targets' filters leave none.
    let connection = south_only[0]["connection_id"].as_str().unwrap();
    let history = t.json(&["history", connection]).await;
    assert!(!items(&history).is_empty());
    assert!(
        items(&history)
            .iter()
            .all(|r| r["project_id"] == SOUTH && r["target"] == "prod-south"),
        "{history}"
    );
    let narrowed = t
        .json(&["history", connection, "--target", "prod-south"])
        .await;
    assert_eq!(narrowed, history);
    let elsewhere = t.json(&["history", connection, "--project", &north]).await;
    assert_eq!(elsewhere, Value::Array(Vec::new()));
    let elsewhere = t
        .run(&["history", connection, "--target", "prod-north"])
        .await;
    assert_eq!(elsewhere.code, Some(1));
    assert!(
        elsewhere.stderr.contains("--project or --target"),
        "{}",
        elsewhere.stderr
    );

    // runs: narrowed by project, target and sync.
    let of = |rows: &Value| {
        items(rows)
            .iter()
            .map(|r| r["run_id"].clone())
            .collect::<Vec<_>>()
    };
    let south_runs = t.json(&["runs", "--project", SOUTH]).await;
    assert_eq!(places(items(&south_runs)).len(), 1);
    assert_eq!(items(&south_runs).len(), 2);
    assert_eq!(
        of(&t.json(&["runs", "--target", "prod-south"]).await),
        of(&south_runs)
    );
    let gateway_runs = t.json(&["runs", "--target", "prod-north-gw"]).await;
    assert_eq!(items(&gateway_runs).len(), 2);
    let north_runs = t.json(&["runs", "--project", &north]).await;
    assert_eq!(items(&north_runs).len(), 4);
    let sync_runs = t.json(&["runs", "--sync", &sync.to_string()]).await;
    assert_eq!(items(&sync_runs).len(), 3);
    let missing = t.run(&["runs", "--sync", "99"]).await;
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("there is no sync 99"),
        "{}",
        missing.stderr
    );

    // The runs table: sync, apply order, target and project in 120 columns; the scope in
    // full under --wide.
    let table = t.stdout(&["runs"]).await;
    assert_fits_a_screen(&table);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header[..5],
        ["SYNC", "RUN", "APPLIED", "STATUS", "TARGET"],
        "{table}"
    );
    assert!(table.contains("1st") && table.contains("3rd"), "{table}");
    assert!(
        table.contains("prod-north-gw") && table.contains("fedcba98"),
        "{table}"
    );
    assert!(!table.contains("vgw_id="), "{table}");
    let wide = t.stdout(&["runs", "--wide"]).await;
    let scope = format!("{north}@{} vgw_id={}", t.env.sim.endpoint(), t.gateway);
    assert!(wide.contains(&scope), "{wide}");

    // status: each scope with its project and targets; narrowed; 120 columns.
    let status = t.json(&["status"]).await;
    let scopes = items(&status["scopes"]);
    assert_eq!(scopes.len(), 3, "{status}");
    for scope in scopes {
        assert_eq!(scope["project_id"], scope["scope"]["project_id"], "{scope}");
        assert_eq!(items(&scope["targets"]).len(), 1, "{scope}");
    }
    let gateway_scope = t.json(&["status", "--target", "prod-north-gw"]).await;
    let gateway_scope = items(&gateway_scope["scopes"]);
    assert_eq!(gateway_scope.len(), 1);
    assert_eq!(gateway_scope[0]["scope"]["vgw_id"], t.gateway.as_str());
    let north_scopes = t.json(&["status", "--project", &north]).await;
    assert_eq!(items(&north_scopes["scopes"]).len(), 2);
    let table = t.stdout(&["status"]).await;
    assert_fits_a_screen(&table);
    assert!(
        table.contains("PROJECT") && table.contains("prod-south"),
        "{table}"
    );
    assert!(
        table.contains(&format!("vgw_id={}…", &t.gateway[..8])),
        "{table}"
    );
    let wide = t.stdout(&["status", "--wide"]).await;
    assert!(wide.contains(&format!("vgw_id={}", t.gateway)), "{wide}");

    // A later sync of one target: plain `drift` answers for it, `drift --target` for the
    // latest sync that ran the target named.
    assert!(!t.env.sim.state.mutate(1, 7).is_empty());
    t.run(&["sync", "prod-north"]).await.assert_ok();
    let latest = t.json(&["drift"]).await;
    assert!(!items(&latest).is_empty());
    assert!(
        items(&latest).iter().all(|r| r["target"] == "prod-north"),
        "{latest}"
    );
    let south_latest = t.json(&["drift", "--target", "prod-south"]).await;
    assert_eq!(items(&south_latest).iter().collect::<Vec<_>>(), south_only);
    let south_latest = t.json(&["drift", "--project", SOUTH]).await;
    assert_eq!(items(&south_latest).iter().collect::<Vec<_>>(), south_only);

    // A failed run's long error is clipped to the screen in the default tables, whole in
    // --wide.
    let failed = t
        .run_with_secret(&["sync", "prod-south"], "a-wrong-secret-key")
        .await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    let runs = t.json(&["runs", "--limit", "1"]).await;
    let error = items(&runs)[0]["error"]
        .as_str()
        .expect("an error")
        .to_owned();
    for args in [&["runs"][..], &["status"]] {
        let table = t.stdout(args).await;
        assert_fits_a_screen(&table);
        assert!(table.contains('…') && !table.contains(&error), "{table}");
    }
    assert!(t.stdout(&["runs", "--wide"]).await.contains(&error));
    assert!(t.stdout(&["status", "--wide"]).await.contains(&error));
}
