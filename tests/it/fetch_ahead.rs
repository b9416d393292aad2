//! `sync --fetch-concurrency`: a re-sync sends the requests of the pages it foresees from the
//! inventory ahead of their turn, several on the way at once, and still reads exactly the
//! pages a sequential sweep reads. Checked against a sequential dry run of the same data over
//! random rounds of changes (added connections shift every later page's marker), tied
//! instants at page boundaries, either reading of the marker, and a failing request.

use crate::support::{Backend, TestEnv, assert_same_connections, expected_export, sorted_by_id};
use serde_json::Value;
use std::time::Duration;
use vpn_simulator::server::{generated_inventory, generated_inventory_with_ties};
use vpn_simulator::{Faults, SimConfig, Transient, TransientAnswer};

backend_tests!(
    pages_fetched_ahead_are_those_a_sequential_sweep_reads,
    a_failing_request_ends_the_fetching_ahead_and_loses_nothing,
);

/// A simulator that takes `ms` to answer each request, so that requests overlap.
async fn slow_env(backend: Backend, ms: u64, inventory: Vec<Value>) -> TestEnv {
    let config = SimConfig {
        latency: Duration::from_millis(ms),
        ..SimConfig::default()
    };
    TestEnv::with_config(backend, config, inventory).await
}

/// A small deterministic generator (xorshift), so that a failing round can be replayed.
struct Rounds(u64);

impl Rounds {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A dry run at `--fetch-concurrency 1` (a sequential sweep), then a sync of the same data at
/// `concurrency`: the same pages, connections and changes. Returns the sync's report.
async fn sync_as_sequential(env: &TestEnv, page_size: u32, concurrency: u64, case: &str) -> Value {
    let page_size = page_size.to_string();
    let sequential = env
        .run(&[
            "sync",
            "--dry-run",
            "--output",
            "json",
            "--fetch-concurrency",
            "1",
            "--page-size",
            &page_size,
        ])
        .await;
    let sequential = sequential.assert_ok().json();
    let concurrency = concurrency.to_string();
    let report = env
        .sync(&[
            "--fetch-concurrency",
            &concurrency,
            "--page-size",
            &page_size,
        ])
        .await;
    assert_eq!(report["status"], "complete", "{case}: {report}");
    for (dry, run) in [
        ("pages", "pages"),
        ("fetched", "fetched"),
        ("duplicates", "duplicates"),
        ("would_add", "added"),
        ("would_remove", "removed"),
        ("would_change", "modified"),
        ("unchanged", "unchanged"),
    ] {
        assert_eq!(
            sequential[dry], report[run],
            "{case}: {dry}\n{sequential}\n{report}"
        );
    }
    let served = env.sim.state.as_served();
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    report
}

async fn pages_fetched_ahead_are_those_a_sequential_sweep_reads(backend: Backend) {
    let mut rounds = Rounds(0x9e37_79b9_7f4a_7c15);
    let cases = [
        (40, generated_inventory(400, 11)),
        (200, generated_inventory_with_ties(1000, 81, 3)),
        (4, generated_inventory_with_ties(61, 82, 2)),
    ];
    for (page_size, inventory) in cases {
        for inclusive_marker in [false, true] {
            let env = slow_env(backend, 5, inventory.clone()).await;
            env.sim.state.set_faults(Faults {
                inclusive_marker,
                ..Faults::default()
            });
            let case = format!("page size {page_size}, inclusive {inclusive_marker}");
            env.run(&["migrate"]).await.assert_ok();
            // The first sync has nothing to foresee pages by.
            sync_as_sequential(&env, page_size, 8, &format!("{case}, first")).await;
            let mut overlapped = false;
            for round in 0..4 {
                let changes = env.sim.state.mutate(1 + rounds.below(30) as u32, rounds.0);
                let concurrency = 2 + rounds.below(7);
                let case = format!("{case}, round {round}, concurrency {concurrency}");
                let report = sync_as_sequential(&env, page_size, concurrency, &case).await;
                let recorded = ["added", "removed", "modified"]
                    .iter()
                    .map(|k| report[k].as_u64().unwrap())
                    .sum::<u64>();
                assert_eq!(changes.is_empty(), recorded == 0, "{case}: {report}");
                overlapped |= env.sim.state.take_most_in_flight() > 1;
            }
            // The dry runs ask one page at a time: only the syncs' requests overlapped.
            assert!(
                overlapped,
                "{case}: no two requests were ever on the way at once"
            );
        }
    }
}

async fn a_failing_request_ends_the_fetching_ahead_and_loses_nothing(backend: Backend) {
    let env = slow_env(backend, 5, generated_inventory(600, 12)).await;
    env.sync(&["--page-size", "20"]).await;
    env.sim.state.mutate(20, 5);
    // The first eight requests of the re-sync fail: the first page's, which the sweep waits
    // for (and so retries), and the seven sent ahead with it.
    env.sim.state.set_faults(Faults {
        transient: Some(Transient {
            from: 1,
            times: 8,
            answer: TransientAnswer::Status {
                status: 503,
                body: serde_json::json!({"error_code": "APIG.0308", "error_msg": "busy"}),
                retry_after: Some("0".into()),
            },
        }),
        ..Faults::default()
    });
    let mut sync = env.command(&[
        "sync",
        "--output",
        "json",
        "--page-size",
        "20",
        "--fetch-concurrency",
        "8",
    ]);
    sync.env("VPN_INVENTORY_LOG", "vpn_inventory::sync=debug");
    let run = env.run_cmd(sync).await;
    let report = run.assert_ok().json();
    assert_eq!(report["status"], "complete", "{report}");
    assert!(
        run.stderr.contains("no more requests sent ahead"),
        "{}",
        run.stderr
    );
    let served = env.sim.state.as_served();
    assert_same_connections(&sorted_by_id(env.export().await), &expected_export(&served));
    // Nothing is left to record: the re-sync found every change.
    let again = env
        .sync(&["--page-size", "20", "--fetch-concurrency", "8"])
        .await;
    assert_eq!(again["modified"], 0, "{again}");
    assert_eq!(again["added"], 0, "{again}");
    assert_eq!(again["removed"], 0, "{again}");
}
