//! Bad answers from the API: each gives a clear error, a non-zero exit, a failed run, and
//! leaves what was stored exactly as it was.

use crate::support::{Backend, Run, TestEnv};
use serde_json::json;
use vpn_simulator::Faults;

backend_tests!(
    wrong_secret_key_is_a_clear_401_and_changes_nothing,
    malformed_json_names_the_page_and_marker,
    a_marker_that_does_not_advance_stops_with_an_error,
    api_errors_in_both_shapes_carry_code_message_and_request_id,
    duplicate_ids_across_pages_are_stored_once,
    a_connection_without_id_fails_the_run,
    sigterm_mid_run_marks_it_failed_and_changes_nothing,
    secrets_never_reach_logs_errors_or_the_database,
);

/// Syncs once cleanly, applies `faults`, syncs again expecting failure; returns that run after
/// checking the inventory did not change and the run is recorded as failed. Also returns how
/// many requests the failing run made.
async fn failing_resync(env: &TestEnv, faults: Faults, args: &[&str]) -> (Run, u64) {
    env.sync(&["--page-size", "5"]).await;
    let before = env.inventory_fingerprint().await;
    // Something changed upstream, so a wrongly applied partial run would show.
    let mut served = env.sim.state.inventory();
    served.truncate(served.len() / 2);
    served[0]["name"] = json!("changed-upstream");
    env.sim.state.set_inventory(served);
    env.sim.state.set_faults(faults);
    // Retries are tested on their own (retries.rs): here every fault is final.
    let mut all = vec!["sync", "--page-size", "5", "--max-retries", "0"];
    all.extend_from_slice(args);
    let run = env.run(&all).await;
    assert_eq!(
        run.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "no report on failure: {}",
        run.stdout
    );
    let requests = env.sim.state.requests();
    env.sim.state.set_faults(Faults::default());
    assert_eq!(
        env.inventory_fingerprint().await,
        before,
        "a failed run changed the inventory"
    );
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["removed"], serde_json::Value::Null);
    assert!(runs[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    // The complete run left nothing staged; the failed one keeps what it staged, and only
    // that, for `sync --resume`.
    let db = env.db().await;
    for sql in [
        "SELECT COUNT(*) FROM staged_connections WHERE run_id <> 2",
        "SELECT COUNT(*) FROM staged_pages WHERE run_id <> 2",
    ] {
        assert_eq!(db.scalar(sql).await, 0, "{sql}");
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM staged_pages").await,
        runs[0]["pages"].as_i64().unwrap()
    );
    db.close().await;
    (run, requests)
}

async fn wrong_secret_key_is_a_clear_401_and_changes_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 11).await;
    let mut cmd = env.command(&["sync", "--page-size", "5"]);
    cmd.env("HUAWEICLOUD_SDK_SK", "not-the-right-secret-key-at-all");
    env.sync(&["--page-size", "5"]).await;
    let before = env.inventory_fingerprint().await;
    let run = env.run_cmd(cmd).await;
    assert_eq!(run.code, Some(1));
    for needle in [
        "HTTP 401",
        "APIG.0301",
        "verify aksk signature fail",
        "request_id",
        "page 1",
    ] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in: {}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("not-the-right-secret-key-at-all"),
        "secret leaked"
    );
    // Each cause once: the API error used to repeat itself through the error chain.
    assert_eq!(run.stderr.matches("HTTP 401").count(), 1, "{}", run.stderr);
    assert_eq!(env.inventory_fingerprint().await, before);
}

async fn malformed_json_names_the_page_and_marker(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 12).await;
    let faults = Faults {
        malformed_page: Some(2),
        ..Faults::default()
    };
    let (run, _) = failing_resync(&env, faults, &[]).await;
    assert!(run.stderr.contains("page 2 (marker "), "{}", run.stderr);
    assert!(
        run.stderr.contains("not the expected JSON"),
        "{}",
        run.stderr
    );
}

async fn a_marker_that_does_not_advance_stops_with_an_error(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 13).await;
    let faults = Faults {
        stuck_marker: true,
        ..Faults::default()
    };
    let (run, requests) = failing_resync(&env, faults, &[]).await;
    assert!(run.stderr.contains("does not move past"), "{}", run.stderr);
    // Page 2 repeats its marker; at most the prefetch of page 3 was already on its way.
    assert!(requests <= 3, "it kept asking: {requests} requests");
}

async fn api_errors_in_both_shapes_carry_code_message_and_request_id(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 14).await;
    let body = json!({"code": "VPN.0002", "message": "internal error, try later"});
    let faults = Faults {
        error_page: Some((2, 500, body)),
        ..Faults::default()
    };
    let (run, _) = failing_resync(&env, faults, &[]).await;
    for needle in [
        "HTTP 500",
        "VPN.0002",
        "internal error, try later",
        "request_id",
        "page 2",
    ] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in: {}",
            run.stderr
        );
    }

    let env = TestEnv::generated(backend, 20, 15).await;
    let body = json!({
        "error_code": "APIG.0308",
        "error_msg": "The throttling threshold has been reached",
        "request_id": "rid-429"
    });
    let faults = Faults {
        error_page: Some((1, 429, body)),
        ..Faults::default()
    };
    let (run, _) = failing_resync(&env, faults, &[]).await;
    for needle in [
        "HTTP 429",
        "APIG.0308",
        "throttling",
        "rid-429",
        "page 1 (first page",
    ] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in: {}",
            run.stderr
        );
    }
}

async fn duplicate_ids_across_pages_are_stored_once(backend: Backend) {
    let env = TestEnv::generated(backend, 12, 16).await;
    env.sim.state.set_faults(Faults {
        inclusive_marker: true,
        ..Faults::default()
    });
    let report = env.sync(&["--page-size", "4"]).await;
    // Every page after the first repeats the last connection of the page before.
    assert_eq!(report["added"], 12);
    assert!(report["duplicates"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(
        report["fetched"].as_u64().unwrap(),
        12 + report["duplicates"].as_u64().unwrap()
    );
    assert_eq!(env.export().await.len(), 12);
}

async fn a_connection_without_id_fails_the_run(backend: Backend) {
    let env = TestEnv::generated(backend, 8, 17).await;
    env.sync(&[]).await;
    let before = env.inventory_fingerprint().await;
    let mut served = env.sim.state.inventory();
    served[6].as_object_mut().unwrap().remove("id");
    env.sim.state.set_inventory(served);
    let run = env.run(&["sync", "--page-size", "5"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("page 2 (marker ")
            && run.stderr.contains("vpn_connections[1] has no string id"),
        "{}",
        run.stderr
    );
    assert_eq!(env.inventory_fingerprint().await, before);
}

async fn sigterm_mid_run_marks_it_failed_and_changes_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 18).await;
    env.sync(&["--page-size", "5"]).await;
    let before = env.inventory_fingerprint().await;
    let mut served = env.sim.state.inventory();
    served.truncate(3);
    env.sim.state.set_inventory(served);
    env.sim.state.set_faults(Faults {
        hang_page: Some(2),
        ..Faults::default()
    });
    let mut cmd = env.command(&["sync", "--page-size", "2"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Page 1 was answered and page 2 is in flight: the run is mid-sweep.
    env.sim.state.hanging.notified().await;
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let run: Run = child.wait_with_output().await.unwrap().into();
    assert_eq!(run.code, Some(143), "stderr: {}", run.stderr);
    env.sim.state.set_faults(Faults::default());
    assert_eq!(env.inventory_fingerprint().await, before);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[0]["status"], "failed");
    assert_eq!(runs[0]["error"], "interrupted by SIGTERM");
    let said = format!(
        "interrupted by SIGTERM; run {} was marked failed and nothing was changed",
        runs[0]["run_id"]
    );
    assert!(run.stderr.contains(&said), "{}", run.stderr);
}

async fn secrets_never_reach_logs_errors_or_the_database(backend: Backend) {
    let env = TestEnv::generated(backend, 30, 19).await;
    let sk = env.config.secret_key.clone();
    let token = "temporary-security-token-value-42";
    let mut cmd = env.command(&["-vvv", "sync", "--page-size", "7"]);
    cmd.env("HUAWEICLOUD_SDK_SECURITY_TOKEN", token);
    let ok = env.run_cmd(cmd).await;
    ok.assert_ok();
    // A failing run too: errors are where secrets like to slip out.
    let mut cmd = env.command(&["-vvv", "--log-format", "json", "sync"]);
    cmd.env("HUAWEICLOUD_SDK_SECURITY_TOKEN", token)
        .env("HUAWEICLOUD_SDK_SK", "wrong-secret-key-0042");
    let failed = env.run_cmd(cmd).await;
    assert_eq!(failed.code, Some(1));
    assert!(
        ok.stderr.contains("page received"),
        "verbose logs expected: {}",
        ok.stderr
    );
    for output in [&ok.stdout, &ok.stderr, &failed.stdout, &failed.stderr] {
        for secret in [sk.as_str(), token, "wrong-secret-key-0042"] {
            assert!(
                !output.contains(secret),
                "secret {secret:?} leaked in:\n{output}"
            );
        }
    }
    let text = match env.backend() {
        Backend::Sqlite => {
            let db_file = env
                .database_url()
                .trim_start_matches("sqlite://")
                .to_owned();
            let mut bytes = std::fs::read(&db_file).unwrap();
            if let Ok(wal) = std::fs::read(format!("{db_file}-wal")) {
                bytes.extend(wal);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Backend::Postgres => {
            let dump = std::process::Command::new("pg_dump")
                .args(["--data-only", "-d", &env.database_url()])
                .output()
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            String::from_utf8_lossy(&dump.stdout).into_owned()
        }
    };
    assert!(
        text.contains(env.config.project_id.as_str()),
        "the dump holds the inventory"
    );
    assert!(
        !text.contains(&sk) && !text.contains(token),
        "a secret was stored in the database"
    );
}
