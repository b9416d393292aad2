//! `--metrics-file`: Prometheus text-format metrics for node_exporter's textfile collector.
//!
//! Written from the database after every sync (whatever its outcome), so the file always
//! describes every scope the inventory knows, whichever process synced it last; replaced
//! atomically (a temporary file renamed over it), so the collector never reads half a file.

use super::runs::scope_summary;
use crate::store::{ScopeStatus, Status, Store};
use crate::time::now_utc;
use std::fmt::Write as _;
use std::path::Path;

/// Writes the metrics of every scope in `store` to `path`; `retries`: page retries this
/// process made, by scope (as `scope_summary` shows it).
pub async fn write(store: &Store, path: &Path, retries: &[(String, u64)]) -> anyhow::Result<()> {
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
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| anyhow::anyhow!("cannot write --metrics-file {}: {e}", path.display()))
}

/// A label value, escaped as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(
    status: &Status,
    changes: &[Vec<(String, String, i64)>],
    retries: &[(String, u64)],
) -> String {
    let mut out = Families::default();
    last_runs(&mut out, &status.scopes);
    last_success(&mut out, &status.scopes, changes);
    this_process(&mut out, status, retries);
    out.0
}

/// The text of metric families, one after the other.
#[derive(Default)]
struct Families(String);

impl Families {
    /// Appends family `vpn_inventory_{name}`: its help, type and samples (labels, value).
    fn family(&mut self, name: &str, kind: &str, help: &str, samples: Vec<(String, String)>) {
        let out = &mut self.0;
        let _ = writeln!(out, "# HELP vpn_inventory_{name} {help}");
        let _ = writeln!(out, "# TYPE vpn_inventory_{name} {kind}");
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

/// The `scope` label of a scope's samples.
fn scope_label(scope: &ScopeStatus) -> String {
    format!("scope=\"{}\"", label(&scope_summary(&scope.scope)))
}

/// A time as the text format's seconds since the epoch, to the millisecond.
fn seconds(t: chrono::DateTime<chrono::Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1e3)
}

/// When each scope's latest runs ended, and whether the latest of them completed.
fn last_runs(out: &mut Families, scopes: &[ScopeStatus]) {
    out.family(
        "last_success_timestamp_seconds",
        "gauge",
        "When the scope's latest complete run finished.",
        scopes
            .iter()
            .filter_map(|s| {
                s.last_complete
                    .as_ref()
                    .map(|r| (scope_label(s), seconds(r.at)))
            })
            .collect(),
    );
    out.family(
        "last_failure_timestamp_seconds",
        "gauge",
        "When the scope's latest failed run ended.",
        scopes
            .iter()
            .filter_map(|s| {
                s.last_failed
                    .as_ref()
                    .map(|r| (scope_label(s), seconds(r.at)))
            })
            .collect(),
    );
    out.family(
        "last_run_success",
        "gauge",
        "1 when the scope's latest finished run completed, 0 when it failed.",
        scopes
            .iter()
            .filter_map(|s| {
                let ok = match (&s.last_complete, &s.last_failed) {
                    (Some(c), Some(f)) => c.run_id > f.run_id,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => return None,
                };
                Some((scope_label(s), u8::from(ok).to_string()))
            })
            .collect(),
    );
}

/// What each scope's latest complete run took, received and changed.
fn last_success(
    out: &mut Families,
    scopes: &[ScopeStatus],
    changes: &[Vec<(String, String, i64)>],
) {
    out.family(
        "last_success_duration_seconds",
        "gauge",
        "How long the scope's latest complete run took.",
        scopes
            .iter()
            .filter_map(|s| {
                let r = s.last_complete.as_ref()?;
                let took = (r.at - r.started_at).num_milliseconds() as f64 / 1e3;
                Some((scope_label(s), format!("{took:.3}")))
            })
            .collect(),
    );
    out.family(
        "last_success_connections",
        "gauge",
        "Connections the scope's latest complete run received.",
        scopes
            .iter()
            .filter_map(|s| {
                let r = s.last_complete.as_ref()?;
                Some((scope_label(s), r.connections.to_string()))
            })
            .collect(),
    );
    out.family(
        "last_success_changes",
        "gauge",
        "Change records of the scope's latest complete run, by change and category.",
        scopes
            .iter()
            .zip(changes)
            .flat_map(|(s, counts)| {
                counts.iter().map(move |(change, category, n)| {
                    let labels = format!(
                        "{},change=\"{}\",category=\"{}\"",
                        scope_label(s),
                        label(change),
                        label(category)
                    );
                    (labels, n.to_string())
                })
            })
            .collect(),
    );
}

/// Runs marked running, this process's retries, the inventory's size and the file's time.
fn this_process(out: &mut Families, status: &Status, retries: &[(String, u64)]) {
    out.family(
        "running_runs",
        "gauge",
        "Runs of the scope marked running (live, or killed and not yet found abandoned).",
        status
            .scopes
            .iter()
            .map(|s| (scope_label(s), s.running.len().to_string()))
            .collect(),
    );
    out.family(
        "retries",
        "gauge",
        "Page requests this process asked again after a transient failure.",
        retries
            .iter()
            .map(|(scope, n)| (format!("scope=\"{}\"", label(scope)), n.to_string()))
            .collect(),
    );
    out.family(
        "inventory_connections",
        "gauge",
        "Connections the inventory holds.",
        vec![(String::new(), status.connections.to_string())],
    );
    out.family(
        "metrics_written_timestamp_seconds",
        "gauge",
        "When this file was written.",
        vec![(String::new(), seconds(now_utc()))],
    );
}
