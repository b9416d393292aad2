//! `vpn-inventory report`: list the reports, run one (built in or from a file), print its rows
//! as a table, JSON, CSV or Markdown.

use super::{one_line, plain_table, print_stdout, table_text};
use crate::cli::{OutputFormat, ReportArgs};
use crate::reports::Report;
use crate::store::{Cell, DatabaseUrl, QueryTable, RowSink, Store};
use crate::time::{now_utc, stored_text};
use serde_json::{Map, Value, json};
use std::io::Write;
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
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    let mut output = output(args.format, &mut stdout);
    let written = match report
        .run(&store, &args.params, now_utc(), output.as_mut())
        .await
    {
        Ok(()) => output.finish(),
        Err(e) => Err(e),
    };
    drop(output);
    match written.and_then(|()| Ok(stdout.flush()?)) {
        // A closed pipe (`| head`) is not an error: the rows it wanted were written.
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS),
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if broken(io)))
    })
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
    let mut text = Vec::new();
    let mut output = output(format, &mut text);
    output.columns(&table.columns)?;
    for row in &table.rows {
        output.row(row.clone())?;
    }
    output.finish()?;
    drop(output);
    Ok(String::from_utf8(text)?)
}

/// Rows written in a format as they arrive, then [`Output::finish`]ed.
trait Output: RowSink {
    /// Writes what the format writes after the last row.
    fn finish(&mut self) -> anyhow::Result<()>;
}

/// Where rows in `format` go to `out`. CSV, JSON and Markdown are written as the rows arrive;
/// a table is sized to its longest cells, so it is written once every row has come (held
/// whole: `--format csv` or `json` for results too large for that).
fn output<'a>(format: OutputFormat, out: &'a mut dyn Write) -> Box<dyn Output + 'a> {
    match format {
        OutputFormat::Table => Box::new(TextTable {
            table: QueryTable::default(),
            out,
        }),
        OutputFormat::Json => Box::new(JsonRows {
            columns: Vec::new(),
            rows: 0,
            out,
        }),
        OutputFormat::Csv => Box::new(Csv {
            out: csv::Writer::from_writer(out),
        }),
        OutputFormat::Markdown => Box::new(Markdown {
            columns: Vec::new(),
            sample: Vec::new(),
            numeric: None,
            out,
        }),
    }
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
        // Only ever bound to statements: read columns come back as the cells above
        // (`store::cells`, which reads a PostgreSQL uuid as its hex digits).
        Cell::IdKey(id) => id.clone(),
        Cell::Bound(b) => b.map(crate::net::hex).unwrap_or_default(),
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
        | Cell::Time(None)
        | Cell::Bound(None) => Value::Null,
        Cell::Text(Some(_))
        | Cell::Json(Some(_))
        | Cell::Time(Some(_))
        | Cell::IdKey(_)
        | Cell::Bound(Some(_)) => Value::from(text(cell)),
    }
}

/// Columns (of `width`) whose every value in `rows` is a number: right-aligned.
fn numeric_columns(width: usize, rows: &[Vec<Cell>]) -> Vec<usize> {
    (0..width)
        .filter(|&i| {
            let mut cells = rows.iter().map(|row| &row[i]).peekable();
            cells.peek().is_some()
                && cells.all(|c| {
                    matches!(c, Cell::Int(_) | Cell::Float(_))
                        || matches!(c, Cell::Text(None) | Cell::Json(None) | Cell::Time(None))
                })
        })
        .collect()
}

/// `--format table`: every row is held, then the columns are sized to their longest cell.
struct TextTable<'a> {
    table: QueryTable,
    out: &'a mut dyn Write,
}

impl RowSink for TextTable<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.table.columns(columns)
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        self.table.row(row)
    }
}

impl Output for TextTable<'_> {
    fn finish(&mut self) -> anyhow::Result<()> {
        let table = &self.table;
        let header: Vec<&str> = table.columns.iter().map(String::as_str).collect();
        let numeric = numeric_columns(table.columns.len(), &table.rows);
        let mut out = plain_table(&header, &numeric);
        for row in &table.rows {
            out.add_row(row.iter().map(|c| one_line(&text(c))));
        }
        let mut text = table_text(&out);
        if table.rows.is_empty() {
            text.push_str("(no rows)\n");
        }
        Ok(self.out.write_all(text.as_bytes())?)
    }
}

/// `--format json`: an array of objects, as `serde_json::to_string_pretty` writes it, one
/// object at a time.
struct JsonRows<'a> {
    columns: Vec<String>,
    rows: usize,
    out: &'a mut dyn Write,
}

impl RowSink for JsonRows<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].contains(column) {
                anyhow::bail!(
                    "column {column} appears twice: name each column (`AS ...`) for --format json"
                );
            }
        }
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        let object: Map<String, Value> = self
            .columns
            .iter()
            .zip(&row)
            .map(|(column, cell)| (column.clone(), json_value(cell)))
            .collect();
        let text = serde_json::to_string_pretty(&Value::Object(object))?;
        self.out
            .write_all(if self.rows == 0 { b"[\n" } else { b",\n" })?;
        for (i, line) in text.lines().enumerate() {
            let newline = if i > 0 { "\n" } else { "" };
            write!(self.out, "{newline}  {line}")?;
        }
        self.rows += 1;
        Ok(())
    }
}

impl Output for JsonRows<'_> {
    fn finish(&mut self) -> anyhow::Result<()> {
        let end: &[u8] = if self.rows == 0 { b"[]\n" } else { b"\n]\n" };
        Ok(self.out.write_all(end)?)
    }
}

/// `--format csv`: RFC 4180, header first; plain values (NULL as an empty field).
struct Csv<'a> {
    out: csv::Writer<&'a mut dyn Write>,
}

impl RowSink for Csv<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        Ok(self.out.write_record(columns)?)
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        Ok(self.out.write_record(row.iter().map(text))?)
    }
}

impl Output for Csv<'_> {
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(self.out.flush()?)
    }
}

/// How many rows decide which Markdown columns are numeric (right-aligned) before the table is
/// written: all of them for a result this size, and a bounded memory for any larger one.
const MARKDOWN_SAMPLE: usize = 1000;

/// `--format markdown`: a GitHub-flavoured Markdown table; numbers right-aligned, `|` escaped.
/// The first [`MARKDOWN_SAMPLE`] rows are held to align the columns, the rest written as they
/// come.
struct Markdown<'a> {
    columns: Vec<String>,
    sample: Vec<Vec<Cell>>,
    /// The right-aligned columns, once the header is written.
    numeric: Option<Vec<usize>>,
    out: &'a mut dyn Write,
}

impl Markdown<'_> {
    fn line(&mut self, cells: impl Iterator<Item = String>) -> std::io::Result<()> {
        let cells: Vec<String> = cells.collect();
        writeln!(self.out, "| {} |", cells.join(" | "))
    }

    fn write_row(&mut self, row: &[Cell]) -> std::io::Result<()> {
        self.line(row.iter().map(|c| markdown_escape(&text(c))))
    }

    /// The header, its alignment from the rows held, and those rows.
    fn write_head(&mut self) -> std::io::Result<()> {
        let numeric = numeric_columns(self.columns.len(), &self.sample);
        let columns = std::mem::take(&mut self.columns);
        self.line(columns.iter().map(|c| markdown_escape(c)))?;
        let align = (0..columns.len())
            .map(|i| if numeric.contains(&i) { "---:" } else { "---" }.to_owned());
        self.line(align)?;
        for row in std::mem::take(&mut self.sample) {
            self.write_row(&row)?;
        }
        self.numeric = Some(numeric);
        Ok(())
    }
}

fn markdown_escape(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

impl RowSink for Markdown<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        if self.numeric.is_some() {
            return Ok(self.write_row(&row)?);
        }
        self.sample.push(row);
        if self.sample.len() == MARKDOWN_SAMPLE {
            self.write_head()?;
        }
        Ok(())
    }
}

impl Output for Markdown<'_> {
    fn finish(&mut self) -> anyhow::Result<()> {
        if self.numeric.is_none() {
            self.write_head()?;
        }
        Ok(())
    }
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
    fn rows_written_as_they_come_read_as_the_whole_table_would() {
        let table = sample();
        let whole: Vec<Value> = table
            .rows
            .iter()
            .map(|row| {
                let object = table
                    .columns
                    .iter()
                    .cloned()
                    .zip(row.iter().map(json_value));
                Value::Object(object.collect())
            })
            .collect();
        let json = render(&table, OutputFormat::Json).unwrap();
        assert_eq!(json, serde_json::to_string_pretty(&whole).unwrap() + "\n");
        let empty = QueryTable {
            columns: vec!["id".into()],
            rows: vec![],
        };
        assert_eq!(render(&empty, OutputFormat::Json).unwrap(), "[]\n");
        assert_eq!(
            render(&empty, OutputFormat::Markdown).unwrap(),
            "| id |\n| --- |\n"
        );
    }

    #[test]
    fn markdown_aligns_by_the_rows_it_holds_and_writes_every_row() {
        let row = |cell: Cell| vec![cell];
        let mut rows: Vec<Vec<Cell>> = (0..MARKDOWN_SAMPLE)
            .map(|i| row(Cell::from(i64::try_from(i).unwrap())))
            .collect();
        rows.push(row(Cell::from("later text")));
        let table = QueryTable {
            columns: vec!["n".into()],
            rows,
        };
        let markdown = render(&table, OutputFormat::Markdown).unwrap();
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines.len(), MARKDOWN_SAMPLE + 3);
        assert_eq!(lines[1], "| ---: |");
        assert_eq!(lines.last(), Some(&"| later text |"));
        // Within the rows held, a text decides as it did when the table was held whole.
        let mut table = table;
        table.rows.swap(0, MARKDOWN_SAMPLE);
        let markdown = render(&table, OutputFormat::Markdown).unwrap();
        assert_eq!(markdown.lines().nth(1), Some("| --- |"));
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
