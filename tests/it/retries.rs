//! Transient faults do not lose the run: throttling, server errors, stalls, dropped
//! connections and bodies cut short are asked again and end in the same inventory as a
//! fault-free run; other errors are not retried, and the final error keeps the API's code
//! and request id.

use crate::support::{
    Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id, strict_sweep_pages,
};
use serde_json::json;
use std::time::Duration;
use vpn_simulator::{Faults, Transient, TransientAnswer};

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
