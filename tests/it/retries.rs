//! Transient faults do not lose the run: throttling, server errors, stalls, dropped
//! connections and bodies cut short are asked again and end in the same inventory as a
//! fault-free run; other errors are not retried, and the final error keeps the API's code
//! and request id. Each retry is one warning line, and `--max-run-time` bounds a run, its
//! retries and waits included.

use crate::support::{
    Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id, strict_sweep_pages,
    target_toml,
};
use serde_json::json;
use std::time::Duration;
use vpn_simulator::{Faults, Transient, TransientAnswer};

backend_tests!(a_run_past_its_max_run_time_fails_naming_the_limit_and_changes_nothing);

/// A simulator of `count` connections whose list requests from `from` on misbehave `times`
/// times with `answer`.
async fn flaky(count: usize, seed: u64, from: u64, times: u64, answer: TransientAnswer) -> TestEnv {
    let env = TestEnv::generated(Backend::Sqlite, count, seed).await;
    env.sim.state.set_faults(Faults {
        transient: Some(Transient {
            from,
            times,
            answer,
        }),
        ..Faults::default()
    });
    env
}

fn throttled(retry_after: &str) -> TransientAnswer {
    TransientAnswer::Status {
        status: 429,
        body: json!({
            "error_code": "APIG.0308",
            "error_msg": "The throttling threshold has been reached",
            "request_id": "throttled-request",
        }),
        retry_after: Some(retry_after.to_owned()),
    }
}

/// Syncs at page size 10; the export must be exactly what was served.
async fn assert_complete_as_served(env: &TestEnv) -> crate::support::Run {
    let run = env
        .run(&["sync", "--format", "json", "--page-size", "10"])
        .await;
    let report = run.assert_ok().json();
    assert_eq!(report["status"], "complete");
    let served = env.sim.state.inventory();
    assert_eq!(report["added"], served.len());
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    run
}

#[tokio::test]
async fn throttling_is_waited_out_as_the_server_asks() {
    let env = flaky(25, 81, 2, 2, throttled("0")).await;
    let run = assert_complete_as_served(&env).await;
    // Each retry says which page, which code and which request it was.
    let retries: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("asking again"))
        .collect();
    assert_eq!(retries.len(), 2, "{}", run.stderr);
    assert!(
        retries
            .iter()
            .all(|l| l.contains("APIG.0308") && l.contains("throttled-request"))
    );
    assert!(
        retries.iter().all(|l| l.contains("page=2")),
        "{}",
        run.stderr
    );
    let pages = u64::try_from(strict_sweep_pages(25, 10)).expect("a page count");
    assert_eq!(
        env.sim.state.requests(),
        pages + 2,
        "page 2 asked twice more"
    );
}

#[tokio::test]
async fn stalls_and_bodies_cut_short_are_asked_again() {
    let stall = TransientAnswer::Stall(Duration::from_secs(5));
    let env = flaky(25, 82, 1, 1, stall).await;
    let run = env
        .run(&[
            "sync",
            "--format",
            "json",
            "--page-size",
            "10",
            "--request-timeout",
            "1s",
        ])
        .await;
    assert_eq!(run.assert_ok().json()["added"], 25);
    let pages = u64::try_from(strict_sweep_pages(25, 10)).expect("a page count");
    assert_eq!(
        env.sim.state.requests(),
        pages + 1,
        "the stalled page was asked again"
    );

    let env = flaky(25, 83, 3, 1, TransientAnswer::Truncated).await;
    let run = assert_complete_as_served(&env).await;
    assert_eq!(
        env.sim.state.requests(),
        pages + 1,
        "the cut page was asked again"
    );
    assert!(run.stderr.contains("asking again"), "{}", run.stderr);
}

#[tokio::test]
async fn dropped_connections_are_asked_again() {
    let env = flaky(25, 86, 2, 2, TransientAnswer::Reset).await;
    let run = assert_complete_as_served(&env).await;
    let pages = u64::try_from(strict_sweep_pages(25, 10)).expect("a page count");
    assert_eq!(
        env.sim.state.requests(),
        pages + 2,
        "the dropped page was asked twice more"
    );
    assert!(run.stderr.contains("asking again"), "{}", run.stderr);
}

#[tokio::test]
async fn retries_end_and_the_last_error_keeps_its_code_and_request_id() {
    let env = flaky(25, 84, 1, 10, throttled("0")).await;
    let run = env.run(&["sync", "--max-retries", "2"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("APIG.0308") && run.stderr.contains("throttled-request"),
        "{}",
        run.stderr
    );
    assert_eq!(env.sim.state.requests(), 3, "one try and two retries");
    assert!(env.export().await.is_empty());
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let refused = TransientAnswer::Status {
        status: 400,
        body: json!({"code": "VPN.0001", "message": "invalid request"}),
        retry_after: None,
    };
    let env = flaky(5, 85, 1, 1, refused).await;
    let run = env.run(&["sync"]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("VPN.0001"), "{}", run.stderr);
    assert_eq!(env.sim.state.requests(), 1);
}

/// A page that never comes back holds the run until its time limit; the run then fails as any
/// failed run does: recorded failed, the inventory as it was, exit 1, the limit named.
async fn a_run_past_its_max_run_time_fails_naming_the_limit_and_changes_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 12, 87).await;
    env.sync(&["--page-size", "5"]).await;
    let before = env.inventory_fingerprint().await;
    let mut served = env.sim.state.inventory();
    served.truncate(6);
    env.sim.state.set_inventory(served);
    env.sim.state.set_faults(Faults {
        hang_page: Some(2),
        ..Faults::default()
    });
    let run = env
        .run(&["sync", "--page-size", "5", "--max-run-time", "1s"])
        .await;
    env.sim.state.release();
    env.sim.state.set_faults(Faults::default());
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "sync run 2 failed; nothing was changed: the run took longer than \
             --max-run-time 1s"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(env.inventory_fingerprint().await, before);
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[0]["status"], "failed");
    assert!(
        runs[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("--max-run-time")),
        "{}",
        runs[0]
    );
}

/// Retries count against the time limit: a page throttled without end stops the run at its
/// limit, not after its retries. Each retry is one warning line naming the page, the reason
/// and the wait; `-q` (errors only) hides them but not the error.
#[tokio::test]
async fn retries_are_one_warning_line_each_and_count_against_the_max_run_time() {
    let unavailable = TransientAnswer::Status {
        status: 503,
        body: json!({"error_code": "VPC.0503", "error_msg": "busy"}),
        retry_after: Some("1".to_owned()),
    };
    let env = flaky(25, 88, 2, 1000, unavailable).await;
    let args = ["sync", "--page-size", "10", "--max-retries", "1000"];
    let run = env
        .run(&[&args[..], &["--max-run-time", "3s"]].concat())
        .await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("took longer than --max-run-time 3s"),
        "{}",
        run.stderr
    );
    let retries: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("asking again"))
        .collect();
    assert!(!retries.is_empty(), "{}", run.stderr);
    for line in &retries {
        assert!(line.contains("WARN"), "{line}");
        for what in ["page=2", "503", "VPC.0503", "asking again in 1s:"] {
            assert!(line.contains(what), "{what} missing: {line}");
        }
    }

    let quiet = env
        .run(&[&["-q"], &args[..], &["--max-run-time", "1s"]].concat())
        .await;
    assert_eq!(quiet.code, Some(1), "{}", quiet.stderr);
    assert!(!quiet.stderr.contains("asking again"), "{}", quiet.stderr);
    assert!(
        quiet.stderr.contains("--max-run-time 1s"),
        "{}",
        quiet.stderr
    );
}

/// With targets, the limit bounds each target's run: a target whose page never comes back
/// fails at the limit, and the next target still gets its own time and completes.
#[tokio::test]
async fn each_target_of_sync_all_has_its_own_max_run_time() {
    let env = TestEnv::generated(Backend::Sqlite, 12, 89).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("config.toml");
    let (project, endpoint) = (&env.config.project_id, env.sim.endpoint());
    let gateway = format!("vgw_id = \"{}\"", env.first_gateway());
    let text = [
        target_toml("stuck", project, &endpoint, &[]),
        target_toml("gateway", project, &endpoint, &[&gateway]),
    ]
    .concat();
    std::fs::write(&config, text).expect("write the configuration");
    // Targets one after another: the first target's second page is the one that hangs.
    env.sim.state.set_faults(Faults {
        hang_page: Some(2),
        ..Faults::default()
    });
    let config = config.to_str().expect("a UTF-8 path");
    let args = ["--config", config, "sync", "--all", "--concurrency", "1"];
    let mut cmd = env.command(&[&args[..], &["--page-size", "5", "--max-run-time", "2s"]].concat());
    cmd.args(["--format", "json"])
        .env("SIM_AK", &env.config.access_key)
        .env("SIM_SK", &env.config.secret_key);
    let run = env.run_cmd(cmd).await;
    env.sim.state.release();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let outcomes = run.json();
    let outcome = |name: &str| {
        let found = outcomes
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["target"] == name);
        found.expect("every target's outcome").clone()
    };
    // Which target takes the one slot first, and so meets the hanging page, is up to the
    // scheduler: one fails at its limit, and the other, with a limit of its own, completes.
    let (stuck, other) = match outcome("stuck")["status"] == "failed" {
        true => (outcome("stuck"), outcome("gateway")),
        false => (outcome("gateway"), outcome("stuck")),
    };
    assert_eq!(stuck["status"], "failed", "{outcomes}");
    assert!(
        stuck["error"]
            .as_str()
            .is_some_and(|e| e.contains("--max-run-time 2s")),
        "{outcomes}"
    );
    let stuck_run = stuck["run_id"].as_i64().expect("the stuck run's id");
    assert_eq!(other["status"], "complete", "{outcomes}");
    let runs = env.run(&["runs", "--format", "json"]).await.json();
    let failed = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == stuck_run);
    assert_eq!(
        failed.map(|r| &r["status"]),
        Some(&"failed".into()),
        "{runs}"
    );
}
