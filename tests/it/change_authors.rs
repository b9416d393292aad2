//! Who changed what (`sync --with-traces`): the CTS traces a run fetches from the simulator
//! over real HTTP, stored once per project with the run's apply, and joined to its change
//! records; each record's authors are exactly the simulator's traces of its connection. A
//! missing permission, a failing or cycling CTS and a window older than CTS keeps each leave
//! the sync complete and say why the author is unknown, on both backends.

use crate::support::{Backend, Run, TestEnv};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use vpn_simulator::{Faults, Transient, TransientAnswer};

backend_tests!(
    each_change_names_the_traces_of_its_connection,
    without_permission_the_sync_warns_once_and_completes,
    a_failing_or_cycling_cts_fails_only_the_traces,
    a_window_older_than_cts_keeps_is_reported_as_expired,
);

/// (trace_id, user, operation, source_ip) of a trace.
type TraceKey = (String, String, String, String);

/// The simulator's traces by connection id.
fn traces_by_connection(traces: &[Value]) -> BTreeMap<String, BTreeSet<TraceKey>> {
    let mut by = BTreeMap::<String, BTreeSet<TraceKey>>::new();
    for t in traces {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        by.entry(text(&t["resource_id"])).or_default().insert((
            text(&t["trace_id"]),
            text(&t["user"]["name"]),
            text(&t["trace_name"]),
            text(&t["source_ip"]),
        ));
    }
    by
}

/// The authors a change record names.
fn authors(record: &Value) -> BTreeSet<TraceKey> {
    let by = record["changed_by"]
        .as_array()
        .expect("changed_by is a list");
    by.iter()
        .map(|a| {
            let text = |name: &str| a[name].as_str().unwrap_or_default().to_owned();
            (
                text("trace_id"),
                text("user"),
                text("operation"),
                text("source_ip"),
            )
        })
        .collect()
}

/// `drift --run RUN --format json`: the run's records.
async fn records_of(env: &TestEnv, report: &Value) -> Vec<Value> {
    let run = report["run_id"].as_i64().expect("a run id").to_string();
    let drift = env.run(&["drift", "--run", &run, "--format", "json"]).await;
    drift
        .assert_ok()
        .json()
        .as_array()
        .expect("records")
        .clone()
}

async fn each_change_names_the_traces_of_its_connection(backend: Backend) {
    let env = TestEnv::generated(backend, 60, 41).await;
    let gateway = env.first_gateway();
    // The project whole, and one of its gateways: two scopes of one inventory.
    let baseline = env.sync(&["--with-traces"]).await;
    assert!(
        baseline.get("traces").is_none(),
        "a baseline asks CTS nothing: {baseline}"
    );
    env.sync(&["--vgw-id", &gateway]).await;

    assert!(!env.sim.state.mutate(4, 41).is_empty());
    let traces = env.sim.state.traces();
    let whole = env.sync(&["--with-traces"]).await;
    assert_eq!(
        whole["traces"],
        json!({"outcome": "fetched", "traces": traces.len()})
    );
    // The gateway's run asks for the same window of the project's traces: stored once.
    let part = env.sync(&["--with-traces", "--vgw-id", &gateway]).await;
    assert_eq!(part["traces"]["traces"], json!(traces.len()), "{part}");
    let db = env.db().await;
    let stored = db.scalar("SELECT COUNT(*) FROM traces").await;
    assert_eq!(stored, i64::try_from(traces.len()).unwrap());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM trace_fetches").await, 2);
    db.close().await;

    let by_connection = traces_by_connection(&traces);
    let records = records_of(&env, &whole).await;
    assert!(!records.is_empty());
    let mut attributed = 0;
    for record in &records {
        let id = record["connection_id"].as_str().unwrap();
        let want = by_connection.get(id).cloned().unwrap_or_default();
        assert_eq!(authors(record), want, "{record}");
        match want.is_empty() {
            true => assert_eq!(
                record["changed_by_unknown"], "no matching trace",
                "{record}"
            ),
            false => {
                attributed += 1;
                assert!(record.get("changed_by_unknown").is_none(), "{record}");
            }
        }
    }
    assert!(
        attributed * 2 > records.len(),
        "most changes have an author: {records:?}"
    );

    // who-changed: one row per change of a connection and trace that fits it.
    let report = env
        .run(&["report", "who-changed", "--format", "json"])
        .await;
    let rows = report.assert_ok().json();
    let rows = rows.as_array().expect("rows");
    let mut want = BTreeSet::new();
    for record in &records {
        let change = (
            record["connection_id"].as_str().unwrap().to_owned(),
            record["change"].as_str().unwrap().to_owned(),
        );
        for (trace_id, user, ..) in authors(record) {
            want.insert((change.clone(), user, trace_id));
        }
        if authors(record).is_empty() {
            want.insert((change, "(unknown)".to_owned(), String::new()));
        }
    }
    let got: BTreeSet<_> = rows
        .iter()
        .map(|r| {
            let text = |name: &str| r[name].as_str().unwrap_or_default().to_owned();
            (
                (text("connection_id"), text("change")),
                text("changed_by"),
                text("trace_id"),
            )
        })
        .collect();
    assert_eq!(got.len(), rows.len(), "no row twice: {rows:?}");
    assert_eq!(got, want);

    // check names who made each violation it lists as new.
    let base = baseline["run_id"].to_string();
    let check = env
        .run(&["check", "--new-since", &base, "--format", "json"])
        .await;
    assert_eq!(check.code, Some(4), "{}", check.stderr);
    let violations = check.json();
    let violations = violations.as_array().expect("violations");
    assert!(
        violations.iter().any(|v| v["changed_by"].is_string()),
        "{violations:?}"
    );
    for v in violations {
        let id = v["connection_id"].as_str().unwrap();
        let users: BTreeSet<String> = by_connection
            .get(id)
            .into_iter()
            .flatten()
            .map(|t| t.1.clone())
            .collect();
        let named = v["changed_by"]
            .as_str()
            .map(|by| by.split(" +").next().unwrap().to_owned());
        assert_eq!(named, users.first().cloned(), "{v}");
    }

    // The review digest says who made each change, as drift does.
    let review = env
        .run(&["review", "--since", "1h", "--format", "markdown"])
        .await;
    let digest = &review.assert_ok().stdout;
    for record in &records {
        for (_, user, operation, source_ip) in authors(record) {
            let said = format!("{user} ({operation} at ");
            assert!(
                digest.contains(&said) && digest.contains(&source_ip),
                "{said}\n{digest}"
            );
        }
    }

    // The table shows who, and a CSV carries it in its own columns.
    let run = whole["run_id"].to_string();
    let header = first_line(&env.run(&["drift", "--run", &run]).await);
    assert!(header.ends_with("BY"), "{header}");
    let csv = env.run(&["drift", "--run", &run, "--format", "csv"]).await;
    let header = csv.assert_ok().stdout.lines().next().unwrap().to_owned();
    assert!(header.ends_with(
        "changed_by,changed_by_time,changed_by_operation,changed_by_source_ip,changed_by_unknown"
    ));
}

/// Changes the simulator's inventory as operators would, leaving traces: at least one
/// change a sync records (a round may change only what is no change, BGP telemetry).
fn mutate(env: &TestEnv, seed: u64) {
    let changed = (0..10).any(|_| !env.sim.state.mutate(1, seed).is_empty());
    assert!(changed, "ten rounds changed nothing");
}

/// A synced inventory the simulator has changed since.
async fn mutated_after_baseline(backend: Backend, seed: u64) -> TestEnv {
    let env = TestEnv::generated(backend, 20, seed).await;
    env.sync(&[]).await;
    mutate(&env, seed);
    env
}

/// Every record of the run says why its author is unknown, and says `reason`.
async fn all_unknown_because(env: &TestEnv, report: &Value, reason: &str) {
    let records = records_of(env, report).await;
    assert!(!records.is_empty());
    for record in &records {
        assert_eq!(record["changed_by"], json!([]), "{record}");
        assert_eq!(record["changed_by_unknown"], reason, "{record}");
    }
}

/// The first line a command that succeeded printed: a table's header.
fn first_line(run: &Run) -> String {
    let out = &run.assert_ok().stdout;
    out.lines().next().unwrap_or_default().to_owned()
}

fn warnings_naming(run: &Run, text: &str) -> usize {
    run.stderr.lines().filter(|l| l.contains(text)).count()
}

async fn without_permission_the_sync_warns_once_and_completes(backend: Backend) {
    let env = mutated_after_baseline(backend, 43).await;
    env.sim.state.set_traces_faults(Faults {
        missing_cts_permission: true,
        ..Faults::default()
    });
    let run = env
        .run(&["sync", "--with-traces", "--format", "json"])
        .await;
    let report = run.assert_ok().json();
    assert_eq!(
        report["traces"],
        json!({"outcome": "forbidden", "traces": 0})
    );
    assert_eq!(
        warnings_naming(&run, "missing CTS permission"),
        1,
        "{}",
        run.stderr
    );
    let changed = ["added", "removed", "modified"].map(|n| report[n].as_i64().unwrap());
    assert!(changed.iter().sum::<i64>() > 0, "{report}");
    all_unknown_because(&env, &report, "no traces fetched: missing CTS permission").await;
    let table = env.run(&["drift"]).await;
    assert!(
        table
            .stdout
            .contains("unknown (no traces fetched: missing CTS permission)"),
        "{}",
        table.stdout
    );

    // Its summary line says so too.
    let text = env.run(&["sync", "--with-traces"]).await;
    let said = "who changed it: 0 traces from CTS (forbidden)";
    assert!(text.assert_ok().stdout.contains(said), "{}", text.stdout);

    // A run that does not ask CTS says so, and its table has no column for it.
    env.sim.state.set_traces_faults(Faults::default());
    mutate(&env, 44);
    let report = env.sync(&[]).await;
    all_unknown_because(&env, &report, "no traces fetched").await;
    let header = first_line(&env.run(&["drift"]).await);
    assert!(!header.contains("BY"), "{header}");
}

async fn a_failing_or_cycling_cts_fails_only_the_traces(backend: Backend) {
    // Throttled twice, then served: the traces arrive.
    let env = mutated_after_baseline(backend, 45).await;
    env.sim.state.set_traces_faults(Faults {
        transient: Some(Transient {
            from: 1,
            times: 2,
            answer: TransientAnswer::Status {
                status: 429,
                body: json!({"error_code": "CTS.0429", "error_msg": "too many requests"}),
                retry_after: Some("0".to_owned()),
            },
        }),
        ..Faults::default()
    });
    let report = env.sync(&["--with-traces"]).await;
    assert_eq!(report["traces"]["outcome"], "fetched", "{report}");
    assert!(env.sim.state.traces_requests() >= 3);

    // A 500 on every request, after its retries, and a marker that comes again: the sync
    // completes, warns, and the changes' authors are unknown for that reason.
    for (seed, faults, said) in [
        (
            46,
            Faults {
                transient: Some(Transient {
                    from: 1,
                    times: 100,
                    answer: TransientAnswer::Status {
                        status: 500,
                        body: json!({"error_code": "CTS.0500", "error_msg": "internal"}),
                        retry_after: None,
                    },
                }),
                ..Faults::default()
            },
            "CTS traces page 1 failed",
        ),
        (
            47,
            Faults {
                stuck_marker: true,
                ..Faults::default()
            },
            "which an earlier page gave",
        ),
    ] {
        // More traces than a page holds (200), so that a second page is asked for.
        let before = env.sim.state.traces().len();
        while env.sim.state.traces().len() < before + 250 {
            mutate(&env, seed);
        }
        env.sim.state.set_traces_faults(faults);
        let args = [
            "sync",
            "--with-traces",
            "--max-retries",
            "1",
            "--format",
            "json",
        ];
        let run = env.run(&args).await;
        let report = run.assert_ok().json();
        assert_eq!(report["traces"]["outcome"], "failed", "{report}");
        assert_eq!(warnings_naming(&run, said), 1, "{}", run.stderr);
        all_unknown_because(&env, &report, "no traces fetched: fetching them failed").await;
    }
}

async fn a_window_older_than_cts_keeps_is_reported_as_expired(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 48).await;
    env.sync(&[]).await;
    // The baseline ran 8 days ago, as far as the database knows.
    let db = env.db().await;
    db.execute_script(match backend {
        Backend::Sqlite => {
            "UPDATE sync_runs SET started_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-8 days')"
        }
        Backend::Postgres => "UPDATE sync_runs SET started_at = now() - interval '8 days'",
    })
    .await;
    db.close().await;
    // Changed behind the simulator's back: no trace of either change.
    let mut served = env.sim.state.inventory();
    served[0]["name"] = json!("renamed-quietly");
    let mut added = served[1].clone();
    added["id"] = json!("0f0f0f0f-0000-4000-8000-000000000002");
    served.push(added);
    env.sim.state.set_inventory(served);

    let run = env
        .run(&["sync", "--with-traces", "--format", "json"])
        .await;
    let report = run.assert_ok().json();
    assert_eq!(report["traces"]["outcome"], "expired", "{report}");
    assert_eq!(
        warnings_naming(&run, "longer ago than CTS keeps"),
        1,
        "{}",
        run.stderr
    );
    let records = records_of(&env, &report).await;
    let reasons: BTreeSet<(String, String)> = records
        .iter()
        .map(|r| {
            let text = |name: &str| r[name].as_str().unwrap_or_default().to_owned();
            (text("change"), text("changed_by_unknown"))
        })
        .collect();
    // The add may have happened any time in the 8 days; the rename after the baseline's
    // observation, which is recent, so CTS would have kept its trace.
    let want = BTreeSet::from([
        ("added".to_owned(), "window expired".to_owned()),
        ("modified".to_owned(), "no matching trace".to_owned()),
    ]);
    assert_eq!(reasons, want, "{records:?}");
}

#[tokio::test]
async fn where_cts_is_asked_is_checked_like_the_endpoint() {
    let env = TestEnv::generated(Backend::Sqlite, 1, 49).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let endpoint = env.sim.endpoint();
    let project = &env.config.project_id;
    let text = [
        crate::support::target_toml("beside", project, &endpoint, &["traces = true"]),
        crate::support::target_toml(
            "elsewhere",
            project,
            &endpoint,
            &["cts_endpoint = \"https://cts.private.example\""],
        ),
        crate::support::target_toml("wrong", project, &endpoint, &["cts_endpoint = \"ftp://x\""]),
    ]
    .concat();
    std::fs::write(&config, text).unwrap();
    let mut cmd = env.command(&["--config", config.to_str().unwrap(), "config", "check"]);
    cmd.args(["--format", "json"])
        .env("SIM_AK", &env.config.access_key)
        .env("SIM_SK", &env.config.secret_key);
    let run = env.run_cmd(cmd).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let targets = run.json()["targets"].clone();
    assert_eq!(targets[0]["resolved_cts_endpoint"], endpoint.as_str());
    assert_eq!(targets[0]["problems"], json!([]));
    let elsewhere = &targets[1]["resolved_cts_endpoint"];
    assert_eq!(elsewhere, "https://cts.private.example");
    let wrong = targets[2]["problems"].to_string();
    assert!(wrong.contains("only http:// and https://") && wrong.contains("cts_endpoint"));

    // `traces = true` alone makes the target's sync ask CTS (its first run asks nothing).
    let config = config.to_str().unwrap();
    let sync_beside = || {
        let mut cmd = env.command(&["--config", config, "sync", "beside", "--format", "json"]);
        cmd.env("SIM_AK", &env.config.access_key)
            .env("SIM_SK", &env.config.secret_key);
        cmd
    };
    let first = env.run_cmd(sync_beside()).await.assert_ok().json();
    assert!(first[0].get("traces").is_none(), "{first}");
    mutate(&env, 49);
    let second = env.run_cmd(sync_beside()).await.assert_ok().json();
    let traces = env.sim.state.traces().len();
    assert_eq!(
        second[0]["traces"],
        json!({"outcome": "fetched", "traces": traces})
    );

    // The flag: only with --with-traces (a usage mistake), checked as --endpoint is.
    let alone = env
        .run(&["sync", "--cts-endpoint", "http://127.0.0.1:1"])
        .await;
    assert_eq!(alone.code, Some(64), "{}", alone.stderr);
    assert!(alone.stderr.contains("--with-traces"), "{}", alone.stderr);
    let args = [
        "sync",
        "--with-traces",
        "--cts-endpoint",
        "ftp://cts.example",
    ];
    let wrong = env.run(&args).await;
    assert_eq!(wrong.code, Some(1), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("--cts-endpoint"), "{}", wrong.stderr);
}
