//! `sync --metrics-file`: the file parses as Prometheus reads it, its names follow Prometheus's
//! rules, each target of one `sync --all` is a label set of its own with its project, region
//! and target, and a baseline counts no change.

use crate::support::{Backend, TestEnv, target_toml};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use std::collections::{BTreeMap, HashSet};
use vpn_simulator::server::{SimConfig, generated_inventory};
use vpn_simulator::{Faults, Transient, TransientAnswer};

backend_tests!(metrics_label_each_target_and_leave_baselines_out);

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

/// A sample as the test reads it: its labels and value.
type Sample = (BTreeMap<String, String>, f64);

/// Parses `text` with a strict Prometheus text-format parser and checks Prometheus's naming
/// rules on it.
fn parse_checked(text: &str) -> Exposition {
    let parsed = parse_prometheus(text).unwrap_or_else(|e| panic!("{e:?} in:\n{text}"));
    // Metric names may hold colons (recording rules' names), label names may not.
    let valid_name = |name: &str, colons: bool| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
    };
    let mut declared = HashSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(
            declared.insert(name),
            "family {name} declared twice:\n{text}"
        );
    }
    for (name, family) in &parsed.families {
        assert!(name.starts_with("vpn_inventory_"), "{name}");
        assert!(valid_name(name, true), "{name}");
        assert!(declared.contains(name.as_str()), "{name} has no TYPE line");
        assert_ne!(
            family.family_type,
            PrometheusType::Unknown,
            "{name} has no TYPE"
        );
        assert!(!family.help.is_empty(), "{name} has no HELP");
        let counter = family.family_type == PrometheusType::Counter;
        assert_eq!(
            counter,
            name.ends_with("_total"),
            "{name}: only a counter is _total"
        );
        for suffix in ["_ms", "_milliseconds", "_kb", "_mb", "_minutes"] {
            assert!(!name.ends_with(suffix), "{name}: not in base units");
        }
        for label in family.get_label_names() {
            assert!(
                valid_name(label, false) && !label.starts_with("__"),
                "{name}: {label}"
            );
        }
    }
    parsed
}

/// The samples of family `name`.
fn samples(parsed: &Exposition, name: &str) -> Vec<Sample> {
    let family = parsed
        .families
        .get(name)
        .unwrap_or_else(|| panic!("no family {name}"));
    family
        .iter_samples()
        .map(|sample| {
            let labels = sample.get_labelset().expect("a label set");
            let labels = labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let value = match &sample.value {
                PrometheusValue::Gauge(n) => n.as_f64(),
                PrometheusValue::Counter(c) => c.value.as_f64(),
                other => panic!("{name}: {other:?}"),
            };
            (labels, value)
        })
        .collect()
}

/// The value of family `name` for target `target`.
fn of_target(parsed: &Exposition, name: &str, target: &str) -> f64 {
    let found: Vec<f64> = samples(parsed, name)
        .into_iter()
        .filter(|(labels, _)| labels["target"] == target)
        .map(|(_, value)| value)
        .collect();
    assert_eq!(found.len(), 1, "{name} of target {target}: {found:?}");
    found[0]
}

async fn metrics_label_each_target_and_leave_baselines_out(backend: Backend) {
    // Two projects, each at its own (simulated) endpoint; the first synced whole and by one
    // gateway.
    let env = TestEnv::generated(backend, 12, 41).await;
    let south_config = SimConfig {
        project_id: "22222222222222222222222222222222".into(),
        ..env.config.clone()
    };
    let south = vpn_simulator::spawn(
        ([127, 0, 0, 1], 0).into(),
        south_config.clone(),
        generated_inventory(7, 42),
    )
    .await
    .expect("the second simulator starts");
    let gateway = env.first_gateway();
    let dir = tempfile::tempdir().unwrap();
    let (config, metrics) = (dir.path().join("config.toml"), dir.path().join("vpn.prom"));
    let (north_endpoint, filter) = (env.sim.endpoint(), format!("vgw_id = \"{gateway}\""));
    let (north_region, south_region) = ("region = \"r-north\"", "region = \"r-south\"");
    let project = &env.config.project_id;
    let text = [
        target_toml("north", project, &north_endpoint, &[north_region]),
        target_toml(
            "north-gw",
            project,
            &north_endpoint,
            &[north_region, &filter],
        ),
        target_toml(
            "south",
            &south_config.project_id,
            &south.endpoint(),
            &[south_region],
        ),
    ]
    .concat();
    std::fs::write(&config, text).unwrap();
    let sync_all = || {
        let args = ["--config", config.to_str().unwrap(), "sync", "--all"];
        let mut cmd = env.command(&args);
        cmd.args([
            "--detailed-exitcode",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ])
        .env("SIM_AK", &env.config.access_key)
        .env("SIM_SK", &env.config.secret_key);
        env.run_cmd(cmd)
    };
    let run = sync_all().await;
    assert_eq!(run.code, Some(0), "a baseline is no change: {}", run.stderr);
    let text = std::fs::read_to_string(&metrics).unwrap();
    let parsed = parse_checked(&text);

    // One label set per target, with its own project, region, target and filters.
    let connections = samples(&parsed, "vpn_inventory_last_success_connections");
    assert_eq!(connections.len(), 3, "{text}");
    let label_sets: HashSet<_> = connections.iter().map(|(labels, _)| labels).collect();
    assert_eq!(label_sets.len(), 3, "{text}");
    let expected = [
        ("north", project.as_str(), "r-north", ""),
        ("north-gw", project.as_str(), "r-north", gateway.as_str()),
        ("south", south_config.project_id.as_str(), "r-south", ""),
    ];
    for (name, project, region, vgw_id) in expected {
        let (labels, _) = connections
            .iter()
            .find(|(labels, _)| labels["target"] == name)
            .unwrap_or_else(|| panic!("no target {name}:\n{text}"));
        assert_eq!(labels["project_id"], project, "{text}");
        assert_eq!(labels["region"], region, "{text}");
        assert_eq!(labels["vgw_id"], vgw_id, "{text}");
        assert_eq!(labels["enterprise_project_ids"], "", "{text}");
        assert!(!labels.contains_key("scope"), "{text}");
    }
    assert_eq!(
        of_target(&parsed, "vpn_inventory_last_success_connections", "south"),
        7.0
    );
    assert_eq!(
        of_target(&parsed, "vpn_inventory_last_success_connections", "north"),
        12.0
    );

    // Every first run is its scope's baseline, and counts no change: "changes > 0" stays quiet.
    for name in ["north", "north-gw", "south"] {
        assert_eq!(
            of_target(&parsed, "vpn_inventory_last_success_baseline", name),
            1.0
        );
    }
    let changes = samples(&parsed, "vpn_inventory_last_success_changes");
    assert!(changes.iter().all(|(_, n)| *n == 0.0), "{text}");
    let inventory = samples(&parsed, "vpn_inventory_inventory_connections");
    assert_eq!(inventory, vec![(BTreeMap::new(), 19.0)]);
    let retries = samples(&parsed, "vpn_inventory_last_sync_page_retries");
    assert_eq!(retries.len(), 3, "every target this sync ran: {text}");

    // A connection of the south project renamed: the next sync counts that change there only.
    let mut served = south.state.inventory();
    served[0]["name"] = "renamed-by-the-test".into();
    south.state.set_inventory(served);
    // And the south's first request throttled once: its retry is the south's alone.
    let throttled = TransientAnswer::Status {
        status: 429,
        body: serde_json::json!({"error_code": "APIG.0308", "error_msg": "throttled"}),
        retry_after: Some("0".into()),
    };
    south.state.set_faults(Faults {
        transient: Some(Transient {
            from: 1,
            times: 1,
            answer: throttled,
        }),
        ..Faults::default()
    });
    let run = sync_all().await;
    assert_eq!(run.code, Some(2), "one change: {}", run.stderr);
    let text = std::fs::read_to_string(&metrics).unwrap();
    let parsed = parse_checked(&text);
    for name in ["north", "north-gw", "south"] {
        assert_eq!(
            of_target(&parsed, "vpn_inventory_last_success_baseline", name),
            0.0
        );
    }
    let retries = "vpn_inventory_last_sync_page_retries";
    assert_eq!(of_target(&parsed, retries, "south"), 1.0, "{text}");
    assert_eq!(of_target(&parsed, retries, "north"), 0.0, "{text}");
    let changes = samples(&parsed, "vpn_inventory_last_success_changes");
    let changed: Vec<_> = changes.iter().filter(|(_, n)| *n > 0.0).collect();
    assert_eq!(changed.len(), 1, "{text}");
    let (labels, n) = changed[0];
    assert_eq!(
        (labels["target"].as_str(), labels["change"].as_str(), *n),
        ("south", "modified", 1.0)
    );
}
