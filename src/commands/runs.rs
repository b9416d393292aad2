//! `vpn-inventory runs`: sync runs, newest first.

use super::print_stdout;
use crate::cli::{RunsArgs, TableFormat};
use crate::store::{DatabaseUrl, RunRow, Store};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(database).await?;
    let runs = store.runs(args.limit).await?;
    let text = match args.format {
        TableFormat::Json => serde_json::to_string_pretty(&runs)? + "\n",
        TableFormat::Table => table(&runs),
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn table(runs: &[RunRow]) -> String {
    let count = |n: Option<i64>| n.map_or("-".to_owned(), |n| n.to_string());
    let mut out = format!(
        "{:>6}  {:<9} {:<20} {:>9} {:>6} {:>8} {:>7} {:>8} {:>8} {:>9}  {}\n",
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
        "SCOPE"
    );
    for r in runs {
        let scope = scope_summary(&r.scope);
        out.push_str(&format!(
            "{:>6}  {:<9} {:<20} {:>9} {:>6} {:>8} {:>7} {:>8} {:>8} {:>9}  {}\n",
            r.run_id,
            r.status,
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.duration_seconds
                .map_or("-".to_owned(), |d| format!("{d:.1}s")),
            r.pages,
            r.fetched,
            count(r.added),
            count(r.removed),
            count(r.modified),
            count(r.unchanged),
            scope,
        ));
        if let Some(error) = &r.error {
            out.push_str(&format!("        error: {error}\n"));
        }
    }
    out
}

/// `project@endpoint` plus any filters, e.g. `0123...@https://vpn.cn-north-4... vgw_id=...`.
fn scope_summary(scope: &serde_json::Value) -> String {
    let Some(obj) = scope.as_object() else {
        return scope.to_string();
    };
    let text = |k: &str| {
        obj.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    let mut out = format!("{}@{}", text("project_id"), text("endpoint"));
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
