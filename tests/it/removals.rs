//! A bad answer must not empty the inventory: a sweep whose evidence looks incomplete or whose
//! removals look implausible stores what it saw and removes nothing, says why, and does not
//! pass for a clean success.

use crate::support::{Backend, Fingerprint, Run, TestEnv};
use serde_json::Value;
use vpn_simulator::Faults;
use vpn_simulator::server::generated_inventory_with_ties;

backend_tests!(
    an_empty_answer_removes_nothing,
    a_marker_jumping_to_the_end_removes_nothing,
    a_real_mass_deletion_is_removed_once_accepted,
    more_ties_than_a_page_holds_remove_nothing,
);

/// `sync --format json --detailed-exitcode` plus `extra`; the run as it ended.
async fn detailed_sync(env: &TestEnv, extra: &[&str]) -> Run {
    let mut args = vec!["sync", "--format", "json", "--detailed-exitcode"];
    args.extend_from_slice(extra);
    env.run(&args).await
}

/// The latest run as `runs --format json` lists it.
async fn latest_run(env: &TestEnv) -> Value {
    let runs = env
        .run(&["runs", "--format", "json"])
        .await
        .assert_ok()
        .json();
    runs[0].clone()
}

async fn an_empty_answer_removes_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 450, 61).await;
    env.sync(&[]).await;
    let before = env.inventory_fingerprint().await;
    // A bare `200 {"vpn_connections": []}`: no counts to check it against.
    env.sim.state.set_faults(Faults {
        bare_empty_page: Some(1),
        ..Faults::default()
    });
    let run = detailed_sync(&env, &[]).await;
    let reason = assert_doubted(&env, &run, &before).await;
    assert_eq!(run.json()["fetched"], 0);
    assert!(reason.contains("450 of the 450"), "{reason}");
}

/// Checks that `run` stored what it saw but removed nothing, said so on stderr, in its report
/// and in the run's record, and exited 3; returns its reason.
async fn assert_doubted(env: &TestEnv, run: &Run, before: &Fingerprint) -> String {
    assert_eq!(run.code, Some(3), "stderr: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["removed"], 0, "{report}");
    let reason = report["removals_skipped"].as_str().expect("a reason");
    assert!(
        run.stderr.contains("inferred no removals"),
        "{}",
        run.stderr
    );
    assert_eq!(latest_run(env).await["removals_skipped"], reason);
    assert_eq!(&env.inventory_fingerprint().await, before);
    reason.to_owned()
}

async fn a_marker_jumping_to_the_end_removes_nothing(backend: Backend) {
    let env = TestEnv::generated(backend, 450, 62).await;
    env.sync(&[]).await;
    let before = env.inventory_fingerprint().await;
    // Page 1 is whole, then nothing: as if the marker had jumped past the oldest connection.
    env.sim.state.set_faults(Faults {
        empty_from_page: Some(2),
        ..Faults::default()
    });
    let report = env.sync(&["--page-size", "100"]).await;
    assert_eq!(report["fetched"], 100);
    assert_eq!(report["removed"], 0);
    let reason = report["removals_skipped"].as_str().expect("a reason");
    assert!(
        reason.contains("counts 450") && reason.contains("found 100"),
        "{reason}"
    );
    assert_eq!(env.inventory_fingerprint().await, before);
    // Without the fault the next run is a clean one again.
    env.sim.state.set_faults(Faults::default());
    let run = detailed_sync(&env, &[]).await;
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(run.json()["removals_skipped"], Value::Null);
}

async fn a_real_mass_deletion_is_removed_once_accepted(backend: Backend) {
    let env = TestEnv::generated(backend, 450, 63).await;
    env.sync(&[]).await;
    let mut served = env.sim.state.inventory();
    served.truncate(150);
    env.sim.state.set_inventory(served);

    let doubted = env.sync(&[]).await;
    assert_eq!(doubted["removed"], 0);
    let reason = doubted["removals_skipped"].as_str().expect("a reason");
    assert!(reason.contains("300 of the 450"), "{reason}");
    assert!(reason.contains("--accept-mass-removal"), "{reason}");
    assert_eq!(env.export().await.len(), 450);

    // Two thirds gone is still more than a 60% limit allows; accepting lets it through.
    let stricter = env.sync(&["--max-removal-percent", "60"]).await;
    assert_eq!(stricter["removed"], 0);
    let accepted = env.sync(&["--accept-mass-removal"]).await;
    assert_eq!(accepted["removed"], 300);
    assert_eq!(accepted["removals_skipped"], Value::Null);
    assert_eq!(env.export().await.len(), 150);
    let removed = env
        .run(&["drift", "--format", "json"])
        .await
        .assert_ok()
        .json();
    let removed = removed.as_array().expect("records");
    assert_eq!(removed.len(), 300);
    assert!(removed.iter().all(|r| r["change"] == "removed"));
}

async fn more_ties_than_a_page_holds_remove_nothing(backend: Backend) {
    // Ten groups of four connections sharing a created_at.
    let inventory = generated_inventory_with_ties(40, 64, 4);
    let gateway = inventory[0]["vgw_id"].as_str().unwrap().to_owned();
    let env = TestEnv::with_inventory(backend, inventory).await;
    env.sync(&[]).await;
    let before = env.inventory_fingerprint().await;
    // No marker shows more of an instant than its first page-full: the sweep passes each
    // instant strictly, sees the first 1 or 3 of each four, and cannot prove it saw them all.
    for (page_size, seen) in [("1", 10), ("3", 30)] {
        let run = detailed_sync(&env, &["--page-size", page_size]).await;
        let reason = assert_doubted(&env, &run, &before).await;
        let report = run.json();
        assert_eq!(report["status"], "complete");
        let counts = ["fetched", "duplicates", "added"].map(|k| report[k].as_i64());
        assert_eq!(counts, [Some(seen), Some(0), Some(0)]);
        assert!(
            reason.contains(&format!(
                "counts 40 connections in the project but the sweep found {seen}"
            )),
            "{reason}"
        );
        assert!(
            reason.contains("10 page(s) held only connections created at one instant"),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("a page of {page_size} holds")),
            "{reason}"
        );
    }
    // Filtered, there is no count to settle it: a page of one instant is a doubt by itself.
    let run = detailed_sync(&env, &["--page-size", "1", "--vgw-id", &gateway]).await;
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    let reason = run.json()["removals_skipped"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("created at one instant") && !reason.contains("counts"),
        "{reason}"
    );
}
