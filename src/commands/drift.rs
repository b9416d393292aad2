//! `vpn-inventory drift` and `vpn-inventory history`: change records as table, JSON or CSV.

use super::print_stdout;
use crate::cli::{DriftArgs, HistoryArgs, RecordFormat};
use crate::store::{ChangeRecord, DatabaseUrl, RecordFilter, Store};
use serde_json::Value;
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: DriftArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(database).await?;
    let mut filter = RecordFilter {
        run_id: args.run,
        since: args.since.map(|t| t.with_timezone(&chrono::Utc)),
        category: args.category.map(Into::into),
        ..RecordFilter::default()
    };
    if filter.run_id.is_none() && filter.since.is_none() {
        match store.latest_complete_run().await? {
            Some(run) => filter.run_id = Some(run),
            None => anyhow::bail!("no complete run yet: run `vpn-inventory sync` first"),
        }
    }
    let records = store.change_records(&filter).await?;
    print_stdout(&render(&records, args.format)?)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn history(database: &DatabaseUrl, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(database).await?;
    let filter = RecordFilter {
        connection_id: Some(args.connection_id.clone()),
        ..RecordFilter::default()
    };
    let records = store.change_records(&filter).await?;
    if records.is_empty() && args.format == RecordFormat::Table {
        anyhow::bail!(
            "no history for connection {}: no run has seen it",
            args.connection_id
        );
    }
    print_stdout(&render(&records, args.format)?)?;
    Ok(ExitCode::SUCCESS)
}

fn render(records: &[ChangeRecord], format: RecordFormat) -> anyhow::Result<String> {
    Ok(match format {
        RecordFormat::Json => serde_json::to_string_pretty(records)? + "\n",
        RecordFormat::Csv => csv(records),
        RecordFormat::Table => table(records),
    })
}

/// A value as one cell: strings bare, other JSON as JSON, absent as empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const COLUMNS: [&str; 9] = [
    "run_id",
    "connection_id",
    "connection_name",
    "change",
    "category",
    "field",
    "old",
    "new",
    "detected_at",
];

fn row(r: &ChangeRecord) -> [String; 9] {
    [
        r.run_id.to_string(),
        r.connection_id.clone(),
        r.connection_name.clone().unwrap_or_default(),
        r.change.to_string(),
        r.category.to_string(),
        r.field.clone().unwrap_or_default(),
        // CSV keeps JSON text so a reader can tell "" from absent and 1 from "1".
        if r.old.is_null() {
            String::new()
        } else {
            r.old.to_string()
        },
        if r.new.is_null() {
            String::new()
        } else {
            r.new.to_string()
        },
        r.detected_at.to_rfc3339(),
    ]
}

/// RFC 4180: quote a field holding a comma, quote or line break; double inner quotes.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn csv(records: &[ChangeRecord]) -> String {
    let mut out = COLUMNS.join(",") + "\n";
    for r in records {
        let fields: Vec<String> = row(r).iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn table(records: &[ChangeRecord]) -> String {
    let mut out = format!(
        "{:>5}  {:<36}  {:<20}  {:<8}  {:<6}  {:<40}  {}\n",
        "RUN", "CONNECTION", "NAME", "CHANGE", "KIND", "FIELD", "OLD -> NEW"
    );
    for r in records {
        let values = if r.change == crate::drift::ChangeKind::Modified {
            format!("{} -> {}", cell(&r.old), cell(&r.new))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{:>5}  {:<36}  {:<20}  {:<8}  {:<6}  {:<40}  {}\n",
            r.run_id,
            r.connection_id,
            r.connection_name.as_deref().unwrap_or(""),
            r.change,
            r.category,
            r.field.as_deref().unwrap_or(""),
            values
        ));
    }
    if records.is_empty() {
        out.push_str("(no changes)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("[\"x\",\"y\"]"), "\"[\"\"x\"\",\"\"y\"\"]\"");
    }
}
