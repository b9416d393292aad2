//! `sync --resume` (issue 9): a run that failed, was killed or was interrupted mid-sweep is
//! continued by a new run from its last staged page, asking only for the pages that remain (and
//! that last one again), and the sweep is judged as one: the inventory, the change records and
//! the counts are those of a sweep that never stopped. Without `--resume`, or with nothing to
//! resume, a run sweeps from the first page.

use crate::drift::{drift, summary};
use crate::support::{Backend, Run, TestEnv, sorted_by_id, strict_sweep_pages};
use serde_json::{Value, json};
use std::process::Stdio;
use vpn_simulator::Faults;
use vpn_simulator::server::{generated_inventory, generated_inventory_with_ties};

backend_tests!(
    a_failed_run_is_continued_from_its_last_staged_page,
    a_killed_run_is_continued_by_the_next_sync_with_resume,
    an_interrupted_run_is_continued_with_another_page_size,
    a_sweep_stopped_at_any_page_of_tie_recovery_is_continued_whole,
    resume_with_nothing_to_resume_sweeps_from_the_first_page,
    without_resume_a_run_starts_from_the_first_page,
    a_resumed_sweep_keeps_what_another_run_saw_after_the_sweep_began,
    a_resumed_sweep_keeps_the_doubts_of_its_smaller_pages,
);

const PAGE: &str = "5";

/// Two simulators serving the same inventory, each with a fresh database synced once; then the
/// same changes upstream in both (modifications, two removals). The next sync of the first is
/// what a stopped and resumed sweep of the second must come to.
async fn twins(backend: Backend, connections: usize, seed: u64) -> (TestEnv, TestEnv) {
    let clean = TestEnv::generated(backend, connections, seed).await;
    let faulty = TestEnv::generated(backend, connections, seed).await;
    for env in [&clean, &faulty] {
        env.sync(&["--page-size", PAGE]).await;
        env.sim.state.mutate(3, seed);
        let mut served = env.sim.state.inventory();
        served.remove(12);
        served.remove(4);
        env.sim.state.set_inventory(served);
    }
    (clean, faulty)
}

/// The fault-free sync of `clean`: its report, and how many requests it made.
async fn clean_sync(clean: &TestEnv) -> (Value, u64) {
    clean.sim.state.set_faults(Faults::default());
    let report = clean.sync(&["--page-size", PAGE]).await;
    (report, clean.sim.state.requests())
}

/// A failure the sweep does not retry, on request `page`.
fn failing(page: u64) -> Faults {
    let body = json!({"code": "VPN.0002", "message": "internal error, try later"});
    Faults {
        error_page: Some((page, 500, body)),
        ..Faults::default()
    }
}

/// A sync at page size 5 that fails without retrying.
async fn failed_sync(env: &TestEnv) -> Run {
    let run = env
        .run(&["sync", "--page-size", PAGE, "--max-retries", "0"])
        .await;
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    run
}

/// A sync at page size 5 whose request `page` the simulator holds: it returns once that
/// request is waiting.
async fn sync_hanging_at(env: &TestEnv, page: u64) -> tokio::process::Child {
    env.sim.state.set_faults(Faults {
        hang_page: Some(page),
        ..Faults::default()
    });
    let mut cmd = env.command(&["sync", "--page-size", PAGE]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("sync starts");
    env.sim.state.hanging.notified().await;
    child
}

async fn count(env: &TestEnv, sql: &'static str) -> i64 {
    let db = env.db().await;
    let n = db.scalar(sql).await;
    db.close().await;
    n
}

async fn staged_pages(env: &TestEnv) -> u64 {
    let pages = count(env, "SELECT COUNT(*) FROM staged_pages").await;
    u64::try_from(pages).unwrap()
}

/// Checks that the resumed sweep of `faulty` came to what the fault-free one of `clean` did:
/// the same counts, change records and inventory, and no staging left.
async fn assert_same_outcome(faulty: &TestEnv, resumed: &Value, clean: &TestEnv, expected: &Value) {
    let keys = [
        "status",
        "fetched",
        "duplicates",
        "added",
        "removed",
        "modified",
        "unchanged",
        "removals_skipped",
    ];
    for key in keys {
        assert_eq!(
            resumed[key], expected[key],
            "{key}: {resumed} vs {expected}"
        );
    }
    assert!(expected["removed"].as_u64() > Some(0), "{expected}");
    let records = |env, report: &Value| {
        let run = report["run_id"].to_string();
        async move { summary(&drift(env, &["--run", &run]).await) }
    };
    let (found, wanted) = (
        records(faulty, resumed).await,
        records(clean, expected).await,
    );
    assert!(!wanted.is_empty());
    assert_eq!(found, wanted);
    let (stored, wanted) = (faulty.export().await, clean.export().await);
    assert_eq!(sorted_by_id(stored), sorted_by_id(wanted));
    for sql in [
        "SELECT COUNT(*) FROM staged_pages",
        "SELECT COUNT(*) FROM staged_connections",
    ] {
        assert_eq!(count(faulty, sql).await, 0, "{sql}");
    }
}

async fn a_failed_run_is_continued_from_its_last_staged_page(backend: Backend) {
    let (clean, faulty) = twins(backend, 30, 61).await;
    let (expected, clean_requests) = clean_sync(&clean).await;

    faulty.sim.state.set_faults(failing(4));
    failed_sync(&faulty).await;
    // Page 3 was staged while page 4 failed.
    assert_eq!(staged_pages(&faulty).await, 3);
    faulty.sim.state.set_faults(Faults::default());
    let resumed = faulty.sync(&["--page-size", PAGE, "--resume"]).await;
    assert_eq!(
        (&resumed["run_id"], &resumed["resumed_from"]),
        (&json!(3), &json!(2))
    );
    // The pages that remained, and the last staged one asked again.
    assert_eq!(faulty.sim.state.requests(), clean_requests - 3 + 1);
    assert_eq!(resumed["pages"], expected["pages"].as_u64().unwrap() + 1);
    assert_same_outcome(&faulty, &resumed, &clean, &expected).await;

    // The failed run stays failed; each names the other.
    let runs = faulty.run(&["runs", "--format", "json"]).await.json();
    let (run3, run2) = (&runs[0], &runs[1]);
    assert_eq!(
        (&run3["status"], &run3["resumed_from"]),
        (&json!("complete"), &json!(2))
    );
    assert_eq!(
        (&run2["status"], &run2["resumed_by"]),
        (&json!("failed"), &json!(3))
    );
    assert!(
        run2["error"].as_str().unwrap().contains("VPN.0002"),
        "{run2}"
    );
    let table = faulty.run(&["runs"]).await;
    let table = &table.assert_ok().stdout;
    assert!(
        table.contains("resumed run 2") && table.contains("resumed by run 3; "),
        "{table}"
    );
}

async fn a_killed_run_is_continued_by_the_next_sync_with_resume(backend: Backend) {
    let (clean, faulty) = twins(backend, 30, 62).await;
    let (expected, clean_requests) = clean_sync(&clean).await;

    let mut killed = sync_hanging_at(&faulty, 5).await;
    killed.kill().await.expect("kill -9");
    faulty.sim.state.set_faults(Faults::default());
    // Page 1 was staged before page 5 was asked for (a page is staged while the next one is
    // fetched and prepared, and the one after may be asked for early); pages 2 to 4 perhaps.
    let staged = staged_pages(&faulty).await;
    assert!((1..=4).contains(&staged), "{staged} pages staged");

    // The next sync finds the run abandoned and continues it.
    let resumed = faulty.sync(&["--page-size", PAGE, "--resume"]).await;
    assert_eq!(resumed["resumed_from"], 2);
    assert_eq!(faulty.sim.state.requests(), clean_requests - staged + 1);
    assert_same_outcome(&faulty, &resumed, &clean, &expected).await;
    let runs = faulty.run(&["runs", "--format", "json"]).await.json();
    assert!(runs[1]["error"].as_str().unwrap().starts_with("abandoned"));
}

async fn an_interrupted_run_is_continued_with_another_page_size(backend: Backend) {
    let (clean, faulty) = twins(backend, 30, 63).await;
    let (expected, _) = clean_sync(&clean).await;

    let child = sync_hanging_at(&faulty, 3).await;
    let pid = child.id().expect("pid").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(kill.expect("kill").success());
    let interrupted: Run = child.wait_with_output().await.expect("sync ends").into();
    assert_eq!(interrupted.code, Some(130), "{}", interrupted.stderr);
    // The page being staged when the signal came was finished.
    assert_eq!(staged_pages(&faulty).await, 2);

    // The marker is a time: the sweep goes on with pages of another size.
    faulty.sim.state.set_faults(Faults::default());
    let resumed = faulty.sync(&["--page-size", "7", "--resume"]).await;
    assert_eq!(resumed["resumed_from"], 2);
    assert_same_outcome(&faulty, &resumed, &clean, &expected).await;
    let runs = faulty.run(&["runs", "--format", "json"]).await.json();
    assert_eq!(runs[1]["error"], "interrupted by SIGINT");
}

/// Connections in threes sharing a `created_at` at four a page: every boundary falls inside a
/// tie, so a sweep stopped at any request stops in the middle of recovering one.
async fn a_sweep_stopped_at_any_page_of_tie_recovery_is_continued_whole(backend: Backend) {
    for inclusive_marker in [false, true] {
        let env = TestEnv::with_inventory(backend, generated_inventory_with_ties(17, 64, 3)).await;
        let faults = |failing_page: Option<u64>| Faults {
            inclusive_marker,
            ..failing_page.map_or_else(Faults::default, failing)
        };
        env.sim.state.set_faults(faults(None));
        let first = env.sync(&["--page-size", "4"]).await;
        assert_eq!(first["added"], 17);
        let full = env.sim.state.requests();
        for stop in 2..=full {
            let case = format!("inclusive {inclusive_marker}, failing request {stop}");
            env.sim.state.set_faults(faults(Some(stop)));
            let failed = env
                .run(&["sync", "--page-size", "4", "--max-retries", "0"])
                .await;
            assert_eq!(failed.code, Some(1), "{case}: {}", failed.stderr);
            assert_eq!(staged_pages(&env).await, stop - 1, "{case}");
            env.sim.state.set_faults(faults(None));
            let resumed = env.sync(&["--page-size", "4", "--resume"]).await;
            assert!(resumed["resumed_from"].is_i64(), "{case}: {resumed}");
            // Every connection, each once, nothing changed or removed, and no doubt.
            let counts = ["added", "removed", "modified"].map(|k| resumed[k].clone());
            assert_eq!(counts, [json!(0), json!(0), json!(0)], "{case}: {resumed}");
            assert_eq!(resumed["unchanged"], 17, "{case}: {resumed}");
            assert_eq!(
                resumed["removals_skipped"],
                Value::Null,
                "{case}: {resumed}"
            );
            let distinct =
                resumed["fetched"].as_u64().unwrap() - resumed["duplicates"].as_u64().unwrap();
            assert_eq!(distinct, 17, "{case}: {resumed}");
            if !inclusive_marker {
                assert_eq!(resumed["duplicates"], 0, "{case}: {resumed}");
            }
            let asked = env.sim.state.requests();
            assert!(asked <= full - (stop - 1) + 1, "{case}: {asked} requests");
        }
    }
}

async fn resume_with_nothing_to_resume_sweeps_from_the_first_page(backend: Backend) {
    let env = TestEnv::generated(backend, 12, 65).await;
    let full = strict_sweep_pages(12, 5) as u64;
    let resume = ["sync", "--page-size", PAGE, "--resume"];
    // No run yet.
    let first = env.run(&resume).await;
    let note = "note: nothing to resume (this scope has no earlier run); swept from the first page";
    assert!(first.assert_ok().stdout.contains(note), "{}", first.stdout);
    assert!(
        first.stdout.contains("12 connections fetched"),
        "{}",
        first.stdout
    );

    // The latest run completed.
    env.sim.state.set_faults(Faults::default());
    let again = env.sync(&["--page-size", PAGE, "--resume"]).await;
    assert_eq!(again["resumed_from"], Value::Null);
    assert_eq!(again["unchanged"], 12);
    assert_eq!(env.sim.state.requests(), full);
    let mut verbose = env.command(&["-v", "sync", "--page-size", PAGE, "--resume"]);
    verbose.env("NO_COLOR", "1");
    let verbose = env.run_cmd(verbose).await;
    assert!(
        verbose.assert_ok().stderr.contains(
            "nothing to resume (run 2, this scope's latest, \
                                            completed); sweeping from the first page"
        ),
        "{}",
        verbose.stderr
    );

    // The latest run failed before it staged a page.
    env.sim.state.set_faults(failing(1));
    failed_sync(&env).await;
    env.sim.state.set_faults(Faults::default());
    let after = env.run(&resume).await;
    assert!(
        after
            .assert_ok()
            .stdout
            .contains("failed before staging a page"),
        "{}",
        after.stdout
    );
    assert_eq!(env.sim.state.requests(), full);
}

async fn without_resume_a_run_starts_from_the_first_page(backend: Backend) {
    let env = TestEnv::generated(backend, 30, 66).await;
    let full = strict_sweep_pages(30, 5) as u64;
    env.sync(&["--page-size", PAGE]).await;
    env.sim.state.set_faults(failing(4));
    failed_sync(&env).await;
    // A scope keeps the staging of its latest failed run only.
    env.sim.state.set_faults(failing(3));
    failed_sync(&env).await;
    let only_run_3 = "SELECT COUNT(*) FROM staged_pages WHERE run_id <> 3";
    assert_eq!(count(&env, only_run_3).await, 0);
    assert_eq!(staged_pages(&env).await, 2);

    env.sim.state.set_faults(Faults::default());
    let fresh = env.sync(&["--page-size", PAGE]).await;
    assert_eq!(fresh["resumed_from"], Value::Null);
    assert_eq!(env.sim.state.requests(), full);
    assert_eq!(fresh["pages"], full);
    assert_eq!(fresh["unchanged"], 30);
    // Its completion deleted what the failed run had staged: nothing is left to resume.
    assert_eq!(staged_pages(&env).await, 0);
    let report = env.sync(&["--page-size", PAGE, "--resume"]).await;
    assert_eq!(report["resumed_from"], Value::Null);
}

/// A connection created after a sweep passed the newest pages is not in it; another scope's run
/// that saw it after the sweep began protects it from removal by the sweep, however much later
/// the sweep is resumed and applied.
async fn a_resumed_sweep_keeps_what_another_run_saw_after_the_sweep_began(backend: Backend) {
    let env = TestEnv::generated(backend, 60, 67).await;
    let mut served = env.sim.state.inventory();
    // A gateway's scope: a filtered sweep infers removals without the API's total_count.
    let gateway = served[0]["vgw_id"].as_str().unwrap().to_owned();
    let scope = ["--page-size", PAGE, "--vgw-id", &gateway];
    let first = env.sync(&scope).await;
    assert!(first["added"].as_u64() > Some(10), "{first}");
    env.sim.state.set_faults(failing(3));
    let failed = env
        .run(&[&["sync", "--max-retries", "0"][..], &scope].concat())
        .await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert_eq!(staged_pages(&env).await, 2);

    let id = "a1b2c3d4-0000-4000-8000-000000000067";
    let mut created = served[0].clone();
    created["id"] = json!(id);
    created["created_at"] = json!("2099-01-01T00:00:00.000Z");
    served.push(created);
    env.sim.state.set_inventory(served);
    env.sim.state.set_faults(Faults::default());
    assert_eq!(env.sync(&["--vpn-id", id]).await["added"], 1);

    let resumed = env.sync(&[&["--resume"][..], &scope].concat()).await;
    assert_eq!(resumed["resumed_from"], 2);
    assert_eq!(resumed["removals_skipped"], Value::Null, "{resumed}");
    assert_eq!(
        (&resumed["added"], &resumed["removed"]),
        (&json!(0), &json!(0))
    );
    assert!(env.export().await.iter().any(|c| c["id"] == id));
}

/// Pages of 3 cannot list instants of 4 connections in full: a sweep that staged such pages and
/// is resumed with pages of 10 (twice) still doubts them, and removes nothing it may not have
/// been shown.
async fn a_resumed_sweep_keeps_the_doubts_of_its_smaller_pages(backend: Backend) {
    let mut inventory = generated_inventory(24, 68);
    for (i, connection) in inventory.iter_mut().enumerate() {
        connection["created_at"] = json!(format!("2025-06-30T12:00:{:02}.500Z", 59 - i / 4));
        // One gateway: a filtered scope, so the API's total_count settles nothing.
        connection["vgw_id"] = json!("gateway-of-ties");
    }
    let env = TestEnv::with_inventory(backend, inventory).await;
    let scope = ["--vgw-id", "gateway-of-ties"];
    let first = env
        .sync(&[&["--page-size", "10"][..], &scope].concat())
        .await;
    assert_eq!(first["added"], 24);

    env.sim.state.set_faults(failing(4));
    let small = ["sync", "--page-size", "3", "--max-retries", "0"];
    let failed = env.run(&[&small[..], &scope].concat()).await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert_eq!(staged_pages(&env).await, 3);
    // Resumed with pages of 10, the sweep fails again after one page; resumed once more.
    env.sim.state.set_faults(failing(2));
    let large = [
        "sync",
        "--page-size",
        "10",
        "--max-retries",
        "0",
        "--resume",
    ];
    let failed = env.run(&[&large[..], &scope].concat()).await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert_eq!(staged_pages(&env).await, 4);
    env.sim.state.set_faults(Faults::default());
    let resumed = env
        .sync(&[&["--page-size", "10", "--resume"][..], &scope].concat())
        .await;
    assert_eq!(resumed["resumed_from"], 3);
    let doubt = resumed["removals_skipped"].as_str().unwrap_or_default();
    assert!(
        doubt.contains("before the sweep was resumed") && doubt.contains("a page of 3"),
        "{resumed}"
    );
    assert_eq!(resumed["removed"], 0);
    assert_eq!(env.export().await.len(), 24);
}
