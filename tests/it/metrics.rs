//! `sync --metrics-file`: the file parses as Prometheus reads it, its names follow Prometheus's
//! rules, each target of one `sync --all` is a label set of its own with its project, region
//! and target, and a baseline counts no change. The file is replaced through a temporary file
//! of its own: a planted symlink takes no write, syncs writing it at once all succeed, and a
//! failed write leaves nothing behind.

use crate::support::{Backend, TestEnv, target_toml};
use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use vpn_simulator::server::{SimConfig, generated_inventory};
use vpn_simulator::{Faults, Transient, TransientAnswer};

backend_tests!(
    metrics_label_each_target_and_leave_baselines_out,
    four_syncs_writing_one_metrics_file_at_once_all_succeed,
);

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

/// The names in directory `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `sync --metrics-file path` with `args` after it.
fn sync_writing(env: &TestEnv, path: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = env.command(&["sync", "--metrics-file", path.to_str().unwrap()]);
    cmd.args(args);
    cmd
}

/// The file creation mask of this process (which its children inherit).
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_planted_beside_the_metrics_file_takes_no_write() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::generated(Backend::Sqlite, 4, 43).await;
    let (shared, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let victim = elsewhere.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let metrics = shared.path().join("vpn.prom");
    // Every name a writer could predict: the one it used to write, and likely others.
    let planted = [
        "vpn.prom.tmp",
        ".vpn.prom.tmp",
        "vpn.prom.new",
        "vpn.prom~",
        ".vpn.prom",
    ];
    for name in planted {
        std::os::unix::fs::symlink(&victim, shared.path().join(name)).unwrap();
    }
    for _ in 0..2 {
        let run = env.run_cmd(sync_writing(&env, &metrics, &[])).await;
        run.assert_ok();
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let written = std::fs::symlink_metadata(&metrics).unwrap();
    assert!(written.file_type().is_file(), "{written:?}");
    assert_eq!(written.permissions().mode() & 0o777, 0o644 & !umask());
    parse_checked(&std::fs::read_to_string(&metrics).unwrap());
    let mut expected: Vec<String> = planted.iter().map(|n| n.to_string()).collect();
    expected.push("vpn.prom".to_owned());
    expected.sort();
    assert_eq!(
        names_in(shared.path()),
        expected,
        "nothing else left behind"
    );
}

async fn four_syncs_writing_one_metrics_file_at_once_all_succeed(backend: Backend) {
    let env = TestEnv::generated(backend, 40, 44).await;
    let mut gateways = env.gateways();
    gateways.truncate(3);
    let mut scopes: Vec<Vec<&str>> = gateways.iter().map(|g| vec!["--vgw-id", g]).collect();
    scopes.push(Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("vpn.prom");
    // Four scopes, so no sync waits for another's lock; all write the file as they end.
    let children: Vec<_> = scopes
        .iter()
        .map(|filter| {
            let mut cmd = sync_writing(&env, &metrics, filter);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let run: crate::support::Run = child.wait_with_output().await.unwrap().into();
        run.assert_ok();
    }
    let text = std::fs::read_to_string(&metrics).unwrap();
    let parsed = parse_checked(&text);
    assert!(!samples(&parsed, "vpn_inventory_last_success_connections").is_empty());
    assert_eq!(names_in(dir.path()), ["vpn.prom"], "no temporary file left");
}

/// The uid of this process: that of `/proc/self`.
#[cfg(unix)]
fn uid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap())
}

/// A sync whose metrics file cannot be written fails naming the file and leaves no temporary
/// file: in a directory its user cannot write (run as `nobody` when the tests run as root,
/// who may write anywhere), and when the rename fails after the temporary file was written.
#[cfg(unix)]
#[tokio::test]
async fn a_failed_metrics_write_names_the_file_and_leaves_no_temporary_file() {
    use std::os::unix::fs::PermissionsExt;
    const NOBODY: u32 = 65534;
    let env = TestEnv::generated(Backend::Sqlite, 3, 45).await;
    let as_nobody = uid() == 0;
    if as_nobody {
        // The database's directory becomes nobody's, who then creates the database.
        let url = env.database_url();
        let db = Path::new(url.strip_prefix("sqlite://").unwrap());
        std::os::unix::fs::chown(db.parent().unwrap(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    // A sync as that user writing `metrics`, which must fail naming it.
    let fails_naming = async |metrics: &Path| {
        let mut cmd = sync_writing(&env, metrics, &[]);
        if as_nobody {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let run = env.run_cmd(cmd).await;
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        let named = format!("cannot write --metrics-file {}", metrics.display());
        assert!(run.stderr.contains(&named), "{}", run.stderr);
    };
    let read_only = tempfile::tempdir().unwrap();
    std::fs::set_permissions(read_only.path(), PermissionsExt::from_mode(0o755)).unwrap();
    fails_naming(&read_only.path().join("vpn.prom")).await;
    assert!(names_in(read_only.path()).is_empty());

    // A directory where the file should be: the temporary file is written, its rename fails.
    let writable = tempfile::tempdir().unwrap();
    if as_nobody {
        std::os::unix::fs::chown(writable.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let metrics = writable.path().join("vpn.prom");
    std::fs::create_dir(&metrics).unwrap();
    std::fs::write(metrics.join("kept"), "").unwrap();
    fails_naming(&metrics).await;
    assert_eq!(
        names_in(writable.path()),
        ["vpn.prom"],
        "no temporary file left"
    );
}
