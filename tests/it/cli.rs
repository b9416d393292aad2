//! The command line itself: required settings, tokens, runs, migrate, demo.

use crate::support::{Backend, TestEnv, latest_schema_version};
use serde_json::Value;

backend_tests!(
    iam_token_authenticates_and_a_wrong_one_is_refused,
    runs_lists_counts_and_migrate_is_idempotent,
    demo_syncs_the_built_in_simulator_twice_and_finds_drift,
    simulate_subcommand_serves_what_sync_stores,
    status_shows_each_scopes_latest_runs,
    prune_drops_leftovers_and_old_history_but_never_the_inventory,
);

#[tokio::test]
async fn config_check_resolves_targets_and_names_what_is_wrong() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = format!(
        r#"
        [[targets]]
        name = "sim"
        project_id = "{project}"
        endpoint = "{endpoint}"
        vgw_id = "gw-1"
        credentials = {{ ak_env = "SIM_AK", sk_env = "SIM_SK" }}

        [[targets]]
        name = "broken"
        project_id = "p"
        endpoint = "http://user:pw@127.0.0.1:1"
        credentials = {{ ak_env = "MISSING_AK", sk_env = "MISSING_SK" }}
        "#,
        project = env.config.project_id,
        endpoint = env.sim.endpoint(),
    );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let mut cmd = env.command(&["--config", config, "config", "check", "--format", "json"]);
    cmd.env("SIM_AK", &env.config.access_key)
        .env("SIM_SK", &env.config.secret_key);
    let run = env.run_cmd(cmd).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        !run.stdout.contains(&env.config.secret_key),
        "{}",
        run.stdout
    );
    let checked = run.json();
    assert_eq!(checked["ok"], false);
    let sim = &checked["targets"][0];
    assert_eq!(sim["resolved_credentials"], "AK/SK");
    assert_eq!(sim["problems"], serde_json::json!([]));
    let broken = checked["targets"][1]["problems"].to_string();
    assert!(broken.contains("user name or password"), "{broken}");
    // The variables as the target names them, not the SDK's it stands in for.
    assert!(broken.contains("set MISSING_AK and MISSING_SK"), "{broken}");
    assert!(!broken.contains("HUAWEICLOUD_SDK_AK"), "{broken}");

    // A file that does not read is shown as TOML points at it, line for line, and a control
    // character in it still cannot drive the terminal.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[targets]]\nname = \"a\\u001b\"\nproject_id = 3 # \u{1b}[31m\n",
    )
    .unwrap();
    let run = env
        .run(&["--config", bad.to_str().unwrap(), "status"])
        .await;
    assert_eq!(run.code, Some(1));
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(lines[0].ends_with("bad.toml:"), "{}", run.stderr);
    assert!(
        lines.iter().any(|l| l.contains("at line 3, column")),
        "{}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l.trim_end().ends_with('^')),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);

    let missing = env
        .run(&["--config", "/nonexistent/config.toml", "status"])
        .await;
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("cannot read configuration"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn missing_settings_name_the_flag_and_variable() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 1).await;
    let mut cmd = env.command(&["sync"]);
    cmd.env_remove("HUAWEICLOUD_SDK_PROJECT_ID");
    let run = env.run_cmd(cmd).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("--project-id") && run.stderr.contains("HUAWEICLOUD_SDK_PROJECT_ID"),
        "{}",
        run.stderr
    );

    // With a configuration, the targets it names are what the user meant.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let targets = "[[targets]]\nname = \"prod-north\"\nproject_id = \"p1\"\nregion = \"r-1\"\n\n\
                   [[targets]]\nname = \"lab\"\nproject_id = \"p2\"\nregion = \"r-1\"\n";
    std::fs::write(&config, targets).unwrap();
    let mut cmd = env.command(&["--config", config.to_str().unwrap(), "sync"]);
    cmd.env_remove("HUAWEICLOUD_SDK_PROJECT_ID");
    let run = env.run_cmd(cmd).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("sync --all")
            && run.stderr.contains("(prod-north, lab)")
            && run.stderr.contains("--project-id"),
        "{}",
        run.stderr
    );

    let mut cmd = env.command(&["sync"]);
    cmd.env_remove("VPN_INVENTORY_ENDPOINT");
    let run = env.run_cmd(cmd).await;
    assert!(
        run.stderr.contains("--region") && run.stderr.contains("--endpoint"),
        "{}",
        run.stderr
    );

    let mut cmd = env.command(&["sync"]);
    cmd.env_remove("HUAWEICLOUD_SDK_SK");
    let run = env.run_cmd(cmd).await;
    assert!(
        run.stderr.contains("HUAWEICLOUD_SDK_SK is not"),
        "{}",
        run.stderr
    );
}

async fn iam_token_authenticates_and_a_wrong_one_is_refused(backend: Backend) {
    let mut env = TestEnv::generated(backend, 0, 1).await;
    let config = vpn_simulator::SimConfig {
        auth_token: Some("good-token".into()),
        ..env.config.clone()
    };
    env.sim = vpn_simulator::spawn(
        ([127, 0, 0, 1], 0).into(),
        config,
        vpn_simulator::server::generated_inventory(5, 2),
    )
    .await
    .unwrap();
    let with_token = |token: &str| {
        let mut cmd = env.command(&["sync", "--format", "json"]);
        cmd.env_remove("HUAWEICLOUD_SDK_AK")
            .env_remove("HUAWEICLOUD_SDK_SK")
            .env("HUAWEICLOUD_AUTH_TOKEN", token);
        cmd
    };
    let run = env.run_cmd(with_token("good-token")).await;
    assert_eq!(run.assert_ok().json()["added"], 5);
    let run = env.run_cmd(with_token("bad-token-value")).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("HTTP 401") && !run.stderr.contains("bad-token-value"),
        "{}",
        run.stderr
    );
}

async fn runs_lists_counts_and_migrate_is_idempotent(backend: Backend) {
    let env = TestEnv::generated(backend, 7, 1).await;
    let run = env.run(&["migrate"]).await;
    assert!(
        run.assert_ok().stdout.contains("applied V22__schema"),
        "{}",
        run.stdout
    );
    let run = env.run(&["migrate"]).await;
    let stdout = &run.assert_ok().stdout;
    let up_to_date = format!("schema version {}, up to date", latest_schema_version());
    assert!(stdout.contains(&up_to_date), "{stdout}");
    env.sync(&[]).await;
    env.sync(&[]).await;
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert_eq!(runs[0]["unchanged"], 7);
    assert_eq!(runs[1]["added"], 7);
    assert_eq!(
        runs[0]["scope"]["project_id"],
        env.config.project_id.as_str()
    );
    let table = env.run(&["runs"]).await;
    assert!(
        table
            .assert_ok()
            .stdout
            .lines()
            .nth(1)
            .unwrap()
            .contains("complete"),
        "{}",
        table.stdout
    );
}

async fn demo_syncs_the_built_in_simulator_twice_and_finds_drift(backend: Backend) {
    let env = TestEnv::generated(backend, 0, 1).await;
    let run = env.run(&["demo", "--connections", "301"]).await;
    let stdout = &run.assert_ok().stdout;
    for line in [
        "target prod-north: run 1 complete: 151 connections",
        "151 added (the scope's baseline)",
        "target prod-south: run 2 complete: 150 connections",
        "name = \"prod-south\"",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    // Two syncs of two projects: each sync's runs share its id.
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["status"] == "complete"));
    let db = env.db().await;
    assert_eq!(
        db.scalar("SELECT COUNT(DISTINCT sync_id) FROM sync_runs")
            .await,
        2
    );
    assert_eq!(
        db.scalar("SELECT COUNT(DISTINCT project_id) FROM connections")
            .await,
        2
    );
    db.close().await;
    let change = |k: &str| {
        runs[..2]
            .iter()
            .map(|r| r[k].as_i64().unwrap())
            .sum::<i64>()
    };
    let changed = ["added", "removed", "modified"].map(change);
    assert!(changed.iter().sum::<i64>() > 0, "{:?}", &runs[..2]);
    // drift shows the whole second sync: both projects' changes.
    let drift = env.run(&["drift", "--format", "json"]).await.json();
    let drift = drift.as_array().unwrap();
    let runs_in_drift: std::collections::BTreeSet<i64> = drift
        .iter()
        .map(|r| r["run_id"].as_i64().unwrap())
        .collect();
    assert_eq!(runs_in_drift, [3, 4].into(), "{drift:?}");
    let expected_len = 301 + changed[0] - changed[1];
    assert_eq!(i64::try_from(env.export().await.len()), Ok(expected_len));
    // A second demo (new simulators on other ports) feeds the same projects' inventories: the
    // fresh simulators serve the 301 unchanged again, and no connection is held twice.
    env.run(&["demo", "--connections", "301"]).await.assert_ok();
    let exported = env.export().await;
    let mut ids: Vec<&str> = exported.iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), exported.len(), "a connection held twice");
    assert_eq!(i64::try_from(ids.len()), Ok(expected_len));
}

async fn simulate_subcommand_serves_what_sync_stores(backend: Backend) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let env = TestEnv::generated(backend, 0, 1).await;
    let mut cmd = env.command(&[
        "simulate",
        "--listen",
        "127.0.0.1:0",
        "--connections",
        "40",
        "--seed",
        "9",
    ]);
    // The simulator takes its keys and project from the same variables as sync.
    let (sk, project) = ("SimulatorSecretFromEnv0001", "fromenvproject42");
    cmd.env("HUAWEICLOUD_SDK_SK", sk)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", project);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next_line().await.unwrap().expect("banner line");
    let details = [
        lines.next_line().await.unwrap(),
        lines.next_line().await.unwrap(),
    ];
    assert!(
        details[0].as_deref().unwrap().contains(project),
        "{details:?}"
    );
    assert!(
        details[1]
            .as_deref()
            .unwrap()
            .contains("from HUAWEICLOUD_SDK_AK"),
        "{details:?}"
    );
    assert!(
        !details.iter().flatten().any(|l| l.contains(sk)),
        "printed the secret key"
    );
    let endpoint = banner
        .split(" at ")
        .nth(1)
        .expect("endpoint in banner")
        .to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{banner}");

    let mut sync = env.command(&["sync", "--format", "json", "--page-size", "15"]);
    sync.env("VPN_INVENTORY_ENDPOINT", &endpoint)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", project);
    let mut wrong_key = env.command(&["sync"]);
    wrong_key
        .env("VPN_INVENTORY_ENDPOINT", &endpoint)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", project);
    assert_eq!(
        env.run_cmd(wrong_key).await.code,
        Some(1),
        "the demo key must not work"
    );
    sync.env("HUAWEICLOUD_SDK_SK", sk);
    assert_eq!(env.run_cmd(sync).await.assert_ok().json()["added"], 40);
    let served = vpn_simulator::server::generated_inventory(40, 9);
    crate::support::assert_same_connections(
        &crate::support::sorted_by_id(env.export().await),
        &crate::support::expected_export(&served),
    );

    // The simulator's mutate control changes what it serves; the next sync finds exactly that.
    let mut applied = Vec::new();
    for _ in 0..10 {
        let body = reqwest::Client::new()
            .post(format!("{endpoint}/_simulator/mutate?rounds=1&seed=3"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let round: serde_json::Value = serde_json::from_slice(&body).unwrap();
        applied = round.as_array().unwrap().clone();
        if !applied.is_empty() {
            break;
        }
    }
    assert!(!applied.is_empty(), "ten rounds without a recorded change");
    let mut sync = env.command(&["sync", "--format", "json"]);
    sync.env("VPN_INVENTORY_ENDPOINT", &endpoint)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", project)
        .env("HUAWEICLOUD_SDK_SK", sk);
    env.run_cmd(sync).await.assert_ok();
    let drift = env.run(&["drift", "--format", "json"]).await.json();
    let keys = |records: &[serde_json::Value]| {
        let mut keys: Vec<String> = records
            .iter()
            .map(|r| {
                let field = &r["field"];
                let (old, new) = (&r["old"], &r["new"]);
                format!("{} {} {field} {old} {new}", r["connection_id"], r["change"])
            })
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(drift.as_array().unwrap()), keys(&applied));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn simulate_latency_delays_every_page() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let env = TestEnv::generated(Backend::Sqlite, 0, 1).await;
    let mut cmd = env.command(&["simulate", "--connections", "25", "--latency-ms", "150"]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next_line().await.unwrap().expect("banner line");
    assert!(banner.contains(", 150 ms per page"), "{banner}");
    let endpoint = banner.split(" at ").nth(1).expect("endpoint in banner");

    let mut sync = env.command(&["sync", "--format", "json", "--page-size", "10"]);
    sync.env("VPN_INVENTORY_ENDPOINT", endpoint);
    let started = std::time::Instant::now();
    let report = env.run_cmd(sync).await.assert_ok().json();
    let took = started.elapsed();
    assert_eq!(report["added"], 25);
    let pages = u32::try_from(report["pages"].as_i64().unwrap()).unwrap();
    assert!(pages >= 3, "{report}");
    assert!(
        took >= std::time::Duration::from_millis(150) * pages,
        "{pages} pages in {took:?}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn version_completions_and_manual_come_from_the_cli_definition() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 2).await;
    let version = env.run(&["--version"]).await;
    let version = &version.assert_ok().stdout;
    assert!(
        version.starts_with(concat!(
            "vpn-inventory ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        )),
        "{version}"
    );
    let schema = format!("schema version {}", latest_schema_version());
    assert!(version.contains(&schema), "{version}");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let script = env.run(&["completions", shell]).await;
        let script = &script.assert_ok().stdout;
        assert!(script.contains("lock-timeout"), "{shell}: {script}");
        if shell != "powershell" {
            // Target and report names come from the binary when completing.
            assert!(script.contains(" __complete "), "{shell}: {script}");
        }
    }
    let names = env.run(&["__complete", "reports"]).await;
    assert!(names.assert_ok().stdout.lines().any(|l| l == "weak-crypto"));
    let page = env.run(&["man"]).await;
    let page = &page.assert_ok().stdout;
    assert!(
        page.contains(".TH vpn-inventory 1") && page.contains("sync"),
        "{page}"
    );
    // The footer names the release alone: the long version overran its other fields.
    let title = page
        .lines()
        .find(|l| l.starts_with(".TH"))
        .expect("a title line");
    let release = concat!("\"vpn-inventory ", env!("CARGO_PKG_VERSION"), "\"");
    assert!(title.trim_end().ends_with(release), "{title}");
    assert!(
        page.contains("schema version"),
        "the VERSION section keeps the long version"
    );
    for section in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES"] {
        assert!(page.contains(section), "{section}: {page}");
    }
    // One page per subcommand, with its own options and the same closing sections.
    let sync = env.run(&["man", "sync"]).await;
    let sync = &sync.assert_ok().stdout;
    assert!(sync.contains(".TH vpn-inventory-sync 1"), "{sync}");
    assert!(
        sync.contains(r"\-\-all") && sync.contains(r"\-\-resume"),
        "{sync}"
    );
    assert!(sync.contains(".SH \"EXIT STATUS\""), "{sync}");
    let unknown = env.run(&["man", "sink"]).await;
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("no subcommand \"sink\""),
        "{}",
        unknown.stderr
    );
}

#[tokio::test]
async fn a_failed_sync_still_prints_one_json_record() {
    let env = TestEnv::generated(Backend::Sqlite, 5, 3).await;
    env.sim.state.set_faults(vpn_simulator::Faults {
        error_page: Some((
            1,
            400,
            serde_json::json!({"code": "VPN.0001", "message": "no"}),
        )),
        ..vpn_simulator::Faults::default()
    });
    let run = env.run(&["sync", "--format", "json"]).await;
    assert_eq!(run.code, Some(1));
    let record = run.json();
    assert_eq!(record["run_id"], 1);
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error_code"], "VPN.0001");
    assert_eq!(record["error_msg"], "no");
    assert!(
        record["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{record}"
    );
    assert!(
        record["error"].as_str().unwrap().contains("page 1"),
        "{record}"
    );
    // Before any run: no run id, still one record.
    let mut cmd = env.command(&["sync", "--format", "json"]);
    cmd.env_remove("HUAWEICLOUD_SDK_PROJECT_ID");
    let early = env.run_cmd(cmd).await.json();
    assert_eq!(
        (early["run_id"].clone(), early["status"].clone()),
        (Value::Null, "failed".into())
    );
}

#[tokio::test]
async fn detailed_exitcode_config_ignores_a_state_flap() {
    let env = TestEnv::generated(Backend::Sqlite, 8, 4).await;
    let exit = |args: &'static [&'static str]| {
        let env = &env;
        async move { env.run(args).await.code }
    };
    assert_eq!(
        exit(&["sync", "--detailed-exitcode=config"]).await,
        Some(0),
        "a first run's adds are its baseline, which is no change"
    );
    let mut served = env.sim.state.inventory();
    let flapped = if served[0]["status"] == "DOWN" {
        "ACTIVE"
    } else {
        "DOWN"
    };
    served[0]["status"] = flapped.into();
    env.sim.state.set_inventory(served.clone());
    let run = env
        .run(&["sync", "--format", "json", "--detailed-exitcode=config"])
        .await;
    assert_eq!(run.code, Some(0), "a status flap alone: {}", run.stdout);
    let report = run.json();
    assert_eq!(
        (
            report["modified"].clone(),
            report["modified_config"].clone()
        ),
        (1.into(), 0.into())
    );
    served[0]["status"] = "ERROR".into();
    env.sim.state.set_inventory(served.clone());
    assert_eq!(
        exit(&["sync", "--detailed-exitcode"]).await,
        Some(2),
        "every change counts"
    );
    served[0]["name"] = "renamed".into();
    env.sim.state.set_inventory(served);
    assert_eq!(
        exit(&["sync", "--detailed-exitcode=config"]).await,
        Some(2),
        "a rename"
    );
}

async fn status_shows_each_scopes_latest_runs(backend: Backend) {
    let env = TestEnv::generated(backend, 10, 3).await;
    env.sync(&[]).await;
    env.sim.state.set_faults(vpn_simulator::Faults {
        error_page: Some((
            1,
            403,
            serde_json::json!({"code": "VPN.0003", "message": "no"}),
        )),
        ..vpn_simulator::Faults::default()
    });
    assert_eq!(env.run(&["sync"]).await.code, Some(1));
    let status = env.run(&["status", "--format", "json"]).await.json();
    assert_eq!(status["schema_version"], latest_schema_version());
    assert_eq!(status["connections"], 10);
    assert!(status["size_bytes"].as_u64().unwrap() > 0, "{status}");
    let scope = &status["scopes"][0];
    assert_eq!(scope["scope"]["project_id"], env.config.project_id.as_str());
    assert_eq!(scope["last_complete"]["run_id"], 1);
    assert_eq!(scope["last_failed"]["run_id"], 2);
    assert!(
        scope["last_failed"]["error"]
            .as_str()
            .unwrap()
            .contains("VPN.0003"),
        "{status}"
    );
    assert_eq!(scope["running"], serde_json::json!([]));
    let table = env.run(&["status"]).await;
    let table = &table.assert_ok().stdout;
    let schema = format!("schema version {}", latest_schema_version());
    assert!(table.contains(&schema), "{table}");
    assert!(
        table.contains("run 1, ") && table.contains("run 2, "),
        "{table}"
    );
}

async fn prune_drops_leftovers_and_old_history_but_never_the_inventory(backend: Backend) {
    use crate::support::{assert_same_connections, expected_export, sorted_by_id};
    let env = TestEnv::generated(backend, 30, 4).await;
    env.sync(&[]).await;
    env.sim.state.mutate(2, 9);
    env.sync(&[]).await;
    // A run killed mid-sweep leaves its staged pages behind (page 1 at least, while page 5
    // is asked for).
    env.sim.state.set_faults(vpn_simulator::Faults {
        hang_page: Some(5),
        ..vpn_simulator::Faults::default()
    });
    let mut killed = env.command(&["sync", "--page-size", "5"]);
    killed
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut killed = killed.spawn().unwrap();
    env.sim.state.hanging.notified().await;
    killed.kill().await.unwrap();
    killed.wait().await.unwrap();
    env.sim.state.set_faults(vpn_simulator::Faults::default());
    let db = env.db().await;
    assert!(db.scalar("SELECT COUNT(*) FROM staged_connections").await > 0);

    let pruned = env.run(&["prune", "--format", "json"]).await.json();
    // Marking the dead run abandoned drops its staging (or prune does, if it was kept).
    assert_eq!(pruned["runs_abandoned"], 1, "{pruned}");
    assert_eq!(
        pruned["change_records"], 0,
        "no retention period, no history pruned"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM staged_connections").await,
        0
    );

    let all = env
        .run(&["prune", "--older-than", "0s", "--format", "json"])
        .await
        .json();
    assert!(all["change_records"].as_u64().unwrap() > 30, "{all}");
    assert!(all["versions"].as_u64().unwrap() > 0, "{all}");
    assert_eq!(all["failed_runs"], 1, "{all}");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM change_records").await, 0);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM connection_versions WHERE to_seq IS NOT NULL")
            .await,
        0
    );
    db.close().await;
    let served = env.sim.state.inventory();
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    // History now starts with the next run: nothing is added again.
    let next = env.sync(&[]).await;
    assert_eq!(
        (&next["added"], &next["modified"]),
        (&Value::from(0), &Value::from(0))
    );
}

#[tokio::test]
async fn sync_all_runs_every_target_and_the_exit_code_is_the_worst() {
    let env = TestEnv::generated(Backend::Sqlite, 20, 6).await;
    let gateway = env.first_gateway();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let metrics = dir.path().join("vpn.prom");
    let text = format!(
        r#"
        database = "{database}"
        [[targets]]
        name = "whole"
        project_id = "{project}"
        endpoint = "{endpoint}"
        credentials = {{ ak_env = "SIM_AK", sk_env = "SIM_SK" }}

        [[targets]]
        name = "gateway"
        project_id = "{project}"
        endpoint = "{endpoint}"
        vgw_id = "{gateway}"
        credentials = {{ ak_env = "SIM_AK", sk_env = "SIM_SK" }}

        [[targets]]
        name = "no-keys"
        project_id = "{project}"
        endpoint = "{endpoint}"
        credentials = {{ ak_env = "MISSING_AK", sk_env = "MISSING_SK" }}
        "#,
        database = env.database_url(),
        project = env.config.project_id,
        endpoint = env.sim.endpoint(),
    );
    std::fs::write(&config, text).unwrap();
    let (config, metrics_path) = (config.to_str().unwrap(), metrics.to_str().unwrap());
    let sync = |args: &[&str]| {
        let mut all = vec!["--config", config, "sync", "--format", "json"];
        all.extend_from_slice(args);
        let mut cmd = env.command(&all);
        // The configuration names the database.
        cmd.env_remove("VPN_INVENTORY_DATABASE")
            .env("SIM_AK", &env.config.access_key)
            .env("SIM_SK", &env.config.secret_key);
        env.run_cmd(cmd)
    };
    let run = sync(&["--all", "--metrics-file", metrics_path]).await;
    assert_eq!(run.code, Some(1), "one target failed: {}", run.stderr);
    assert!(run.stderr.contains("target no-keys") && run.stderr.contains("MISSING_AK"));
    let outcomes = run.json();
    let outcomes = outcomes.as_array().unwrap();
    let by_name = |name: &str| outcomes.iter().find(|o| o["target"] == name).unwrap();
    assert_eq!(by_name("whole")["status"], "complete");
    assert_eq!(by_name("gateway")["status"], "complete");
    assert_eq!(by_name("no-keys")["status"], "failed");
    // One inventory: whichever of the overlapping targets applied first added each one.
    let added = |name: &str| by_name(name)["added"].as_u64().unwrap();
    assert_eq!(added("whole") + added("gateway"), 20);
    assert_eq!(env.export().await.len(), 20);

    let metrics = std::fs::read_to_string(&metrics).unwrap();
    let project = &env.config.project_id;
    assert!(
        metrics.contains(&format!(
            "vpn_inventory_last_success_connections{{project_id=\"{project}\",region=\"\",\
             target=\"whole\",vgw_id=\"\",vgw_ip=\"\",vpn_id=\"\",eip_id=\"\",\
             enterprise_project_ids=\"\"}} 20"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("vgw_id=\"{gateway}\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("vpn_inventory_inventory_connections 20"),
        "{metrics}"
    );

    // Named targets only; with nothing changed and --detailed-exitcode, 0.
    let run = sync(&["whole", "gateway", "--detailed-exitcode"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let unknown = sync(&["nope"]).await;
    assert_eq!(unknown.code, Some(64), "a usage mistake");
    assert!(
        unknown.stderr.contains("known: whole, gateway, no-keys"),
        "{}",
        unknown.stderr
    );
}

/// What bash offers for `words` (the last one being completed), from the script `completions
/// bash` prints, sourced as bash-completion would.
fn bash_completes(words: &[&str]) -> Vec<String> {
    bash_completes_with_config(words, None)
}

/// [`bash_completes`] with `VPN_INVENTORY_CONFIG` set to `config`, and the binary on `PATH`
/// as an installed one is (the script asks it for names).
fn bash_completes_with_config(words: &[&str], config: Option<&std::path::Path>) -> Vec<String> {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_vpn-inventory"));
    let script = std::process::Command::new(bin)
        .args(["completions", "bash"])
        .output()
        .expect("the binary runs");
    assert!(script.status.success(), "{script:?}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("vpn-inventory.bash");
    std::fs::write(&file, &script.stdout).expect("write the script");
    // Quoted, so an empty word (completing a value from nothing) stays a word.
    let line: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = line.join(" ");
    let complete = format!(
        "source {file}; f=$(complete -p vpn-inventory | sed -E 's/.* -F ([^ ]+) .*/\\1/'); \
         COMP_WORDS=({line}); COMP_CWORD={cword}; \
         $f vpn-inventory '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file = file.display(),
        cword = words.len() - 1,
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = std::process::Command::new("bash");
    bash.args(["-c", &complete])
        .env("PATH", path)
        .env("XDG_CONFIG_HOME", "/nonexistent/vpn-inventory-tests")
        .env_remove("VPN_INVENTORY_CONFIG");
    if let Some(config) = config {
        bash.env("VPN_INVENTORY_CONFIG", config);
    }
    let out = bash.output().expect("bash runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_the_flags_of_subcommands() {
    let sync = bash_completes(&["vpn-inventory", "sync", "--"]);
    for flag in [
        "--all",
        "--resume",
        "--dry-run",
        "--lock-timeout",
        "--max-run-time",
    ] {
        assert!(sync.iter().any(|s| s == flag), "sync --<TAB>: {sync:?}");
    }
    let check = bash_completes(&["vpn-inventory", "config", "check", "--"]);
    assert!(
        check.iter().any(|s| s == "--format"),
        "config check --<TAB>: {check:?}"
    );
    let top = bash_completes(&["vpn-inventory", "sy"]);
    assert_eq!(top, ["sync"]);
    let hidden = bash_completes(&["vpn-inventory", "__"]);
    assert!(hidden.is_empty(), "the scripts' own subcommand: {hidden:?}");
}

#[test]
fn bash_completes_target_names_report_names_and_format_values() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("config.toml");
    let target = |name: &str| {
        format!("[[targets]]\nname = \"{name}\"\nproject_id = \"p\"\nregion = \"cn-north-4\"\n")
    };
    let text = ["prod-north", "prod-south", "test"].map(target).join("\n");
    std::fs::write(&config, text).expect("write the configuration");
    let completes = |words: &[&str]| bash_completes_with_config(words, Some(&config));

    let mut targets = completes(&["vpn-inventory", "sync", "prod"]);
    targets.sort();
    assert_eq!(targets, ["prod-north", "prod-south"]);
    let after_flags = completes(&["vpn-inventory", "sync", "--dry-run", "te"]);
    assert_eq!(after_flags, ["test"]);
    let flag_value = completes(&["vpn-inventory", "sync", "--lock-timeout", "te"]);
    // (The generated script offers files there.)
    assert!(
        !flag_value.iter().any(|v| v == "test"),
        "a flag's value is no target: {flag_value:?}"
    );
    let reports = completes(&["vpn-inventory", "report", "weak"]);
    assert_eq!(reports, ["weak-crypto"]);
    let mut formats = completes(&["vpn-inventory", "sync", "--format", ""]);
    formats.sort();
    assert_eq!(formats, ["json", "text"]);
    let no_config = bash_completes(&["vpn-inventory", "sync", "prod"]);
    assert!(
        !no_config.iter().any(|v| v.starts_with("prod-")),
        "no configuration, no targets: {no_config:?}"
    );
}

#[tokio::test]
async fn summaries_count_one_page_and_one_connection_in_the_singular() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 4).await;
    let dry = env.run(&["sync", "--dry-run"]).await;
    let dry = &dry.assert_ok().stdout;
    assert!(
        dry.contains("dry run: 1 connection fetched in 1 page ("),
        "{dry}"
    );
    let run = env.run(&["sync"]).await;
    let run = &run.assert_ok().stdout;
    assert!(run.contains(": 1 connection fetched in 1 page ("), "{run}");
}

#[tokio::test]
async fn sync_all_dry_run_reports_each_target_and_writes_nothing() {
    let env = TestEnv::generated(Backend::Sqlite, 20, 6).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    // A database that does not exist yet: a dry run must not create it.
    let database = dir.path().join("never.db");
    let text = format!(
        r#"
        database = "sqlite://{database}"
        [[targets]]
        name = "whole"
        project_id = "{project}"
        endpoint = "{endpoint}"
        credentials = {{ ak_env = "SIM_AK", sk_env = "SIM_SK" }}

        [[targets]]
        name = "gateway"
        project_id = "{project}"
        endpoint = "{endpoint}"
        vgw_id = "{gateway}"
        credentials = {{ ak_env = "SIM_AK", sk_env = "SIM_SK" }}

        [[targets]]
        name = "no-keys"
        project_id = "{project}"
        endpoint = "{endpoint}"
        credentials = {{ ak_env = "MISSING_AK", sk_env = "MISSING_SK" }}
        "#,
        database = database.display(),
        project = env.config.project_id,
        endpoint = env.sim.endpoint(),
        gateway = env.first_gateway(),
    );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let dry_run = |args: &[&str]| {
        let mut all = vec!["--config", config, "sync", "--dry-run"];
        all.extend_from_slice(args);
        let mut cmd = env.command(&all);
        cmd.env_remove("VPN_INVENTORY_DATABASE")
            .env("SIM_AK", &env.config.access_key)
            .env("SIM_SK", &env.config.secret_key);
        env.run_cmd(cmd)
    };
    let run = dry_run(&["--all", "--format", "json"]).await;
    assert_eq!(run.code, Some(1), "one target has no keys: {}", run.stderr);
    assert!(run.stderr.contains("target no-keys"), "{}", run.stderr);
    let outcomes = run.json();
    let outcomes = outcomes.as_array().unwrap();
    let by_name = |name: &str| outcomes.iter().find(|o| o["target"] == name).unwrap();
    assert_eq!(by_name("whole")["status"], "dry-run");
    assert_eq!(by_name("whole")["would_add"], 20);
    assert_eq!(by_name("gateway")["status"], "dry-run");
    let gateway = by_name("gateway")["would_add"].as_i64().unwrap();
    assert!(gateway > 0 && gateway < 20, "{gateway}");
    assert_eq!(by_name("no-keys")["status"], "failed");
    assert!(!database.exists(), "a dry run created the database");

    let run = dry_run(&["gateway"]).await;
    let stdout = &run.assert_ok().stdout;
    assert!(stdout.starts_with("target gateway: dry run: "), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(!database.exists(), "a dry run created the database");
}

#[tokio::test]
async fn config_check_probe_asks_each_target_once_and_says_what_failed() {
    let env = TestEnv::generated(Backend::Sqlite, 3, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let target = |name: &str, endpoint: &str, sk_env: &str| {
        format!(
            "[[targets]]\nname = \"{name}\"\nproject_id = \"{}\"\nendpoint = \"{endpoint}\"\n\
             credentials = {{ ak_env = \"SIM_AK\", sk_env = \"{sk_env}\" }}\n\n",
            env.config.project_id
        )
    };
    let endpoint = env.sim.endpoint();
    let text = target("good", &endpoint, "SIM_SK")
        + &target("wrong-sk", &endpoint, "WRONG_SK")
        + &target("dead", "http://127.0.0.1:1", "SIM_SK");
    std::fs::write(&config, text).unwrap();
    let check = |probe: bool| {
        let config = config.to_str().unwrap();
        let mut args = vec!["--config", config, "config", "check", "--format", "json"];
        if probe {
            args.push("--probe");
        }
        let mut cmd = env.command(&args);
        cmd.env("SIM_AK", &env.config.access_key)
            .env("SIM_SK", &env.config.secret_key)
            .env("WRONG_SK", "not-the-secret-key");
        env.run_cmd(cmd)
    };
    // Without --probe nothing is asked, and every target resolves.
    let run = check(false).await;
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.json()["targets"][0].get("probe").is_none());
    assert_eq!(env.sim.state.requests(), 0);

    let run = check(true).await;
    // One request for each target the simulator serves, a refused one not asked again.
    assert_eq!(env.sim.state.requests(), 2);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(!run.stdout.contains(&env.config.secret_key));
    let checked = run.json();
    let probe = |i: usize| checked["targets"][i]["probe"].as_str().unwrap().to_owned();
    assert_eq!(probe(0), "ok");
    assert!(
        probe(1).starts_with("credentials refused: HTTP 401"),
        "{}",
        probe(1)
    );
    assert!(probe(2).starts_with("endpoint unreachable"), "{}", probe(2));
    assert_eq!(checked["targets"][0]["problems"], serde_json::json!([]));
    assert_eq!(checked["ok"], false);
}
