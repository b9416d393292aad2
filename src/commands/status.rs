//! `vpn-inventory status`: where the inventory is, how big, and how each scope's runs went.
//! The default table fits in 120 columns; `--wide` shows each scope in full.

use super::project_target::{Only, ShortIds, target_cell};
use super::runs::scope_summary;
use super::{clipped, one_line, plain_table, print_stdout, screen_table, table_text};
use crate::cli::{StatusArgs, TableFormat};
use crate::store::{DatabaseUrl, RunBrief, ScopeStatus, Status, Store};
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let only = Only::resolve(&store, &args.only).await?;
    let mut status = store.status().await?;
    status.scopes.retain(|scope| {
        only.project_id
            .as_ref()
            .is_none_or(|p| *p == scope.project_id)
            && only
                .target
                .as_ref()
                .is_none_or(|t| scope.targets.contains(t))
    });
    store.close().await;
    let text = match args.format {
        TableFormat::Json => {
            let mut json = serde_json::to_value(&status)?;
            json["database"] = database.to_string().into();
            serde_json::to_string_pretty(&json)? + "\n"
        }
        TableFormat::Table => text(database, &status, now_utc(), args.wide),
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn text(database: &DatabaseUrl, status: &Status, now: DateTime<Utc>, wide: bool) -> String {
    let version = status
        .schema_version
        .map_or("no schema".to_owned(), |v| format!("schema version {v}"));
    let size = status
        .size_bytes
        .map_or(String::new(), |b| format!(", {}", super::megabytes(b)));
    let out = format!(
        "database     {}\n             {version}{size}\nconnections  {}\n\n",
        one_line(&database.to_string()),
        status.connections
    );
    let runs = |scope: &ScopeStatus| {
        let run = |brief: &Option<RunBrief>| brief.as_ref().map_or("-".to_owned(), |b| age(b, now));
        let running: Vec<String> = scope.running.iter().map(|b| age(b, now)).collect();
        let failed = scope.last_failed.as_ref().map_or("-".to_owned(), |b| {
            let error = b.error.as_deref().unwrap_or_default();
            format!("{}: {error}", age(b, now))
        });
        let running = if running.is_empty() {
            "-".to_owned()
        } else {
            running.join(", ")
        };
        [run(&scope.last_complete), running, one_line(&failed)]
    };
    let targets = |scope: &ScopeStatus| {
        let names: Vec<&str> = scope.targets.iter().map(String::as_str).collect();
        target_cell((!names.is_empty()).then(|| names.join(", ")).as_deref())
    };
    let runs_header = ["LAST COMPLETE", "RUNNING", "LAST FAILED"];
    if wide {
        let header: Vec<&str> = ["SCOPE", "TARGET"].into_iter().chain(runs_header).collect();
        let mut table = plain_table(&header, &[]);
        for scope in &status.scopes {
            let cells = [one_line(&scope_summary(&scope.scope)), targets(scope)];
            table.add_row(cells.into_iter().chain(runs(scope)));
        }
        return out + &table_text(&table);
    }
    let projects = ShortIds::new(status.scopes.iter().map(|s| s.project_id.as_str()));
    let header: Vec<&str> = ["PROJECT", "TARGET", "FILTERS"]
        .into_iter()
        .chain(runs_header)
        .collect();
    let rows = status.scopes.iter().map(|scope| {
        let cells = [
            projects.of(&scope.project_id),
            clipped(&targets(scope), 24),
            filters(&scope.scope),
        ];
        cells.into_iter().chain(runs(scope)).collect()
    });
    out + &table_text(&screen_table(&header, &[], rows.collect()))
}

/// A scope's filters, each value clipped (ids are long): `vgw_id=9334abcd…`; `-` for none.
fn filters(scope: &serde_json::Value) -> String {
    let Some(obj) = scope.as_object() else {
        return "-".to_owned();
    };
    let shown: Vec<String> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "project_id")
        .map(|(k, v)| {
            let value = v.as_str().map_or(v.to_string(), str::to_owned);
            format!("{k}={}", clipped(&one_line(&value), 9))
        })
        .collect();
    if shown.is_empty() {
        "-".to_owned()
    } else {
        shown.join(" ")
    }
}

/// `run 12, 3h ago`.
fn age(run: &RunBrief, now: DateTime<Utc>) -> String {
    let seconds = (now - run.at).num_seconds().max(0);
    let ago = match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    };
    format!("run {}, {ago} ago", run.run_id)
}
