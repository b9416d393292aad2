//! `vpn-inventory runs`: sync runs, newest first, each under its sync (one invocation of
//! `sync`), with its place in the order its sync's runs applied in. The default table fits
//! in 120 columns; `--wide` adds the scope in full and the sweep's numbers.

use super::project_target::{Only, ShortIds, target_cell};
use super::{one_line, plain_table, print_stdout, screen_table, table_text};
use crate::cli::{OutputFormat, RunsArgs};
use crate::store::{Cell, DatabaseUrl, QueryTable, RunFilter, RunRow, Store};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let only = Only::resolve(&store, &args.only).await?;
    if let Some(sync) = args.sync {
        anyhow::ensure!(
            store.sync_exists(sync).await?,
            "there is no sync {sync} (`vpn-inventory runs` lists them)"
        );
    }
    let filter = RunFilter {
        sync_id: args.sync,
        project_id: only.project_id,
        target: only.target,
        limit: args.limit,
    };
    let runs = store.runs(&filter).await?;
    let text = match args.format {
        OutputFormat::Json => crate::json::to_string_pretty(&runs) + "\n",
        OutputFormat::Table if args.wide => wide_table(&runs),
        OutputFormat::Table => table(&runs),
        rows => super::report::render(&every_column(&runs), rows)?,
    };
    store.close().await;
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn count(n: Option<i64>) -> String {
    n.map_or("-".to_owned(), |n| n.to_string())
}

/// The cells both tables start with: which sync, which run, its place in the sync's applies,
/// how it ended, and the target it ran for.
fn leading_cells(r: &RunRow) -> [String; 5] {
    [
        r.sync_id.map_or("-".to_owned(), |id| id.to_string()),
        r.run_id.to_string(),
        r.apply_order.map_or("-".to_owned(), ordinal),
        r.status.to_string(),
        target_cell(r.target.as_deref()),
    ]
}

const LEADING: [&str; 5] = ["SYNC", "RUN", "APPLIED", "STATUS", "TARGET"];

/// The default table: at most 120 columns (targets and notes are clipped to fit).
fn table(runs: &[RunRow]) -> String {
    let projects = ShortIds::new(runs.iter().map(|r| r.project_id.as_str()));
    let header: Vec<&str> = LEADING
        .iter()
        .copied()
        .chain(["PROJECT", "STARTED", "ADDED", "REMOVED", "MODIFIED", "NOTE"])
        .collect();
    let rows = runs
        .iter()
        .map(|r| {
            let mut cells = leading_cells(r).to_vec();
            cells[4] = super::clipped(&cells[4], 16);
            cells.extend([
                projects.of(&r.project_id),
                crate::time::shown_in_table(&r.started_at),
                count(r.added),
                count(r.removed),
                count(r.modified),
                one_line(&note(r, false)),
            ]);
            cells
        })
        .collect();
    table_text(&screen_table(&header, &[0, 1, 7, 8, 9], rows))
}

/// `--wide`: every column, the scope in full.
fn wide_table(runs: &[RunRow]) -> String {
    let header: Vec<&str> = LEADING
        .iter()
        .copied()
        .chain([
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
        ])
        .collect();
    let mut table = plain_table(&header, &[0, 1, 6, 7, 8, 9, 10, 11, 12]);
    for r in runs {
        let mut cells = leading_cells(r).to_vec();
        cells.extend([
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
            one_line(&note(r, true)),
        ]);
        table.add_row(cells);
    }
    table_text(&table)
}

/// Every column, as the JSON names them, for CSV and Markdown: the scope as compact JSON,
/// times in RFC 3339.
fn every_column(runs: &[RunRow]) -> QueryTable {
    let columns = [
        "sync_id",
        "run_id",
        "apply_order",
        "status",
        "target",
        "project_id",
        "region",
        "started_at",
        "finished_at",
        "duration_seconds",
        "pages",
        "fetched",
        "added",
        "removed",
        "modified",
        "unchanged",
        "baseline",
        "scope",
        "note",
    ];
    let rows = runs.iter().map(|r| {
        vec![
            Cell::Int(r.sync_id),
            Cell::Int(Some(r.run_id)),
            Cell::Int(r.apply_order),
            Cell::Text(Some(r.status.to_string())),
            Cell::Text(r.target.clone()),
            Cell::Text(Some(r.project_id.clone())),
            Cell::Text(r.region.clone()),
            Cell::Time(Some(r.started_at)),
            Cell::Time(r.finished_at),
            Cell::Float(r.duration_seconds),
            Cell::Int(Some(r.pages)),
            Cell::Int(Some(r.fetched)),
            Cell::Int(r.added),
            Cell::Int(r.removed),
            Cell::Int(r.modified),
            Cell::Int(r.unchanged),
            Cell::Bool(Some(r.baseline)),
            Cell::Json(Some(r.scope.clone())),
            Cell::Text(Some(note(r, true)).filter(|n| !n.is_empty())),
        ]
    });
    QueryTable {
        columns: columns.map(String::from).to_vec(),
        rows: rows.collect(),
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, ..., `11th`, ..., `21st`.
fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Whether a run is its scope's baseline (in a word unless `wide`); a failed run's error, or
/// why a complete one inferred no removals; and which run continued whose sweep (`sync
/// --resume`).
fn note(run: &RunRow, wide: bool) -> String {
    let outcome = match (&run.error, &run.removals_skipped) {
        (Some(error), _) => Some(error.clone()),
        (None, Some(reason)) => Some(format!("no removals inferred: {reason}")),
        (None, None) => None,
    };
    let resumed = [
        run.baseline.then(|| match wide {
            true => "baseline: the scope's first complete run".to_owned(),
            false => "baseline".to_owned(),
        }),
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

#[cfg(test)]
mod tests {
    #[test]
    fn apply_order_reads_as_an_ordinal() {
        let shown: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(super::ordinal)
            .collect();
        assert_eq!(
            shown,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
