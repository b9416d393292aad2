//! `vpn-inventory drift` and `vpn-inventory history`: change records as table, JSON or CSV.

use super::{one_line, plain_table, print_stdout, table_text};
use crate::cli::{DriftArgs, HistoryArgs, RecordFormat};
use crate::drift::ChangeKind;
use crate::json::lossy;
use crate::store::{ChangeRecord, DatabaseUrl, RecordFilter, RunStatus, Store};
use serde_json::Value;
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: DriftArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let mut filter = RecordFilter {
        run_id: args.run,
        since: args.since.map(|t| t.with_timezone(&chrono::Utc)),
        category: args.category.map(Into::into),
        ..RecordFilter::default()
    };
    match filter.run_id {
        Some(run) => match store.run_status(run).await? {
            Some((RunStatus::Complete, _)) => {}
            None => anyhow::bail!("there is no run {run} (`vpn-inventory runs` lists them)"),
            Some((RunStatus::Failed, error)) => anyhow::bail!(
                "run {run} failed, so it recorded no changes: {}",
                error.as_deref().unwrap_or("no reason recorded")
            ),
            Some((RunStatus::Running, _)) => {
                anyhow::bail!("run {run} is still running: its changes are not recorded yet")
            }
        },
        None if filter.since.is_none() => match store.latest_complete_run().await? {
            Some(run) => filter.run_id = Some(run),
            None => anyhow::bail!("no complete run yet: run `vpn-inventory sync` first"),
        },
        None => {}
    }
    let records = store.change_records(&filter).await?;
    print_stdout(&render(&records, args.format)?)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn history(database: &DatabaseUrl, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
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
        RecordFormat::Json => crate::json::to_string_pretty(records) + "\n",
        RecordFormat::Csv => csv(records)?,
        RecordFormat::Table => table(records),
    })
}

/// A value as one cell: strings bare, other JSON as JSON, absent as empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => lossy(s).into_owned(),
        other => json_text(other),
    }
}

/// JSON text of a value, as sent; absent as empty.
fn json_text(value: &Value) -> String {
    if value.is_null() {
        String::new()
    } else {
        crate::json::to_string(value)
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
        lossy(&r.connection_id).into_owned(),
        lossy(r.connection_name.as_deref().unwrap_or_default()).into_owned(),
        r.change.to_string(),
        r.category.to_string(),
        lossy(r.field.as_deref().unwrap_or_default()).into_owned(),
        // CSV keeps JSON text so a reader can tell "" from absent and 1 from "1".
        json_text(&r.old),
        json_text(&r.new),
        r.detected_at.to_rfc3339(),
    ]
}

/// RFC 4180 CSV (records end in `\n`), header first.
fn csv(records: &[ChangeRecord]) -> anyhow::Result<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(COLUMNS)?;
    for r in records {
        out.write_record(row(r))?;
    }
    Ok(String::from_utf8(out.into_inner()?)?)
}

fn table(records: &[ChangeRecord]) -> String {
    let header = [
        "RUN",
        "CONNECTION",
        "NAME",
        "CHANGE",
        "KIND",
        "FIELD",
        "OLD -> NEW",
    ];
    let mut table = plain_table(&header, &[0]);
    for r in records {
        let values = if r.change == ChangeKind::Modified {
            format!("{} -> {}", cell(&r.old), cell(&r.new))
        } else {
            String::new()
        };
        table.add_row([
            r.run_id.to_string(),
            one_line(&r.connection_id),
            one_line(r.connection_name.as_deref().unwrap_or("")),
            r.change.to_string(),
            r.category.to_string(),
            one_line(r.field.as_deref().unwrap_or_default()),
            one_line(&values),
        ]);
    }
    let mut out = table_text(&table);
    if records.is_empty() {
        out.push_str("(no changes)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::Category;
    use serde_json::json;

    fn record(name: &str, old: Value, new: Value) -> ChangeRecord {
        ChangeRecord {
            run_id: 7,
            connection_id: "c-1".into(),
            connection_name: Some(name.into()),
            change: ChangeKind::Modified,
            category: Category::Config,
            field: Some("peer_subnets".into()),
            old,
            new,
            detected_at: chrono::DateTime::from_timestamp(1_670_767_199, 0).unwrap(),
        }
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let text = csv(&[record("a,b", json!("say \"hi\""), json!(["x", "y"]))]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        let fields = [
            "7,c-1,\"a,b\",modified,config,peer_subnets",
            r#""""say \""hi\""""""#,
            r#""[""x"",""y""]""#,
            "2022-12-11T13:59:59+00:00",
        ];
        assert_eq!(lines[1], fields.join(","));
    }

    #[test]
    fn long_names_keep_the_columns_aligned() {
        let long = "a-connection-name-much-longer-than-twenty-characters";
        let text = table(&[
            record(long, json!(1), json!(2)),
            record("short", json!(1), json!(2)),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        let kind_at = |line: &str| line.find("config").unwrap();
        assert_eq!(kind_at(lines[1]), kind_at(lines[2]), "{text}");
        assert_eq!(lines[0].find("KIND"), Some(kind_at(lines[1])), "{text}");
        assert!(lines[1].ends_with("1 -> 2"), "{text}");
        assert_eq!(table(&[]).lines().last(), Some("(no changes)"));
    }
}
