//! `vpn-inventory report`: list the reports, run one (built in or from a file), print its rows
//! as a table, JSON, CSV or Markdown.

use super::{one_line, plain_table, print_stdout, table_text};
use crate::cli::{OutputFormat, ReportArgs};
use crate::reports::Report;
use crate::store::{Cell, DatabaseUrl, QueryTable, Store};
use crate::time::{now_utc, stored_text};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        print_stdout(&list(&Report::builtin_all(), args.format)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = match (&args.name, &args.file) {
        (_, Some(path)) => Report::from_file(path)?,
        (Some(name), None) => Report::builtin(name)?,
        (None, None) => anyhow::bail!("name a report, or give --list or --file"),
    };
    if args.show_sql {
        print_stdout(&report.text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open_for_reading(database).await?;
    let table = report.run(&store, &args.params, now_utc()).await?;
    print_stdout(&render(&table, args.format)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The reports as a table of name, title and parameters; as JSON with their descriptions and
/// each parameter's kind, default and description.
fn list(reports: &[Report], format: OutputFormat) -> anyhow::Result<String> {
    if format == OutputFormat::Json {
        let reports: Vec<Value> = reports
            .iter()
            .map(|r| {
                let params: Vec<Value> = r
                    .header
                    .params
                    .iter()
                    .map(|p| {
                        json!({"name": p.name, "type": p.kind.as_str(), "default": p.default,
                               "description": p.description})
                    })
                    .collect();
                json!({"name": r.name, "title": r.header.title,
                       "description": r.header.description, "parameters": params})
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&reports)? + "\n");
    }
    let text = |s: &str| Cell::Text(Some(s.to_owned()));
    let table = QueryTable {
        columns: vec!["name".into(), "title".into(), "parameters".into()],
        rows: reports
            .iter()
            .map(|r| {
                vec![
                    text(&r.name),
                    text(&r.header.title),
                    text(&r.params_summary()),
                ]
            })
            .collect(),
    };
    render(&table, format)
}

/// A report's rows in `format`. Cells read alike from both backends (`store::cells`); times
/// show as SQLite holds them, JSON values as compact JSON text.
pub fn render(table: &QueryTable, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table => text_table(table),
        OutputFormat::Json => json_rows(table)?,
        OutputFormat::Csv => csv(table)?,
        OutputFormat::Markdown => markdown(table),
    })
}

/// A cell as text: empty for NULL.
fn text(cell: &Cell) -> String {
    match cell {
        Cell::Text(v) => v.clone().unwrap_or_default(),
        Cell::Int(v) => v.map(|n| n.to_string()).unwrap_or_default(),
        Cell::Float(v) => v.map(|f| f.to_string()).unwrap_or_default(),
        Cell::Bool(v) => v.map(|b| b.to_string()).unwrap_or_default(),
        Cell::Json(v) => v.as_ref().map(Value::to_string).unwrap_or_default(),
        Cell::Time(v) => v.as_ref().map(stored_text).unwrap_or_default(),
        // Bound, never read.
        Cell::IdKey(id) => id.clone(),
    }
}

/// A cell as a JSON value: numbers and booleans as such, NULL as null, the rest as strings.
fn json_value(cell: &Cell) -> Value {
    match cell {
        Cell::Int(Some(n)) => Value::from(*n),
        Cell::Float(Some(f)) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cell::Bool(Some(b)) => Value::from(*b),
        Cell::Text(None)
        | Cell::Int(None)
        | Cell::Float(None)
        | Cell::Bool(None)
        | Cell::Json(None)
        | Cell::Time(None) => Value::Null,
        Cell::Text(Some(_)) | Cell::Json(Some(_)) | Cell::Time(Some(_)) | Cell::IdKey(_) => {
            Value::from(text(cell))
        }
    }
}

/// Columns whose every value is a number: right-aligned.
fn numeric_columns(table: &QueryTable) -> Vec<usize> {
    (0..table.columns.len())
        .filter(|&i| {
            let mut cells = table.rows.iter().map(|row| &row[i]).peekable();
            cells.peek().is_some()
                && cells.all(|c| {
                    matches!(c, Cell::Int(_) | Cell::Float(_))
                        || matches!(c, Cell::Text(None) | Cell::Json(None) | Cell::Time(None))
                })
        })
        .collect()
}

fn text_table(table: &QueryTable) -> String {
    let header: Vec<&str> = table.columns.iter().map(String::as_str).collect();
    let mut out = plain_table(&header, &numeric_columns(table));
    for row in &table.rows {
        out.add_row(row.iter().map(|c| one_line(&text(c))));
    }
    let mut text = table_text(&out);
    if table.rows.is_empty() {
        text.push_str("(no rows)\n");
    }
    text
}

fn json_rows(table: &QueryTable) -> anyhow::Result<String> {
    for (i, column) in table.columns.iter().enumerate() {
        if table.columns[..i].contains(column) {
            anyhow::bail!(
                "column {column} appears twice: name each column (`AS ...`) for --format json"
            );
        }
    }
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|row| {
            let object: Map<String, Value> = table
                .columns
                .iter()
                .zip(row)
                .map(|(column, cell)| (column.clone(), json_value(cell)))
                .collect();
            Value::Object(object)
        })
        .collect();
    Ok(serde_json::to_string_pretty(&rows)? + "\n")
}

/// RFC 4180 CSV, header first; plain values (NULL as an empty field).
fn csv(table: &QueryTable) -> anyhow::Result<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&table.columns)?;
    for row in &table.rows {
        out.write_record(row.iter().map(text))?;
    }
    Ok(String::from_utf8(out.into_inner()?)?)
}

/// A GitHub-flavoured Markdown table; numbers right-aligned, `|` escaped.
fn markdown(table: &QueryTable) -> String {
    let escape = |s: &str| one_line(s).replace('|', "\\|");
    let numeric = numeric_columns(table);
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(table.columns.iter().map(|c| escape(c)).collect());
    out.push_str(&line(
        (0..table.columns.len())
            .map(|i| if numeric.contains(&i) { "---:" } else { "---" }.to_owned())
            .collect(),
    ));
    for row in &table.rows {
        out.push_str(&line(row.iter().map(|c| escape(&text(c))).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QueryTable {
        let time = chrono::DateTime::from_timestamp(1_670_767_199, 633_000_000).unwrap();
        QueryTable {
            columns: vec!["name".into(), "count".into(), "seen".into(), "old".into()],
            rows: vec![
                vec![
                    Cell::from("a|b,c"),
                    Cell::from(12),
                    Cell::from(time),
                    Cell::Json(Some(json!(["10.0.0.0/8"]))),
                ],
                vec![
                    Cell::Text(None),
                    Cell::from(2.5),
                    Cell::Time(None),
                    Cell::Text(None),
                ],
            ],
        }
    }

    #[test]
    fn every_format_shows_the_same_values() {
        let table = sample();
        let json: Value =
            serde_json::from_str(&render(&table, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            json!([
                {"name": "a|b,c", "count": 12, "seen": "2022-12-11 13:59:59.633000",
                 "old": "[\"10.0.0.0/8\"]"},
                {"name": null, "count": 2.5, "seen": null, "old": null},
            ])
        );
        let csv = render(&table, OutputFormat::Csv).unwrap();
        assert_eq!(
            csv,
            "name,count,seen,old\n\
             \"a|b,c\",12,2022-12-11 13:59:59.633000,\"[\"\"10.0.0.0/8\"\"]\"\n\
             ,2.5,,\n"
        );
        let markdown = render(&table, OutputFormat::Markdown).unwrap();
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines[0], "| name | count | seen | old |");
        assert_eq!(lines[1], "| --- | ---: | --- | --- |");
        assert!(lines[2].starts_with("| a\\|b,c | 12 |"), "{markdown}");
        let text = render(&table, OutputFormat::Table).unwrap();
        assert!(text.lines().next().unwrap().starts_with("name"), "{text}");
        let empty = QueryTable {
            columns: vec!["id".into()],
            rows: vec![],
        };
        assert_eq!(
            render(&empty, OutputFormat::Table).unwrap(),
            "id\n(no rows)\n"
        );
        assert_eq!(render(&empty, OutputFormat::Csv).unwrap(), "id\n");
    }

    #[test]
    fn json_needs_distinct_column_names() {
        let table = QueryTable {
            columns: vec!["id".into(), "id".into()],
            rows: vec![],
        };
        let error = render(&table, OutputFormat::Json).unwrap_err().to_string();
        assert!(error.contains("column id appears twice"), "{error}");
    }
}
