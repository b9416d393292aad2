//! The reports: `vpn-inventory report` runs the built-in ones (queries/) and a user's own, the
//! same on both backends, with their answers checked against what the simulator served.

use crate::support::{Backend, TestEnv};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use vpn_inventory::reports::{Kind, Report};
use vpn_simulator::mutate::AppliedChange;

backend_tests!(
    weak_crypto_and_status_reports_match_the_served_inventory,
    subnet_overlap_finds_every_overlapping_pair,
    history_reports_follow_the_runs,
    reports_change_nothing_and_say_what_is_wrong,
    a_large_result_is_written_in_every_format,
    two_projects_are_told_apart_in_every_report,
    every_report_runs_without_rows_in_every_format,
    a_report_that_is_not_one_read_only_query_is_refused,
    the_store_refuses_sql_that_leaves_its_read_only_transaction,
);

/// `report NAME --format json` with `--param` for each of `params`; must succeed.
async fn report(env: &TestEnv, name: &str, params: &[&str]) -> Vec<Value> {
    let mut args = vec!["report", name, "--format", "json"];
    for param in params {
        args.extend(["--param", param]);
    }
    let run = env.run(&args).await;
    match run.assert_ok().json() {
        Value::Array(rows) => rows,
        other => panic!("{name}: not an array: {other}"),
    }
}

fn text<'a>(row: &'a Value, column: &str) -> &'a str {
    row[column]
        .as_str()
        .unwrap_or_else(|| panic!("{column} in {row}"))
}

/// The weak settings of one served connection, as (policy, setting, value, finding).
fn weak_settings(conn: &Value) -> Vec<(String, String, String, String)> {
    let mut found = Vec::new();
    let mut find = |policy: &str, setting: &str, weak: &[&str], finding: &str| {
        if let Some(value) = conn[policy][setting].as_str().filter(|v| weak.contains(v)) {
            let row = (policy.into(), setting.into(), value.into(), finding.into());
            found.push(row);
        }
    };
    let dh = ["group1", "group2", "group5"];
    for policy in ["ikepolicy", "ipsecpolicy"] {
        find(
            policy,
            "encryption_algorithm",
            &["3des", "des"],
            "weak encryption",
        );
        find(
            policy,
            "authentication_algorithm",
            &["md5", "sha1"],
            "weak integrity",
        );
    }
    find("ikepolicy", "dh_group", &dh, "weak Diffie-Hellman group");
    find("ipsecpolicy", "pfs", &dh, "weak Diffie-Hellman group");
    find("ipsecpolicy", "pfs", &["disable"], "PFS disabled");
    find("ikepolicy", "ike_version", &["v1"], "IKEv1");
    find(
        "ikepolicy",
        "phase1_negotiation_mode",
        &["aggressive"],
        "IKEv1 aggressive mode",
    );
    found
}

async fn weak_crypto_and_status_reports_match_the_served_inventory(backend: Backend) {
    let env = TestEnv::generated(backend, 400, 21).await;
    env.sync(&[]).await;
    let served = env.sim.state.inventory();

    let mut actual: Vec<[String; 5]> = report(&env, "weak-crypto", &[])
        .await
        .iter()
        .map(|r| ["id", "policy", "setting", "value", "finding"].map(|c| text(r, c).to_owned()))
        .collect();
    let mut expected: Vec<[String; 5]> = served
        .iter()
        .flat_map(|c| {
            let id = c["id"].as_str().unwrap().to_owned();
            weak_settings(c)
                .into_iter()
                .map(move |(p, s, v, f)| [id.clone(), p, s, v, f])
        })
        .collect();
    actual.sort();
    expected.sort();
    let findings: std::collections::BTreeSet<&str> =
        expected.iter().map(|r| r[4].as_str()).collect();
    assert_eq!(
        findings.len(),
        6,
        "every kind of finding occurs: {findings:?}"
    );
    assert_eq!(actual, expected);

    let rows = report(&env, "status-by-style", &[]).await;
    let count = |r: &Value| usize::try_from(r["connections"].as_i64().unwrap()).unwrap();
    assert_eq!(rows.iter().map(count).sum::<usize>(), served.len());
    let active_policy = served
        .iter()
        .filter(|c| c["status"] == "ACTIVE" && c["style"] == "POLICY")
        .count();
    let row = rows
        .iter()
        .find(|r| r["style"] == "POLICY" && r["status"] == "ACTIVE")
        .map_or(0, count);
    assert_eq!(row, active_policy);

    let summary = report(&env, "inventory-summary", &[]).await;
    let project = env.config.project_id.as_str();
    assert_eq!(
        summary[0],
        json!({"project_id": project, "dimension": "total", "value": "all", "connections": 400})
    );
    for dimension in [
        "status",
        "style",
        "gateway",
        "enterprise_project",
        "ha_role",
    ] {
        let total: usize = summary
            .iter()
            .filter(|r| r["dimension"] == dimension)
            .map(count)
            .sum();
        assert_eq!(total, 400, "{dimension}");
    }
    let without_dpd = served
        .iter()
        .filter(|c| !c["ikepolicy"]["dpd"].is_object())
        .count();
    assert!(without_dpd > 0);
    assert_eq!(report(&env, "dpd-off", &[]).await.len(), without_dpd);
    bgp_down_ages_count_to_now(&env, &served).await;
    let missing = report(&env, "missing-tags", &["keys=env"]).await;
    let with_env = |c: &&Value| {
        c["tags"].as_array().is_some_and(|tags| {
            tags.iter()
                .any(|t| t["key"] == "env" && t["value"].as_str().is_some_and(|v| !v.is_empty()))
        })
    };
    assert_eq!(
        missing.len(),
        served.iter().filter(|c| !with_env(c)).count()
    );
}

/// bgp-down measures each session's time in its state to `at` (now by default): the API's
/// state_duration as of the sync, plus the time since.
async fn bgp_down_ages_count_to_now(env: &TestEnv, served: &[Value]) {
    let at = "2030-01-01T00:00:00Z";
    let rows = report(env, "bgp-down", &[&format!("at={at}")]).await;
    assert!(!rows.is_empty());
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    for row in &rows {
        let conn = served.iter().find(|c| c["id"] == row["id"]).unwrap();
        let reported = chrono::DateTime::parse_from_rfc3339(text(row, "reported_at")).unwrap();
        let since = (at - reported).num_milliseconds() as f64 / 1000.0;
        let expected = conn["bgp_peer"]["state_duration"].as_i64().unwrap() + since.round() as i64;
        let got = row["state_seconds"].as_i64().unwrap();
        // SQLite's julianday() counts milliseconds: a half second may round either way.
        assert!((got - expected).abs() <= 1, "{got} != {expected}: {row}");
        let days = got / 86400;
        assert!(
            text(row, "state_for").starts_with(&format!("{days}d ")),
            "{row}"
        );
    }
    // Measured to now, not to the sync: a session down an hour at the sync is down longer.
    let now = report(env, "bgp-down", &[]).await;
    let first = now.iter().find(|r| r["id"] == rows[0]["id"]).unwrap();
    let conn = served.iter().find(|c| c["id"] == first["id"]).unwrap();
    let duration = conn["bgp_peer"]["state_duration"].as_i64().unwrap();
    assert!(
        first["state_seconds"].as_i64().unwrap() >= duration,
        "{first}"
    );
}

/// One network of a served connection: its connection, gateway, API path and text, whether
/// it is local (a policy rule source), and its first and last address.
struct Network {
    connection: String,
    gateway: String,
    path: String,
    cidr: String,
    local: bool,
    range: (u128, u128),
}

/// The range of a CIDR as the simulator writes them (`10.1.0.0/16`, `2001:db8::/64`), IPv4 in
/// IPv6's mapped space.
fn range(cidr: &str) -> (u128, u128) {
    let (address, length) = cidr.split_once('/').unwrap();
    let length: u32 = length.parse().unwrap();
    let (bits, width) = match address.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let host = if width - length == 128 {
        u128::MAX
    } else {
        (1u128 << (width - length)) - 1
    };
    (bits & !host, bits | host)
}

fn networks(served: &[Value]) -> Vec<Network> {
    let mut out = Vec::new();
    for c in served {
        let mut add = |path: String, cidr: &Value, local: bool| {
            let cidr = cidr.as_str().unwrap().to_owned();
            out.push(Network {
                connection: c["id"].as_str().unwrap().into(),
                gateway: c["vgw_id"].as_str().unwrap().into(),
                path,
                range: range(&cidr),
                cidr,
                local,
            });
        };
        for list in ["peer_subnets", "peer_subnets_v6"] {
            for cidr in c[list].as_array().into_iter().flatten() {
                add(list.to_owned(), cidr, false);
            }
        }
        for list in ["policy_rules", "policy_rules_v6"] {
            for rule in c[list].as_array().into_iter().flatten() {
                let at = format!("{list}[{}]", rule["rule_index"]);
                add(format!("{at}.source"), &rule["source"], true);
                for cidr in rule["destination"].as_array().into_iter().flatten() {
                    add(format!("{at}.destination"), cidr, false);
                }
            }
        }
    }
    out
}

/// A pair of networks, each as (connection, path, cidr), in sorted order, with its scope.
type Pair = (String, [(String, String, String); 2]);

async fn subnet_overlap_finds_every_overlapping_pair(backend: Backend) {
    let env = TestEnv::generated(backend, 300, 23).await;
    // Besides the simulator's networks: "any" (which holds every other network of its
    // family), and prefixes that end inside a hex digit, nested in each other.
    let mut served = env.sim.state.inventory();
    let odd = [
        "0.0.0.0/0",
        "10.0.0.0/9",
        "10.1.0.0/17",
        "10.1.2.0/30",
        "10.1.2.0/31",
    ];
    for (i, conn) in served.iter_mut().enumerate().step_by(37) {
        if let Some(Value::Array(subnets)) = conn.get_mut("peer_subnets") {
            subnets.push(odd[i % odd.len()].into());
            subnets.push(odd[(i + 2) % odd.len()].into());
        }
        if let Some(Value::Array(subnets)) = conn.get_mut("peer_subnets_v6") {
            subnets.push("::/0".into());
        }
    }
    env.sim.state.set_inventory(served);
    env.sync(&[]).await;
    let nets = networks(&env.sim.state.inventory());
    assert!(
        nets.iter().any(|n| n.cidr.contains(':')),
        "IPv6 networks too"
    );
    let mut expected: Vec<Pair> = Vec::new();
    for (i, a) in nets.iter().enumerate() {
        for b in &nets[i + 1..] {
            let overlap = a.range.0 <= b.range.1 && b.range.0 <= a.range.1;
            if overlap && !(a.local && b.local) {
                let scope = if a.connection == b.connection {
                    "connection"
                } else if a.gateway == b.gateway {
                    "gateway"
                } else {
                    "across"
                };
                let key = |n: &Network| (n.connection.clone(), n.path.clone(), n.cidr.clone());
                let mut pair = [key(a), key(b)];
                pair.sort();
                expected.push((scope.to_owned(), pair));
            }
        }
    }
    let rows = report(&env, "subnet-overlap-pairs", &[]).await;
    let mut actual: Vec<Pair> = rows
        .iter()
        .map(|r| {
            let side = |prefix: &str| {
                let column = |c: &str| text(r, &format!("{prefix}{c}")).to_owned();
                (column("connection_id"), column("path"), column("network"))
            };
            let mut pair = [side(""), side("other_")];
            pair.sort();
            (text(r, "scope").to_owned(), pair)
        })
        .collect();
    expected.sort();
    actual.sort();
    let scopes: std::collections::BTreeSet<&str> = expected.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(scopes.len(), 3, "pairs of every scope: {scopes:?}");
    assert_eq!(actual.len(), expected.len());
    assert_eq!(actual, expected);
    // In the documented order: project, scope, then the first network's gateway, connection
    // and path (then its position and the other network, which the rows do not all show).
    let keys: Vec<(String, usize, String, String, String)> = rows
        .iter()
        .map(|r| {
            let scope = ["connection", "gateway", "across"]
                .iter()
                .position(|s| r["scope"] == *s);
            let owned = |c: &str| text(r, c).to_owned();
            let (project, connection, path) =
                (owned("project_id"), owned("connection_id"), owned("path"));
            (project, scope.unwrap(), owned("vgw_id"), connection, path)
        })
        .collect();
    assert!(keys.is_sorted(), "rows out of order");
    // Each row names the wider network first.
    for r in &rows {
        let (wide, narrow) = (range(text(r, "network")), range(text(r, "other_network")));
        assert!(wide.0 <= narrow.0 && narrow.1 <= wide.1, "{r}");
        assert_eq!(r["relation"] == "same", wide == narrow, "{r}");
    }
    let gateway = report(&env, "subnet-overlap-pairs", &["scope=gateway,connection"]).await;
    let near = expected.iter().filter(|p| p.0 != "across").count();
    assert_eq!(gateway.len(), near);
    // The scope filters apply as networks meet: each scope alone gives its own pairs.
    for scope in ["connection", "gateway", "across"] {
        let rows = report(&env, "subnet-overlap-pairs", &[&format!("scope={scope}")]).await;
        assert!(rows.iter().all(|r| r["scope"] == scope), "{scope}");
        let of_scope = expected.iter().filter(|p| p.0 == scope).count();
        assert_eq!(rows.len(), of_scope, "{scope}");
    }

    // subnet-overlap: a row per network of a pair, counting the pairs it is in, by scope,
    // and how many of them are two equal networks. Counts of a scope left out are NULL.
    let scopes = ["connection", "gateway", "across"];
    let columns = ["same", "in_connection", "on_gateway", "across_gateways"];
    for listed in [&scopes[..], &["gateway"], &["connection", "across"]] {
        let mut expected_counts: BTreeMap<(String, String, String), [i64; 4]> = BTreeMap::new();
        for (scope, pair) in expected.iter().filter(|p| listed.contains(&p.0.as_str())) {
            let same = range(&pair[0].2) == range(&pair[1].2);
            let near = 1 + scopes.iter().position(|s| s == scope).unwrap();
            for side in pair {
                let counts = expected_counts.entry(side.clone()).or_default();
                counts[0] += i64::from(same);
                counts[near] += 1;
            }
        }
        let param = format!("scope={}", listed.join(","));
        let rows = report(&env, "subnet-overlap", &[&param]).await;
        let mut actual: BTreeMap<(String, String, String), [i64; 4]> = BTreeMap::new();
        for r in &rows {
            let count = |column: &str| r[column].as_i64().unwrap_or(0);
            for (scope, column) in scopes.iter().zip(&columns[1..]) {
                assert_eq!(r[column].is_null(), !listed.contains(scope), "{param}: {r}");
            }
            let near: i64 = columns[1..].iter().map(|c| count(c)).sum();
            assert!(near > 0 && count("overlaps") == near, "{param}: {r}");
            let key = |c: &str| text(r, c).to_owned();
            let key = (key("connection_id"), key("path"), key("network"));
            let counts = actual.entry(key).or_default();
            for (sum, column) in counts.iter_mut().zip(columns) {
                *sum += count(column);
            }
        }
        assert!(!actual.is_empty(), "{param}");
        assert_eq!(actual, expected_counts, "{param}");
        let order: Vec<(String, String, String, String)> = rows
            .iter()
            .map(|r| {
                let owned = |c: &str| text(r, c).to_owned();
                let (project, gateway) = (owned("project_id"), owned("vgw_id"));
                (project, gateway, owned("connection_id"), owned("path"))
            })
            .collect();
        assert!(order.is_sorted(), "{param}: rows out of order");
    }
}

/// Syncs, then applies `rounds` of simulated changes and syncs again; returns the changes.
async fn sync_changes(env: &TestEnv, rounds: u32, seed: u64) -> Vec<AppliedChange> {
    let changes = env.sim.state.mutate(rounds, seed);
    env.sync(&[]).await;
    changes
}

/// The ids the simulator serves, sorted.
fn served_ids(env: &TestEnv) -> Vec<String> {
    let mut ids: Vec<String> = env
        .sim
        .state
        .inventory()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn history_reports_follow_the_runs(backend: Backend) {
    let env = TestEnv::generated(backend, 80, 25).await;
    env.sync(&[]).await;
    let first = served_ids(&env);
    let changes = sync_changes(&env, 2, 7).await;
    assert!(changes.iter().any(|c| c.change == "modified"));

    // recent-changes: everything of the last day, run 2's records as the simulator made them;
    // run 1's adds, the baseline, only when asked for, and said on stderr when left out.
    let recent = report(&env, "recent-changes", &[]).await;
    assert!(recent.iter().all(|r| r["run_id"] == 2), "no baseline");
    assert_eq!(recent.len(), changes.len());
    let told = env
        .run(&["report", "recent-changes", "--format", "csv"])
        .await;
    assert!(
        told.assert_ok()
            .stderr
            .contains("80 baseline records left out: what run 1 found"),
        "{}",
        told.stderr
    );
    let with_baseline = report(&env, "recent-changes", &["include_baseline=true"]).await;
    assert_eq!(with_baseline.len(), 80 + changes.len());
    let baseline = with_baseline.iter().filter(|r| r["run_id"] == 1);
    assert!(baseline.clone().all(|r| r["change"] == "added"));
    assert_eq!(baseline.count(), 80);
    let asked = [
        "report",
        "recent-changes",
        "--param",
        "include_baseline=true",
    ];
    let quiet = env.run(&asked).await;
    assert!(
        !quiet.assert_ok().stderr.contains("left out"),
        "{}",
        quiet.stderr
    );
    // Values are JSON, not JSON in a string; times RFC 3339 in UTC.
    let status = recent.iter().find(|r| r["field"] == "status");
    if let Some(status) = status {
        assert!(status["new_value"].is_string(), "{status}");
    }
    for row in &recent {
        assert!(
            !row["old_value"]
                .as_str()
                .is_some_and(|s| s.starts_with(['{', '['])),
            "{row}"
        );
        let at = text(row, "detected_at");
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z'),
            "{at}"
        );
    }
    let config_first = recent
        .windows(2)
        .all(|w| !(w[0]["category"] == "state" && w[1]["category"] == "config"));
    assert!(config_first, "config changes come first");
    let state = report(&env, "recent-changes", &["category=state"]).await;
    assert!(state.iter().all(|r| r["category"] == "state"));
    let later = report(&env, "recent-changes", &["since=2999-01-01"]).await;
    assert!(later.is_empty());
    // No rows still have columns.
    let args = [
        "report",
        "recent-changes",
        "--param",
        "since=2999-01-01",
        "--format",
        "csv",
    ];
    let header = env.run(&args).await;
    assert!(
        header
            .assert_ok()
            .stdout
            .starts_with("category,detected_at,run_id,project_id,"),
        "{}",
        header.stdout
    );

    // inventory-at: as after run 1, by id and by a time after it; latest by default.
    let ids = |rows: &[Value]| {
        let mut ids: Vec<String> = rows.iter().map(|r| text(r, "id").to_owned()).collect();
        ids.sort();
        ids
    };
    let mut first_ids = first.clone();
    first_ids.sort();
    assert_eq!(
        ids(&report(&env, "inventory-at", &["at=1"]).await),
        first_ids
    );
    let current = served_ids(&env);
    assert_eq!(ids(&report(&env, "inventory-at", &[]).await), current);
    assert_eq!(
        ids(&report(&env, "inventory-at", &["at=now"]).await),
        current
    );

    // connection-timeline: the first modified connection, by id and by its name.
    let modified = changes.iter().find(|c| c.change == "modified").unwrap();
    let id = modified.connection_id.as_str();
    let timeline = report(&env, "connection-timeline", &[&format!("connection={id}")]).await;
    let events: Vec<(i64, &str)> = timeline
        .iter()
        .map(|r| (r["apply_seq"].as_i64().unwrap(), text(r, "event")))
        .collect();
    assert_eq!(events[0], (1, "added"));
    assert_eq!(events[1], (1, "version"));
    assert_eq!(events.last().map(|e| e.1), Some("version"));
    let modifications = changes
        .iter()
        .filter(|c| c.connection_id == id && c.change == "modified")
        .count();
    assert_eq!(
        events.iter().filter(|e| e.1 == "modified").count(),
        modifications
    );
    assert!(
        events.windows(2).all(|w| w[0].0 <= w[1].0),
        "oldest first: {events:?}"
    );
    let name = timeline.last().unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_name = report(
        &env,
        "connection-timeline",
        &[&format!("connection={name}")],
    )
    .await;
    assert!(by_name.iter().any(|r| r["connection_id"] == id));

    // churn: the most changed first; runs and records counted per connection, the baseline
    // only when asked for.
    let runs = |churn: &[Value]| -> Vec<i64> {
        let runs: Vec<i64> = churn
            .iter()
            .map(|r| r["runs_with_changes"].as_i64().unwrap())
            .collect();
        assert!(runs.windows(2).all(|w| w[0] >= w[1]), "{runs:?}");
        runs
    };
    let with_baseline = report(&env, "churn", &["limit=3", "include_baseline=true"]).await;
    assert_eq!(
        runs(&with_baseline)[0],
        2,
        "added in run 1, changed in run 2"
    );
    let churn = report(&env, "churn", &["limit=3"]).await;
    assert_eq!(churn.len(), 3);
    assert_eq!(
        runs(&churn)[0],
        1,
        "changed in run 2; run 1's adds were its baseline"
    );
    let per_row =
        |r: &Value| r["config_changes"].as_i64().unwrap() + r["state_changes"].as_i64().unwrap();
    assert!(
        churn
            .iter()
            .all(|r| per_row(r) == r["changes"].as_i64().unwrap())
    );
}

/// Every built-in report, run with its defaults (and a few other parameters) on SQLite and on
/// PostgreSQL over the same synced history, returns the same rows. Normalized only where the
/// two databases must differ: each sync stamps its own clock, so times become their rank
/// among the report's times, and PostgreSQL's jsonb keeps object keys in an order of its own,
/// so JSON objects compare as values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_gives_the_same_rows_on_both_backends() {
    let mut results: Vec<BTreeMap<String, Vec<Value>>> = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let env = TestEnv::generated(backend, 300, 29).await;
        env.sync(&[]).await;
        let changes = sync_changes(&env, 4, 9).await;
        sync_changes(&env, 4, 9).await;
        // And a state change for sure: a tunnel goes down.
        let mut served = env.sim.state.inventory();
        let up = served.iter_mut().find(|c| c["status"] == "ACTIVE").unwrap();
        up["status"] = "DOWN".into();
        env.sim.state.set_inventory(served);
        env.sync(&[]).await;
        let modified = changes.iter().find(|c| c.change == "modified").unwrap();
        let timeline = format!("connection={}", modified.connection_id);
        let list = env.run(&["report", "--list", "--format", "json"]).await;
        let mut cases: Vec<(String, Vec<String>)> = list
            .assert_ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| text(r, "name").to_owned())
            .filter(|name| name != "connection-timeline")
            .map(|name| (name, Vec::new()))
            .collect();
        assert!(cases.len() >= 12, "{cases:?}");
        for (name, param) in [
            ("connection-timeline", timeline.as_str()),
            ("inventory-at", "at=2"),
            ("recent-changes", "category=state"),
            ("missing-tags", "keys=env,cost-center"),
            ("churn", "limit=5"),
            ("subnet-overlap", "scope=gateway"),
            ("subnet-overlap-pairs", "scope=gateway,across"),
            ("lifetimes", "ike_max=28800"),
        ] {
            cases.push((name.to_owned(), vec![param.to_owned()]));
        }
        let mut rows = BTreeMap::new();
        for (name, params) in cases {
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            let label = format!("{name} {}", params.join(" "));
            let got = report(&env, &name, &params).await;
            assert!(
                !got.is_empty(),
                "{label} on {backend:?}: no rows to compare"
            );
            rows.insert(label, normalized(got));
        }
        results.push(rows);
    }
    let (sqlite, postgres) = (&results[0], &results[1]);
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>()
    );
    for (label, rows) in sqlite {
        let other = &postgres[label];
        if let Some(i) = (0..rows.len().max(other.len())).find(|&i| rows.get(i) != other.get(i)) {
            panic!(
                "{label}: row {i} differs ({} rows on SQLite, {} on PostgreSQL)\n\
                 SQLite:     {:?}\nPostgreSQL: {:?}",
                rows.len(),
                other.len(),
                rows.get(i),
                other.get(i)
            );
        }
    }
}

/// bgp-down's ages count from each backend's own sync to now: they differ by the moment.
/// `bgp_down_ages_count_to_now` checks them.
const OF_THE_MOMENT: [&str; 2] = ["state_seconds", "state_for"];

/// Times as their rank among the rows' times; JSON object text as the value it spells.
fn normalized(rows: Vec<Value>) -> Vec<Value> {
    // Reports print times in RFC 3339, UTC (`2026-11-28T15:38:53.839686Z`).
    let time = |v: &Value| {
        v.as_str()
            .filter(|s| s.ends_with('Z'))
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    let mut times: Vec<_> = rows
        .iter()
        .flat_map(|r| r.as_object().unwrap().values())
        .filter_map(time)
        .collect();
    times.sort();
    times.dedup();
    rows.into_iter()
        .map(|row| {
            let row = row.as_object().unwrap().iter();
            let kept = row.filter(|(column, _)| !OF_THE_MOMENT.contains(&column.as_str()));
            let object = kept.map(|(column, value)| {
                let value = if let Some(t) = time(value) {
                    json!(format!("time #{}", times.binary_search(&t).unwrap()))
                } else if let Some(object) = value
                    .as_str()
                    .filter(|s| s.starts_with('{'))
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                {
                    object
                } else {
                    value.clone()
                };
                (column.clone(), value)
            });
            Value::Object(object.collect())
        })
        .collect()
}

async fn reports_change_nothing_and_say_what_is_wrong(backend: Backend) {
    let env = TestEnv::generated(backend, 20, 27).await;
    env.sync(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };

    // A report of one's own: header, parameters (a list among them), any output format.
    let mine = file(
        "by-status.sql",
        "-- title: Connections in some statuses\n\
         -- param: statuses list = ACTIVE  Which statuses.\n\
         -- param: least integer = 1  Smallest count shown.\n\
         SELECT status, COUNT(*) AS n FROM connections WHERE status IN (:statuses)\n\
         GROUP BY status HAVING COUNT(*) >= :least ORDER BY status;\n",
    );
    let run = env
        .run(&[
            "report",
            "--file",
            &mine,
            "--param",
            "statuses=ACTIVE,DOWN",
            "--format",
            "csv",
        ])
        .await;
    let csv = &run.assert_ok().stdout;
    assert!(csv.starts_with("status,n\nACTIVE,"), "{csv}");
    let markdown = env
        .run(&["report", "--file", &mine, "--format", "markdown"])
        .await;
    assert!(
        markdown
            .assert_ok()
            .stdout
            .starts_with("| status | n |\n| --- | ---: |\n| ACTIVE |")
    );
    // --project sets a report's `project` parameter; a report without one is told so.
    let project = env
        .run(&["report", "--file", &mine, "--project", "p"])
        .await;
    assert_eq!(project.code, Some(64), "{}", project.stdout);
    assert!(
        project.stderr.contains("report by-status takes no project"),
        "{}",
        project.stderr
    );

    // Nothing a report says can write, on either backend.
    let before = env.export().await;
    let delete = file(
        "delete.sql",
        "WITH n AS (SELECT 1) DELETE FROM connections WHERE id IN (SELECT id FROM connections)",
    );
    let run = env.run(&["report", "--file", &delete]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stderr.contains("report delete:"), "{}", run.stderr);
    assert!(run.stderr.contains("read"), "{}", run.stderr);
    assert_eq!(env.export().await, before);
    // And after refusing a write, the connection it used can write again.
    assert_eq!(env.sync(&[]).await["status"], "complete");

    // A usage mistake exits 64, as one clap finds does; a run that is not there is no usage
    // mistake.
    let bad: [(&[&str], i32, &str); 10] = [
        (&["weak-crytpo"], 64, "there is no report \"weak-crytpo\""),
        (
            &["missing-tags", "--param", "key=owner"],
            64,
            "report missing-tags: there is no parameter key (its parameters: keys, project)",
        ),
        (
            &["connection-timeline"],
            64,
            "report connection-timeline: parameter connection is missing: give --param",
        ),
        (
            &["recent-changes", "--param", "since=yesterday"],
            64,
            "report recent-changes: parameter since=yesterday: \"yesterday\" is not a time",
        ),
        (
            &["churn", "--param", "limit=many"],
            64,
            "report churn: parameter limit=many: \"many\" is not an integer",
        ),
        (
            &["inventory-at", "--param", "at=99"],
            1,
            "report inventory-at: parameter at: there is no run 99",
        ),
        (
            &["inventory-at", "--param", "at=2001-01-01"],
            1,
            "report inventory-at: parameter at: no run had completed by 2001-01-01",
        ),
        (
            &["bgp-down", "--param", "since=1d"],
            64,
            "report bgp-down: there is no parameter since (its parameters: project, at)",
        ),
        (
            &["churn", "--param", "include_baseline=yes"],
            64,
            "report churn: parameter include_baseline=yes: \"yes\" is not true or false",
        ),
        (
            &["weak-crypto", "--target", "prod"],
            64,
            "--target prod: no run was made for a configuration target of that name",
        ),
    ];
    for (args, code, error) in bad {
        let mut all = vec!["report"];
        all.extend_from_slice(args);
        let run = env.run(&all).await;
        assert_eq!(run.code, Some(code), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains(error), "{args:?}: {}", run.stderr);
    }
    let two = file("two.sql", "SELECT 1; SELECT 2");
    let bad_sql = file("bad.sql", "SELECT no_such_column FROM connections");
    for (path, error) in [
        (&two, "two.sql: it holds more than one statement"),
        (&bad_sql, "report bad: "),
    ] {
        let run = env.run(&["report", "--file", path]).await;
        assert_eq!(run.code, Some(1), "{path}: {}", run.stdout);
        assert!(run.stderr.contains(error), "{path}: {}", run.stderr);
    }
    let usage = env.run(&["report", "--param", "since=1d"]).await;
    assert_eq!(usage.code, Some(64), "{}", usage.stderr);

    let sql = env.run(&["report", "weak-crypto", "--show-sql"]).await;
    assert!(sql.assert_ok().stdout.starts_with("-- name: weak-crypto\n"));
    let list = env.run(&["report", "--list"]).await;
    let list = &list.assert_ok().stdout;
    assert!(
        list.contains("recent-changes") && list.contains("since=24h"),
        "{list}"
    );
}

/// Every built-in report's rows name their project, `--project` and `--target` keep one, and
/// subnet-overlap pairs networks of one project unless asked for two. The second project
/// serves a copy of the first's connections, ids and networks alike.
async fn two_projects_are_told_apart_in_every_report(backend: Backend) {
    let env = TestEnv::generated(backend, 60, 31).await;
    let first = env.config.project_id.clone();
    let second = "22222222222222222222222222222222".to_owned();
    let config = vpn_simulator::server::SimConfig {
        project_id: second.clone(),
        ..env.config.clone()
    };
    let served = env.sim.state.inventory();
    let other = vpn_simulator::spawn(([127, 0, 0, 1], 0).into(), config, served.clone())
        .await
        .unwrap();
    env.sync(&[]).await;
    let endpoint = other.endpoint();
    env.sync(&["--endpoint", &endpoint, "--project-id", &second])
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let targets = format!(
        "[[targets]]\nname = \"north\"\nproject_id = \"{first}\"\nendpoint = \"{}\"\n\
         [[targets]]\nname = \"south\"\nproject_id = \"{second}\"\nendpoint = \"{endpoint}\"\n",
        env.sim.endpoint()
    );
    std::fs::write(&config, targets).unwrap();
    let config = config.display().to_string();

    let timeline = format!("connection={}", text(&served[0], "id"));
    let list = env.run(&["report", "--list", "--format", "json"]).await;
    for listed in list.assert_ok().json().as_array().unwrap() {
        let name = text(listed, "name");
        let params: Vec<&str> = match name {
            "connection-timeline" => vec![&timeline],
            "recent-changes" | "who-changed" => vec!["include_baseline=true"],
            "churn" => vec!["include_baseline=true", "limit=1000"],
            _ => vec![],
        };
        let projects = |rows: &[Value]| -> BTreeSet<String> {
            let projects = rows.iter().map(|r| text(r, "project_id").to_owned());
            projects.collect()
        };
        let rows = report(&env, name, &params).await;
        assert_eq!(
            projects(&rows),
            BTreeSet::from([first.clone(), second.clone()]),
            "{name}"
        );
        let mut args = vec!["report", name, "--format", "json", "--config", &config];
        for param in &params {
            args.extend(["--param", param]);
        }
        for (flag, value, project) in [
            ("--project", &*second, &second),
            ("--target", "north", &first),
        ] {
            let mut args = args.clone();
            args.extend([flag, value]);
            let one = env.run(&args).await.assert_ok().json();
            let one = one.as_array().unwrap();
            assert_eq!(
                projects(one),
                BTreeSet::from([project.clone()]),
                "{name} {flag}"
            );
            assert_eq!(one.len() * 2, rows.len(), "{name} {flag}: the copy's rows");
        }
    }

    let summary = report(&env, "inventory-summary", &[]).await;
    let totals: Vec<(&str, i64)> = summary
        .iter()
        .filter(|r| r["dimension"] == "total")
        .map(|r| (text(r, "project_id"), r["connections"].as_i64().unwrap()))
        .collect();
    assert_eq!(totals, [(first.as_str(), 60), (second.as_str(), 60)]);

    // subnet-overlap across projects: each network of one project overlaps, in the other, the
    // copies of the networks it overlaps in its own, and its own copy unless both are sources.
    // (A network a connection lists twice is two rows of one key: their sum, and how many.)
    type Counts = BTreeMap<(String, String, String, String), (i64, i64)>;
    let counts = |rows: &[Value]| -> Counts {
        let mut counts = Counts::new();
        for r in rows {
            let key = |c: &str| text(r, c).to_owned();
            let key = (
                key("project_id"),
                key("connection_id"),
                key("path"),
                key("network"),
            );
            let count = counts.entry(key).or_default();
            *count = (count.0 + r["overlaps"].as_i64().unwrap(), count.1 + 1);
        }
        counts
    };
    let within = counts(&report(&env, "subnet-overlap", &[]).await);
    let across = counts(&report(&env, "subnet-overlap", &["across_projects=true"]).await);
    assert!(
        within.len() < across.len(),
        "{} {}",
        within.len(),
        across.len()
    );
    for (network, (overlaps, rows)) in &across {
        let own = within.get(network).map_or(0, |c| c.0);
        let copy = if network.2.ends_with(".source") {
            0
        } else {
            *rows
        };
        assert_eq!(*overlaps, 2 * own + copy, "{network:?}");
    }

    let same = report(&env, "subnet-overlap-pairs", &[]).await;
    assert!(!same.is_empty());
    assert!(
        same.iter()
            .all(|r| r["project_id"] == r["other_project_id"]),
        "one project"
    );
    let across = report(&env, "subnet-overlap-pairs", &["across_projects=true"]).await;
    let two: Vec<&Value> = across
        .iter()
        .filter(|r| r["project_id"] != r["other_project_id"])
        .collect();
    // Every network of the copy meets the network it copies, and every network the original
    // overlaps, once a pair.
    assert_eq!(across.len() - two.len(), same.len());
    assert!(two.len() > same.len(), "{} {}", two.len(), same.len());
    let copies = two
        .iter()
        .filter(|r| r["connection_id"] == r["other_connection_id"] && r["path"] == r["other_path"])
        .count();
    assert!(copies > 0);
    // With a project too: every pair with a network of that project, whichever side it is on.
    let args = [
        "report",
        "subnet-overlap-pairs",
        "--format",
        "json",
        "--param",
        "across_projects=true",
        "--project",
        &second,
    ];
    let of_second = env.run(&args).await.assert_ok().json();
    let of_second = of_second.as_array().unwrap().iter();
    let mut of_second: Vec<String> = of_second.map(|r| r.to_string()).collect();
    let mut expected: Vec<String> = across
        .iter()
        .filter(|r| r["project_id"] == *second || r["other_project_id"] == *second)
        .map(|r| r.to_string())
        .collect();
    assert!(expected.len() < across.len());
    of_second.sort();
    expected.sort();
    assert_eq!(of_second, expected);
}

/// 100,000 rows come out whole in every format, each written as the rows arrive (a table at
/// the widths of its first screen, wider cells overflowing).
async fn a_large_result_is_written_in_every_format(backend: Backend) {
    const ROWS: usize = 100_000;
    let env = TestEnv::generated(backend, 0, 1).await;
    env.run(&["migrate"]).await.assert_ok();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numbers.sql");
    let sql = format!(
        "-- title: Numbers\n\
         WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})\n\
         SELECT i, 'row ' || i AS label FROM n ORDER BY i\n"
    );
    std::fs::write(&path, sql).unwrap();
    let path = path.display().to_string();
    let output = |format: &'static str| {
        let env = &env;
        let path = path.clone();
        async move {
            let run = env
                .run(&["report", "--file", &path, "--format", format])
                .await;
            run.assert_ok().stdout.clone()
        }
    };

    let csv = output("csv").await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), ROWS + 1);
    assert_eq!((lines[0], lines[ROWS]), ("i,label", "100000,row 100000"));
    let json: Vec<Value> = serde_json::from_str(&output("json").await).unwrap();
    assert_eq!(json.len(), ROWS);
    assert_eq!(json[ROWS - 1], json!({"i": 100_000, "label": "row 100000"}));
    let markdown = output("markdown").await;
    let lines: Vec<&str> = markdown.lines().collect();
    assert_eq!(lines.len(), ROWS + 2);
    assert_eq!(lines[1], "| ---: | --- |");
    assert_eq!(lines[ROWS + 1], "| 100000 | row 100000 |");
    let table = output("table").await;
    assert_eq!(table.lines().count(), ROWS + 1);
    assert!(
        table.ends_with("100000  row 100000\n"),
        "{}",
        &table[table.len() - 60..]
    );
}

/// `report NAME` with `params` in every format, which must succeed without a row: a table of
/// the header and `(no rows)`, a CSV header, a Markdown header, JSON `[]`, the same columns
/// in each. Returns the columns.
async fn no_rows(env: &TestEnv, name: &str, params: &[String]) -> Vec<String> {
    let output = |format: &'static str| {
        let mut args = vec!["report", name, "--format", format];
        for param in params {
            args.extend(["--param", param]);
        }
        async move {
            let run = env.run(&args).await;
            assert_eq!(run.code, Some(0), "{name} {format}: {}", run.stderr);
            run.stdout
        }
    };
    let csv = output("csv").await;
    let columns: Vec<String> = csv.trim_end().split(',').map(str::to_owned).collect();
    assert!(columns.contains(&"project_id".to_owned()), "{name}: {csv}");
    assert_eq!(csv, format!("{}\n", columns.join(",")), "{name}: no rows");
    let table = output("table").await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{name}: {table}");
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), columns);
    assert_eq!(lines[1], "(no rows)", "{name}");
    let markdown = output("markdown").await;
    let lines: Vec<&str> = markdown.lines().collect();
    assert_eq!(lines.len(), 2, "{name}: {markdown}");
    assert_eq!(lines[0], format!("| {} |", columns.join(" | ")), "{name}");
    let json: Value = serde_json::from_str(&output("json").await).unwrap();
    assert_eq!(json, json!([]), "{name}");
    columns
}

/// Every built-in report runs where it finds nothing, in every format: on a database just
/// migrated, and with parameters that match nothing, giving the same columns as with rows.
/// On PostgreSQL the columns of a result without rows were read from the statement prepared
/// without its parameters' types, and `lifetimes` failed (`operator does not exist: bigint <
/// text`).
async fn every_report_runs_without_rows_in_every_format(backend: Backend) {
    let reports = Report::builtin_all();
    assert!(reports.len() >= 12, "{}", reports.len());
    // A value for each parameter that must be given, which matches nothing.
    let nothing = |report: &Report| -> Vec<String> {
        let required = report.header.params.iter().filter(|p| p.default.is_none());
        let value = |kind: Kind| match kind {
            Kind::Text | Kind::List => "no-such-value",
            Kind::Integer => "0",
            Kind::Time => "now",
            Kind::Run => "latest",
            Kind::Boolean => "false",
        };
        required
            .map(|p| format!("{}={}", p.name, value(p.kind)))
            .collect()
    };

    let empty = TestEnv::generated(backend, 0, 1).await;
    empty.run(&["migrate"]).await.assert_ok();
    let mut columns = BTreeMap::new();
    for report in &reports {
        let got = no_rows(&empty, &report.name, &nothing(report)).await;
        columns.insert(report.name.clone(), got);
    }

    let env = TestEnv::generated(backend, 30, 5).await;
    env.sync(&[]).await;
    for report in &reports {
        let name = &report.name;
        let mut params = nothing(report);
        let mut args = vec!["report", name, "--format", "csv"];
        for param in &params {
            args.extend(["--param", param]);
        }
        let with_defaults = env.run(&args).await;
        let header = with_defaults
            .assert_ok()
            .stdout
            .lines()
            .next()
            .unwrap_or_default();
        assert_eq!(
            header,
            columns[name].join(","),
            "{name}: the columns of a database"
        );
        params.push("project=00000000000000000000000000000000".to_owned());
        assert_eq!(no_rows(&env, name, &params).await, columns[name], "{name}");
    }
}

/// A report is one query that changes nothing: transaction control, settings, COPY, blocks
/// of code, procedures, large-object and server-file functions and a second statement are
/// refused by name before anything runs. PostgreSQL under a superuser took them all inside
/// the read-only transaction, and `COPY (...) TO` wrote its file on the server.
async fn a_report_that_is_not_one_read_only_query_is_refused(backend: Backend) {
    let env = TestEnv::generated(backend, 10, 3).await;
    env.sync(&[]).await;
    let before = env.export().await;
    let dir = tempfile::tempdir().unwrap();
    // What the server would write goes to /tmp, where it may write (the test's directory is
    // root's).
    let server_file = |what: &str| format!("/tmp/vpninv-report-{}-{what}", std::process::id());
    let (copied, ran, exported) = (
        server_file("copy"),
        server_file("program"),
        server_file("lo"),
    );
    let cases: Vec<(String, &str)> = vec![
        (
            "COMMIT".into(),
            "it is COMMIT (transaction control), not a query",
        ),
        ("ROLLBACK".into(), "it is ROLLBACK (transaction control)"),
        ("END".into(), "it is END (transaction control)"),
        ("ABORT".into(), "it is ABORT (transaction control)"),
        ("BEGIN".into(), "it is BEGIN (transaction control)"),
        (
            "START TRANSACTION READ WRITE".into(),
            "it is START (transaction control)",
        ),
        (
            "SAVEPOINT s".into(),
            "it is SAVEPOINT (transaction control)",
        ),
        (
            "RELEASE SAVEPOINT s".into(),
            "it is RELEASE (transaction control)",
        ),
        (
            "PREPARE TRANSACTION 'x'".into(),
            "it is PREPARE (transaction control)",
        ),
        (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE".into(),
            "it is SET (a setting)",
        ),
        (
            "SET transaction_read_only = off".into(),
            "it is SET (a setting)",
        ),
        ("RESET ALL".into(), "it is RESET (a setting)"),
        (
            format!("COPY (SELECT id FROM connections) TO '{copied}'"),
            "it is COPY (which reads and writes files and runs programs)",
        ),
        (
            format!("COPY (SELECT 1) TO PROGRAM 'touch {ran}'"),
            "it is COPY",
        ),
        ("COPY connections FROM '/etc/hostname'".into(), "it is COPY"),
        (
            "DO $$ BEGIN DELETE FROM connections; END $$".into(),
            "it is DO (a block of code)",
        ),
        ("CALL forget()".into(), "it is CALL (a procedure)"),
        (
            "DELETE FROM connections".into(),
            "it is DELETE, not a query",
        ),
        (
            format!("SELECT lo_export(lo_import('/etc/hostname'), '{exported}')"),
            "it calls lo_export(), which is a large-object function",
        ),
        (
            "SELECT lo_import('/etc/hostname')".into(),
            "it calls lo_import(), which is a large-object function",
        ),
        (
            "SELECT pg_read_file('/etc/hostname')".into(),
            "it calls pg_read_file(), which reads a server file",
        ),
        (
            "SELECT set_config('default_transaction_read_only', 'off', false)".into(),
            "it calls set_config(), which changes a setting",
        ),
        (
            "SELECT * FROM dblink_exec('dbname=postgres', 'SELECT 1') AS t (x text)".into(),
            "it calls dblink_exec(), which opens a connection of its own",
        ),
        (
            "SELECT 1; DELETE FROM connections".into(),
            "it holds more than one statement",
        ),
    ];
    for (i, (sql, error)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("refused-{i}.sql"));
        std::fs::write(&path, format!("-- title: Refused\n{sql}\n")).unwrap();
        let run = env
            .run(&["report", "--file", &path.display().to_string()])
            .await;
        assert_eq!(run.code, Some(1), "{sql}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{sql}: {}", run.stdout);
        assert!(run.stderr.contains(error), "{sql}: {}", run.stderr);
    }
    for path in [&copied, &ran, &exported] {
        let written = std::path::Path::new(path).exists();
        let _ = std::fs::remove_file(path);
        assert!(!written, "{path} was written");
    }
    assert_eq!(env.export().await, before);
    if backend == Backend::Postgres {
        let db = env.db().await;
        let objects = db
            .scalar("SELECT COUNT(*) FROM pg_largeobject_metadata")
            .await;
        db.close().await;
        assert_eq!(objects, 0, "large objects");
    }
    assert_eq!(env.sync(&[]).await["status"], "complete");
}

/// Below the report's own checks, the store refuses a statement that left its read-only
/// transaction: ended it (PostgreSQL then ran the rest outside any), or wrote.
async fn the_store_refuses_sql_that_leaves_its_read_only_transaction(backend: Backend) {
    use vpn_inventory::store::{DatabaseUrl, QueryTable, Store};
    let env = TestEnv::generated(backend, 0, 1).await;
    env.run(&["migrate"]).await.assert_ok();
    let url = DatabaseUrl::parse(&env.database_url()).unwrap();
    for sql in ["COMMIT", "ROLLBACK"] {
        // A store of its own: on SQLite, sqlx's count of the transactions a connection is in
        // stays wrong once a statement ended one, and the pool hands that connection on.
        let store = Store::open_for_reading(&url).await.unwrap();
        let error = store
            .query_rows(sql, Vec::new(), &mut QueryTable::default())
            .await
            .expect_err(sql);
        let error = format!("{error:#}");
        assert!(error.contains("transaction"), "{sql}: {error}");
        if backend == Backend::Postgres {
            assert!(
                error.contains("it left its read-only transaction"),
                "{error}"
            );
            // Its connections read on as before.
            let mut table = QueryTable::default();
            let count = "SELECT COUNT(*) AS n FROM sync_runs";
            store
                .query_rows(count, Vec::new(), &mut table)
                .await
                .unwrap();
            assert_eq!(table.rows.len(), 1, "{sql}");
        }
        store.close().await;
    }
}
