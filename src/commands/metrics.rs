//! `--metrics-file`: Prometheus text-format metrics for node_exporter's textfile collector.
//!
//! Written from the database after every sync (whatever its outcome), so the file always
//! describes every scope the inventory knows, whichever process synced it last; replaced
//! atomically (a temporary file of its own renamed over it: `replace`), so the collector never
//! reads half a file.
//!
//! A scope's samples carry its project, region and target, and each list filter, as labels of
//! their own (`scope_labels`). Names follow Prometheus's rules: base units in the name
//! (`_seconds`, `_bytes`), and every family has HELP and TYPE. Every family is a gauge: what
//! the file holds is read from the database (which `prune` shrinks), not counted up by a
//! process, so no value here only ever grows, as a counter's must.

use crate::store::{RunBrief, ScopeStatus, Status, Store};
use crate::time::now_utc;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// A scope's identity (`Scope::shown_without_endpoint`) and the page retries this process
/// made syncing it.
pub type Retries = (serde_json::Value, u64);

/// Writes the metrics of every scope in `store` to `path`; `retries`: page retries this
/// process made, by scope.
pub async fn write(store: &Store, path: &Path, retries: &[Retries]) -> anyhow::Result<()> {
    let status = store.status().await?;
    let mut changes = Vec::new();
    for scope in &status.scopes {
        if let Some(last) = &scope.last_complete {
            changes.push(store.change_counts(last.run_id).await?);
        } else {
            changes.push(Vec::new());
        }
    }
    let text = render(&status, &changes, retries);
    replace(path, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write --metrics-file {}: {e}", path.display()))
}

/// Replaces the file at `path` with `bytes`, so a reader finds the old file or the new one,
/// whole. The new one is first a temporary file beside it (a random name, created with
/// `O_EXCL`: a symlink or file planted at any name never takes the write, and syncs writing
/// one file at once each have their own), readable by all as the collector needs (less what
/// the umask takes), synced, renamed over `path`; then the directory is synced, so the rename
/// survives a crash. On any failure the temporary file is removed.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        let names_no_file = "names no file".to_owned();
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            names_no_file,
        ));
    };
    // `.vpn.prom.a1B2c3.tmp`: hidden, and not `*.prom`, which the collector would read.
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    // A failed rename hands the file back, and dropping it removes it.
    file.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// A label value, escaped as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(status: &Status, changes: &[Vec<(String, String, i64)>], retries: &[Retries]) -> String {
    let scopes: Vec<Labelled> = status
        .scopes
        .iter()
        .map(|scope| Labelled {
            labels: scope_labels(scope),
            scope,
        })
        .collect();
    let mut out = Families::default();
    last_runs(&mut out, &scopes);
    last_success(&mut out, &scopes, changes);
    this_process(&mut out, status, &scopes, retries);
    out.0
}

/// A scope and the labels of its samples.
struct Labelled<'a> {
    scope: &'a ScopeStatus,
    labels: String,
}

/// The text of metric families, one after the other.
#[derive(Default)]
struct Families(String);

impl Families {
    /// Appends gauge family `vpn_inventory_{name}`: its help, type and samples (labels, value).
    fn gauge(&mut self, name: &str, help: &str, samples: Vec<(String, String)>) {
        let out = &mut self.0;
        let _ = writeln!(out, "# HELP vpn_inventory_{name} {help}");
        let _ = writeln!(out, "# TYPE vpn_inventory_{name} gauge");
        for (labels, value) in samples {
            let labels = if labels.is_empty() {
                labels
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(out, "vpn_inventory_{name}{labels} {value}");
        }
    }
}

/// The filters of a scope's identity, each a label of its own. (A unit test fails while a
/// filter of `Filters` is missing here.)
const FILTER_LABELS: [&str; 5] = [
    "vgw_id",
    "vgw_ip",
    "vpn_id",
    "eip_id",
    "enterprise_project_ids",
];

/// The labels of a scope's samples: `project_id`, `region` and `target` (those of its latest
/// run), then every filter. A label not set is written empty, which Prometheus reads as
/// absent: every sample of a family then has the same label names, as strict parsers want.
fn scope_labels(scope: &ScopeStatus) -> String {
    let latest = [&scope.last_complete, &scope.last_failed]
        .into_iter()
        .flatten()
        .chain(&scope.running)
        .max_by_key(|run| run.run_id);
    let of_run = |field: fn(&RunBrief) -> &Option<String>| {
        latest
            .and_then(|run| field(run).clone())
            .unwrap_or_default()
    };
    let identity = |name: &str| match scope.scope.get(name) {
        Some(serde_json::Value::String(text)) => text.clone(),
        // `enterprise_project_ids`: sorted and deduplicated, so one scope, one value.
        Some(serde_json::Value::Array(ids)) => ids
            .iter()
            .map(|id| id.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    let mut labels = vec![
        ("project_id", identity("project_id")),
        ("region", of_run(|run| &run.region)),
        ("target", of_run(|run| &run.target)),
    ];
    labels.extend(FILTER_LABELS.iter().map(|name| (*name, identity(name))));
    labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", label(value)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A time as the text format's seconds since the epoch, to the millisecond.
fn seconds(t: chrono::DateTime<chrono::Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1e3)
}

/// One sample per scope that has a `value`.
fn per_scope(
    scopes: &[Labelled],
    value: impl Fn(&ScopeStatus) -> Option<String>,
) -> Vec<(String, String)> {
    scopes
        .iter()
        .filter_map(|s| Some((s.labels.clone(), value(s.scope)?)))
        .collect()
}

/// When each scope's latest runs ended, and whether the latest of them completed.
fn last_runs(out: &mut Families, scopes: &[Labelled]) {
    out.gauge(
        "last_success_timestamp_seconds",
        "When the scope's latest complete run finished.",
        per_scope(scopes, |s| Some(seconds(s.last_complete.as_ref()?.at))),
    );
    out.gauge(
        "last_failure_timestamp_seconds",
        "When the scope's latest failed run ended.",
        per_scope(scopes, |s| Some(seconds(s.last_failed.as_ref()?.at))),
    );
    out.gauge(
        "last_run_success",
        "1 when the scope's latest finished run completed, 0 when it failed.",
        per_scope(scopes, |s| {
            let ok = match (&s.last_complete, &s.last_failed) {
                (Some(c), Some(f)) => c.run_id > f.run_id,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            Some(u8::from(ok).to_string())
        }),
    );
}

/// What each scope's latest complete run took, received and changed.
fn last_success(out: &mut Families, scopes: &[Labelled], changes: &[Vec<(String, String, i64)>]) {
    out.gauge(
        "last_success_duration_seconds",
        "How long the scope's latest complete run took.",
        per_scope(scopes, |s| {
            let r = s.last_complete.as_ref()?;
            let took = (r.at - r.started_at).num_milliseconds() as f64 / 1e3;
            Some(format!("{took:.3}"))
        }),
    );
    out.gauge(
        "last_success_connections",
        "Connections the scope's latest complete run received.",
        per_scope(scopes, |s| {
            Some(s.last_complete.as_ref()?.connections.to_string())
        }),
    );
    out.gauge(
        "last_success_baseline",
        "1 when the scope's latest complete run was its first: what it added is the scope's \
         baseline, not counted in vpn_inventory_last_success_changes.",
        per_scope(scopes, |s| {
            Some(u8::from(s.last_complete.as_ref()?.baseline).to_string())
        }),
    );
    out.gauge(
        "last_success_changes",
        "Change records of the scope's latest complete run, by change and category; a \
         baseline's adds are left out.",
        scopes
            .iter()
            .zip(changes)
            .flat_map(|(s, counts)| {
                counts.iter().map(move |(change, category, n)| {
                    let labels = format!(
                        "{},change=\"{}\",category=\"{}\"",
                        s.labels,
                        label(change),
                        label(category)
                    );
                    (labels, n.to_string())
                })
            })
            .collect(),
    );
}

/// Runs marked running, this process's retries, the database's size and the file's time.
fn this_process(out: &mut Families, status: &Status, scopes: &[Labelled], retries: &[Retries]) {
    out.gauge(
        "running_runs",
        "Runs of the scope marked running (live, or killed and not yet found abandoned).",
        per_scope(scopes, |s| Some(s.running.len().to_string())),
    );
    out.gauge(
        "last_sync_page_retries",
        "Page requests the sync that wrote this file asked again after a transient failure.",
        per_scope(scopes, |s| {
            let (_, n) = retries.iter().find(|(scope, _)| *scope == s.scope)?;
            Some(n.to_string())
        }),
    );
    out.gauge(
        "inventory_connections",
        "Connections the inventory holds.",
        vec![(String::new(), status.connections.to_string())],
    );
    out.gauge(
        "database_size_bytes",
        "Bytes the database takes on disk (with its write-ahead log, if any).",
        status
            .size_bytes
            .map(|bytes| (String::new(), bytes.to_string()))
            .into_iter()
            .collect(),
    );
    out.gauge(
        "metrics_written_timestamp_seconds",
        "When this file was written.",
        vec![(String::new(), seconds(now_utc()))],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{Filters, Scope};

    #[test]
    fn every_filter_of_a_scope_is_a_label() {
        let filters = Filters {
            vgw_id: Some("g".into()),
            vgw_ip: Some("1.2.3.4".into()),
            vpn_id: Some("v".into()),
            eip_id: Some("e".into()),
            enterprise_project_ids: vec!["b".into(), "a".into()],
        };
        let scope = Scope::new("http://x", None, "p", filters).shown_without_endpoint();
        for key in scope.as_object().unwrap().keys() {
            assert!(
                key == "project_id" || FILTER_LABELS.contains(&key.as_str()),
                "{key} is no label"
            );
        }
        let status = ScopeStatus {
            scope,
            project_id: "p".to_owned(),
            region: None,
            targets: Vec::new(),
            last_complete: None,
            last_failed: None,
            running: Vec::new(),
        };
        let labels = scope_labels(&status);
        assert!(
            labels.contains("vgw_ip=\"1.2.3.4\",vpn_id=\"v\",eip_id=\"e\""),
            "{labels}"
        );
        assert!(
            labels.contains("enterprise_project_ids=\"a,b\""),
            "{labels}"
        );
        assert!(labels.contains("region=\"\",target=\"\""), "{labels}");
    }
}
