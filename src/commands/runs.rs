//! `vpn-inventory runs`: sync runs, newest first.

use super::{one_line, plain_table, print_stdout, table_text};
use crate::cli::{RunsArgs, TableFormat};
use crate::store::{DatabaseUrl, RunRow, Store};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let runs = store.runs(args.limit).await?;
    let text = match args.format {
        TableFormat::Json => crate::json::to_string_pretty(&runs) + "\n",
        TableFormat::Table => table(&runs),
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn table(runs: &[RunRow]) -> String {
    let count = |n: Option<i64>| n.map_or("-".to_owned(), |n| n.to_string());
    let header = [
        "RUN",
        "STATUS",
        "STARTED",
        "DURATION",
        "PAGES",
        "FETCHED",
        "ADDED",
        "REMOVED",
        "MODIFIED",
        "UNCHANGED",
        "SCOPE",
        "NOTE",
    ];
    let mut table = plain_table(&header, &[0, 3, 4, 5, 6, 7, 8, 9]);
    for r in runs {
        table.add_row([
            r.run_id.to_string(),
            r.status.to_string(),
            crate::time::shown_in_table(&r.started_at),
            r.duration_seconds
                .map_or("-".to_owned(), |d| format!("{d:.1}s")),
            r.pages.to_string(),
            r.fetched.to_string(),
            count(r.added),
            count(r.removed),
            count(r.modified),
            count(r.unchanged),
            one_line(&scope_summary(&r.scope)),
            one_line(&note(r)),
        ]);
    }
    table_text(&table)
}

/// Whether a run is its scope's baseline; a failed run's error, or why a complete one
/// inferred no removals; and which run continued whose sweep (`sync --resume`).
fn note(run: &RunRow) -> String {
    let outcome = match (&run.error, &run.removals_skipped) {
        (Some(error), _) => Some(error.clone()),
        (None, Some(reason)) => Some(format!("no removals inferred: {reason}")),
        (None, None) => None,
    };
    let resumed = [
        run.baseline
            .then(|| "baseline: the scope's first complete run".to_owned()),
        run.resumed_from.map(|id| format!("resumed run {id}")),
        run.resumed_by.map(|id| format!("resumed by run {id}")),
    ];
    resumed
        .into_iter()
        .chain([outcome])
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
}

/// `project@endpoint` (or the project alone) plus any filters, e.g.
/// `0123...@https://vpn.cn-north-4... vgw_id=...`.
pub fn scope_summary(scope: &serde_json::Value) -> String {
    let Some(obj) = scope.as_object() else {
        return scope.to_string();
    };
    let text = |k: &str| {
        obj.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    let mut out = text("project_id");
    if obj.contains_key("endpoint") {
        out = format!("{out}@{}", text("endpoint"));
    }
    for (k, v) in obj {
        if !matches!(k.as_str(), "project_id" | "endpoint" | "region") {
            out.push_str(&format!(
                " {k}={}",
                v.as_str().map_or(v.to_string(), str::to_owned)
            ));
        }
    }
    out
}
