//! The CTS traces API end to end: `CtsClient` against the simulator's
//! `GET /v3/{project_id}/traces` over real HTTP on loopback, with real signing. A window lists
//! exactly the traces the simulator's mutations left in it, at any page size; the filter by
//! connection holds; throttling and server errors are asked again; a cycling marker, a missing
//! permission and a bad signature each fail as their own kind.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::time::Duration;
use vpn_inventory::api::client::VpnClient;
use vpn_inventory::api::credentials::{Credentials, Secret};
use vpn_inventory::api::error::FetchError;
use vpn_inventory::api::retry::RetryPolicy;
use vpn_inventory::api::traces::{CtsClient, TraceError, TraceListing, cts_endpoint};
use vpn_simulator::server::{DEMO_ACCESS_KEY, DEMO_PROJECT_ID, DEMO_SECRET_KEY};
use vpn_simulator::{Faults, RunningSimulator, SimConfig, Transient, TransientAnswer, spawn};

async fn simulator(seed: u64) -> RunningSimulator {
    let inventory = vpn_simulator::server::generated_inventory(150, seed);
    spawn(([127, 0, 0, 1], 0).into(), SimConfig::default(), inventory)
        .await
        .expect("simulator starts")
}

/// A CTS client of the simulator, as `sync` will make one from `--endpoint` alone.
fn client(sim: &RunningSimulator, secret_key: &str, page_size: u32) -> CtsClient {
    let credentials = Credentials::AkSk {
        access_key: DEMO_ACCESS_KEY.to_owned(),
        secret_key: Secret::new(secret_key),
        security_token: None,
    };
    let retry = RetryPolicy {
        max_retries: 3,
        request_timeout: Duration::from_secs(30),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let vpn = VpnClient::with_retries(&sim.endpoint(), DEMO_PROJECT_ID, credentials, retry)
        .expect("a VPN client");
    let endpoint = cts_endpoint(None, Some(&sim.endpoint()), None).expect("an endpoint");
    CtsClient::new(&vpn, &endpoint)
        .expect("a CTS client")
        .with_page_size(page_size)
}

fn millis(trace: &Value) -> i64 {
    trace["time"].as_i64().expect("time in ms")
}

/// The simulator's traces whose time falls in `from..=to`, newest first.
fn recorded_in(sim: &RunningSimulator, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Value> {
    let window = from.timestamp_millis()..=to.timestamp_millis();
    let traces = sim.state.traces().into_iter();
    traces.filter(|t| window.contains(&millis(t))).collect()
}

/// The traces of `window` while the traces route acts out `faults`, `page_size` a page.
async fn list_under(
    sim: &RunningSimulator,
    faults: Faults,
    window: RangeInclusive<DateTime<Utc>>,
    page_size: u32,
) -> Result<TraceListing, TraceError> {
    sim.state.set_traces_faults(faults);
    client(sim, DEMO_SECRET_KEY, page_size)
        .list_traces(window, None)
        .await
}

fn raw(listing: &TraceListing) -> Vec<Value> {
    listing.traces.iter().map(|t| t.raw.clone()).collect()
}

/// Mutates the simulator (`rounds` rounds) between two readings of the clock, as between two
/// syncs; returns the clock before and after and the traces the rounds left.
fn changes_between_syncs(
    sim: &RunningSimulator,
    rounds: u32,
) -> (DateTime<Utc>, DateTime<Utc>, Vec<Value>) {
    let before = Utc::now();
    let earlier = sim.state.traces().len();
    sim.state.mutate(rounds, 31);
    let after = Utc::now();
    let traces = sim.state.traces();
    let new = traces[..traces.len() - earlier].to_vec();
    (before, after, new)
}

#[tokio::test]
async fn a_window_lists_exactly_the_traces_its_mutations_left_at_any_page_size() {
    let sim = simulator(3).await;
    changes_between_syncs(&sim, 4);
    let (before, after, new) = changes_between_syncs(&sim, 12);
    assert!(new.len() > 10, "too few traces to page: {}", new.len());
    for trace in &new {
        let at = millis(trace);
        let (from, to) = (before.timestamp_millis(), after.timestamp_millis());
        assert!((from..=to).contains(&at), "{at} outside {from}..={to}");
    }
    let expected = recorded_in(&sim, before, after);
    assert!(new.iter().all(|t| expected.contains(t)));
    for page_size in [1, 2, 200] {
        let listing = client(&sim, DEMO_SECRET_KEY, page_size)
            .list_traces(before..=after, None)
            .await
            .expect("traces");
        assert_eq!(raw(&listing), expected, "page size {page_size}");
        let pages = expected.len().div_ceil(page_size as usize).max(1);
        assert_eq!(listing.pages as usize, pages, "page size {page_size}");
        assert_eq!(listing.expired_from, None);
    }
    // The typed fields are read from the trace as sent.
    let listing = client(&sim, DEMO_SECRET_KEY, 200)
        .list_traces(before..=after, None)
        .await
        .expect("traces");
    for (trace, sent) in listing.traces.iter().zip(&expected) {
        assert_eq!(trace.trace_id, sent["trace_id"]);
        assert_eq!(trace.time.timestamp_millis(), millis(sent));
        assert_eq!(trace.resource_id.as_deref(), sent["resource_id"].as_str());
        assert_eq!(trace.trace_name.as_deref(), sent["trace_name"].as_str());
        let user = trace.user.as_ref().expect("a user");
        assert_eq!(user.name.as_deref(), sent["user"]["name"].as_str());
        assert_eq!(trace.source_ip.as_deref(), sent["source_ip"].as_str());
        assert_eq!(trace.code.as_deref(), Some("200"));
    }
}

#[tokio::test]
async fn each_connection_a_round_changes_leaves_one_trace_of_its_operation() {
    const ROUNDS: usize = 12;
    let sim = simulator(4).await;
    let mut operations = BTreeSet::new();
    for _ in 0..ROUNDS {
        let served_before = sim.state.inventory();
        let before = sim.state.traces().len();
        let changes = sim.state.mutate(1, 8);
        let traces = sim.state.traces();
        let new = &traces[..traces.len() - before];
        let touched: BTreeSet<(String, &str)> = changes
            .iter()
            .map(|change| {
                let operation = match change.change {
                    "added" => "createVpnConnection",
                    "removed" => "deleteVpnConnection",
                    _ => "updateVpnConnection",
                };
                (change.connection_id.clone(), operation)
            })
            .collect();
        let traced: Vec<(String, &str)> = new
            .iter()
            .map(|t| {
                let id = t["resource_id"].as_str().expect("resource_id").to_owned();
                (id, t["trace_name"].as_str().expect("trace_name"))
            })
            .collect();
        assert_eq!(traced.len(), touched.len(), "one trace per connection");
        assert_eq!(traced.iter().cloned().collect::<BTreeSet<_>>(), touched);
        // Each is named as the round left it, a deleted one as it was.
        let served_after = sim.state.inventory();
        for trace in new {
            let served = match trace["trace_name"].as_str() {
                Some("deleteVpnConnection") => &served_before,
                _ => &served_after,
            };
            let connection = served.iter().find(|c| c["id"] == trace["resource_id"]);
            let name = connection.map_or(&Value::Null, |c| &c["name"]);
            assert_eq!(&trace["resource_name"], name, "{trace}");
        }
        operations.extend(touched.into_iter().map(|(_, operation)| operation));
    }
    assert_eq!(operations.len(), 3, "{operations:?}");
    // The same seed leaves the same traces, times aside.
    let twin = simulator(4).await;
    for _ in 0..ROUNDS {
        twin.state.mutate(1, 8);
    }
    let without_times = |traces: Vec<Value>| -> Vec<Value> {
        let strip = |mut t: Value| {
            t["time"] = Value::Null;
            t["record_time"] = Value::Null;
            t
        };
        traces.into_iter().map(strip).collect()
    };
    assert_eq!(
        without_times(twin.state.traces()),
        without_times(sim.state.traces())
    );
}

#[tokio::test]
async fn the_resource_filter_lists_one_connections_traces() {
    let sim = simulator(5).await;
    let (before, after, new) = changes_between_syncs(&sim, 10);
    let id = new[new.len() / 2]["resource_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let expected: Vec<Value> = recorded_in(&sim, before, after)
        .into_iter()
        .filter(|t| t["resource_id"] == id.as_str())
        .collect();
    assert!(!expected.is_empty());
    let listing = client(&sim, DEMO_SECRET_KEY, 1)
        .list_traces(before..=after, Some(&id))
        .await
        .expect("traces");
    assert_eq!(raw(&listing), expected);
}

#[tokio::test]
async fn throttling_and_server_errors_are_asked_again() {
    let sim = simulator(6).await;
    let (before, after, _) = changes_between_syncs(&sim, 10);
    let expected = recorded_in(&sim, before, after);
    for (status, body) in [
        (
            429,
            json!({"error_code": "APIG.0308", "error_msg": "throttled"}),
        ),
        (
            503,
            json!({"error_code": "CTS.0500", "error_msg": "unavailable"}),
        ),
    ] {
        let faults = Faults {
            transient: Some(Transient {
                from: 2,
                times: 2,
                answer: TransientAnswer::Status {
                    status,
                    body,
                    retry_after: None,
                },
            }),
            ..Faults::default()
        };
        let listing = list_under(&sim, faults, before..=after, 2)
            .await
            .expect("traces despite the faults");
        assert_eq!(raw(&listing), expected, "{status}");
        assert_eq!(
            sim.state.traces_requests(),
            u64::from(listing.pages) + 2,
            "{status}: two requests asked again"
        );
    }
    // The list route's own count saw none of it.
    assert_eq!(sim.state.requests(), 0);
}

#[tokio::test]
async fn a_cycling_marker_stops_the_listing_naming_page_and_marker() {
    let sim = simulator(7).await;
    let (before, after, _) = changes_between_syncs(&sim, 10);
    for faults in [
        Faults {
            stuck_marker: true,
            ..Faults::default()
        },
        Faults {
            replay_from_page: Some(3),
            ..Faults::default()
        },
    ] {
        let error = list_under(&sim, faults.clone(), before..=after, 2)
            .await
            .expect_err("a cycle");
        let TraceError::MarkerCycle { page, marker } = &error else {
            panic!("{faults:?}: {error:#}");
        };
        assert_eq!(*page, if faults.stuck_marker { 2 } else { 3 }, "{error}");
        let message = error.to_string();
        assert!(message.contains(marker.as_str()), "{message}");
    }
}

#[tokio::test]
async fn a_missing_permission_is_its_own_error() {
    let sim = simulator(8).await;
    let (before, after, _) = changes_between_syncs(&sim, 2);
    let faults = Faults {
        missing_cts_permission: true,
        ..Faults::default()
    };
    let error = list_under(&sim, faults, before..=after, 200)
        .await
        .expect_err("forbidden");
    let TraceError::MissingPermission(api) = &error else {
        panic!("{error:#}");
    };
    assert_eq!(api.status, 403);
    assert!(api.code.as_deref().is_some_and(|c| c.starts_with("CTS.")));
    let chain = format!("{:#}", anyhow::Error::from(error));
    assert!(chain.contains("cts:trace:list"), "{chain}");
    assert_eq!(sim.state.traces_requests(), 1, "a 403 is not asked again");
}

#[tokio::test]
async fn a_bad_signature_is_refused_and_the_secret_is_not_shown() {
    let sim = simulator(9).await;
    let (before, after, _) = changes_between_syncs(&sim, 2);
    let wrong = "NotTheSecretKeyOfTheSimulator0000000001";
    let error = client(&sim, wrong, 200)
        .list_traces(before..=after, None)
        .await
        .expect_err("refused");
    let TraceError::Fetch {
        page: 1,
        source: FetchError::Api(api),
    } = &error
    else {
        panic!("{error:#}");
    };
    assert_eq!((api.status, api.code.as_deref()), (401, Some("APIG.0301")));
    let chain = format!("{:#}", anyhow::Error::from(error));
    assert!(!chain.contains(wrong), "{chain}");
}

#[tokio::test]
async fn a_window_older_than_cts_keeps_says_so_and_lists_the_rest() {
    let sim = simulator(10).await;
    let (before, after, new) = changes_between_syncs(&sim, 5);
    let from = before - chrono::TimeDelta::days(8);
    let listing = client(&sim, DEMO_SECRET_KEY, 200)
        .list_traces(from..=after, None)
        .await
        .expect("traces");
    assert_eq!(listing.expired_from, Some(from));
    assert_eq!(raw(&listing), recorded_in(&sim, from, after));
    assert!(
        new.iter()
            .all(|t| listing.traces.iter().any(|l| &l.raw == t))
    );
}

#[tokio::test]
async fn a_broken_page_and_a_redirect_fail_naming_the_page() {
    let sim = simulator(11).await;
    let (before, after, _) = changes_between_syncs(&sim, 10);
    let malformed = Faults {
        malformed_page: Some(2),
        ..Faults::default()
    };
    let error = list_under(&sim, malformed, before..=after, 2)
        .await
        .expect_err("a page cut in half");
    assert!(
        matches!(
            error,
            TraceError::Fetch {
                page: 2,
                source: FetchError::Json(_)
            }
        ),
        "{error:#}"
    );
    let redirect = Faults {
        redirect_to: Some("http://elsewhere.example/".to_owned()),
        ..Faults::default()
    };
    let error = list_under(&sim, redirect, before..=after, 2)
        .await
        .expect_err("a redirect");
    let chain = format!("{:#}", anyhow::Error::from(error));
    assert!(
        chain.starts_with("CTS traces page 1 failed: ") && chain.contains("not followed"),
        "{chain}"
    );
}
