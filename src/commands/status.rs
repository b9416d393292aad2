//! `vpn-inventory status`: where the inventory is, how big, and how each scope's runs went.

use super::runs::scope_summary;
use super::{one_line, plain_table, print_stdout, table_text};
use crate::cli::{StatusArgs, TableFormat};
use crate::store::{DatabaseUrl, RunBrief, Status, Store};
use crate::time::now_utc;
use chrono::{DateTime, Utc};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let status = store.status().await?;
    let text = match args.format {
        TableFormat::Json => {
            let mut json = serde_json::to_value(&status)?;
            json["database"] = database.to_string().into();
            serde_json::to_string_pretty(&json)? + "\n"
        }
        TableFormat::Table => text(database, &status, now_utc()),
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn text(database: &DatabaseUrl, status: &Status, now: DateTime<Utc>) -> String {
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
    let header = ["SCOPE", "LAST COMPLETE", "LAST FAILED", "RUNNING"];
    let mut table = plain_table(&header, &[]);
    for scope in &status.scopes {
        let run = |brief: &Option<RunBrief>| brief.as_ref().map_or("-".to_owned(), |b| age(b, now));
        let running: Vec<String> = scope.running.iter().map(|b| age(b, now)).collect();
        let failed = scope.last_failed.as_ref().map_or("-".to_owned(), |b| {
            let error = b.error.as_deref().unwrap_or_default();
            format!("{}: {error}", age(b, now))
        });
        table.add_row([
            one_line(&scope_summary(&scope.scope)),
            run(&scope.last_complete),
            one_line(&failed),
            if running.is_empty() {
                "-".to_owned()
            } else {
                running.join(", ")
            },
        ]);
    }
    out + &table_text(&table)
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
