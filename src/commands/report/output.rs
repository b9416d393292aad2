//! A report's rows in each format, written as they arrive: JSON (an array of objects), CSV,
//! Markdown, and the text table (`table`). Every format shows a cell the same way: a time in
//! RFC 3339 UTC with `Z` (whole seconds in the two tables, as `drift` prints them; every
//! digit in CSV and JSON), a JSON value as compact JSON text, or in `--format json` as the
//! value itself. Columns the report's header declares (`-- column: detected_at time`) are
//! read as such first ([`Declared`]): SQLite gives a time as text, and both databases give a
//! JSON value stored in a text column as text.

use super::cells::{FirstRows, Output, Taken, json_value, numeric_columns, table_cell, text};
use super::table::TextTable;
use crate::cli::OutputFormat;
use crate::reports::Holds;
use crate::store::{Cell, QueryTable, RowSink};
use crate::text::one_line;
use serde_json::Value;
use std::io::Write;

/// Where rows in `format` go to `out`, the columns `declared` read as what they hold.
pub fn output<'a>(
    format: OutputFormat,
    declared: &'a [(String, Holds)],
    out: &'a mut dyn Write,
) -> Box<dyn Output + 'a> {
    let writer: Box<dyn Output + 'a> = match format {
        OutputFormat::Table => Box::new(TextTable::new(out)),
        OutputFormat::Json => Box::new(JsonRows {
            columns: Vec::new(),
            rows: 0,
            text: String::new(),
            out,
        }),
        OutputFormat::Csv => Box::new(Csv {
            out: csv::Writer::from_writer(out),
        }),
        OutputFormat::Markdown => Box::new(Markdown {
            columns: Vec::new(),
            first: FirstRows::new(MARKDOWN_SAMPLE),
            out,
        }),
    };
    Box::new(Declared {
        declared,
        holds: Vec::new(),
        writer,
    })
}

/// A whole table's rows in `format` (no columns declared).
pub fn render(table: &QueryTable, format: OutputFormat) -> anyhow::Result<String> {
    let mut text = Vec::new();
    let mut output = output(format, &[], &mut text);
    output.columns(&table.columns)?;
    for row in &table.rows {
        output.row(row.clone())?;
    }
    output.finish()?;
    drop(output);
    Ok(String::from_utf8(text)?)
}

/// Reads the cells of declared columns as what they hold before `writer` writes them: a
/// time's text (SQLite's `YYYY-MM-DD HH:MM:SS.ffffff`) as a time, JSON text as its value. A
/// text that reads as neither stays text.
struct Declared<'a> {
    declared: &'a [(String, Holds)],
    /// What each column holds, by position.
    holds: Vec<Option<Holds>>,
    writer: Box<dyn Output + 'a>,
}

impl RowSink for Declared<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.holds = columns
            .iter()
            .map(|c| self.declared.iter().find(|(n, _)| n == c).map(|(_, h)| *h))
            .collect();
        self.writer.columns(columns)
    }

    fn row(&mut self, mut row: Vec<Cell>) -> anyhow::Result<()> {
        for (cell, holds) in row.iter_mut().zip(&self.holds) {
            if let (Some(holds), Cell::Text(Some(text))) = (holds, &*cell)
                && let Some(read) = read_as(*holds, text)
            {
                *cell = read;
            }
        }
        self.writer.row(row)
    }
}

impl Output for Declared<'_> {
    fn finish(&mut self) -> anyhow::Result<()> {
        self.writer.finish()
    }
}

/// `text` read as a cell holding `holds`, if it reads so.
fn read_as(holds: Holds, text: &str) -> Option<Cell> {
    match holds {
        Holds::Time => chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|t| Cell::from(t.and_utc())),
        Holds::Json => crate::json::parse(text).ok().map(|v| Cell::Json(Some(v))),
    }
}

/// `--format json`: an array of objects, as `serde_json::to_string_pretty` writes it, one
/// object at a time.
struct JsonRows<'a> {
    /// Each column's member name as JSON, with its colon: `"name": `.
    columns: Vec<String>,
    rows: usize,
    /// The row being written, kept to be written into again.
    text: String,
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
        self.columns = columns
            .iter()
            .map(|c| crate::json::to_string(&Value::from(c.as_str())) + ": ")
            .collect();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        let text = &mut self.text;
        text.clear();
        text.push_str(if self.rows == 0 { "[\n  {" } else { ",\n  {" });
        for (i, (member, cell)) in self.columns.iter().zip(&row).enumerate() {
            text.push_str(if i == 0 { "\n    " } else { ",\n    " });
            text.push_str(member);
            match json_value(cell) {
                // A list or object spans lines, each indented under its member.
                value @ (Value::Array(_) | Value::Object(_)) => {
                    let pretty = crate::json::to_string_pretty(&value);
                    text.push_str(&pretty.replace('\n', "\n    "));
                }
                value => text.push_str(&crate::json::to_string(&value)),
            }
        }
        text.push_str(if self.columns.is_empty() {
            "}"
        } else {
            "\n  }"
        });
        self.out.write_all(text.as_bytes())?;
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
    first: FirstRows,
    out: &'a mut dyn Write,
}

impl Markdown<'_> {
    fn line(&mut self, cells: impl Iterator<Item = String>) -> std::io::Result<()> {
        let cells: Vec<String> = cells.collect();
        writeln!(self.out, "| {} |", cells.join(" | "))
    }

    fn write_row(&mut self, row: &[Cell]) -> std::io::Result<()> {
        self.line(row.iter().map(|c| table_cell(c).replace('|', "\\|")))
    }

    /// The header, its alignment from the first rows, and those rows.
    fn write_head(&mut self, first: &[Vec<Cell>]) -> std::io::Result<()> {
        let numeric = numeric_columns(self.columns.len(), first);
        let columns = std::mem::take(&mut self.columns);
        self.line(columns.iter().map(|c| one_line(c).replace('|', "\\|")))?;
        let align = (0..columns.len())
            .map(|i| if numeric.contains(&i) { "---:" } else { "---" }.to_owned());
        self.line(align)?;
        first.iter().try_for_each(|row| self.write_row(row))
    }
}

impl RowSink for Markdown<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        match self.first.take(row) {
            Taken::Held => {}
            Taken::First(first) => self.write_head(&first)?,
            Taken::Later(row) => self.write_row(&row)?,
        }
        Ok(())
    }
}

impl Output for Markdown<'_> {
    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(first) = self.first.rest() {
            self.write_head(&first)?;
        }
        Ok(())
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn json_rows_are_written_as_the_whole_array_pretty_prints() {
        let mut table = sample();
        table.rows.push(vec![
            Cell::from("line\nbreak \"quoted\" \u{1}"),
            Cell::from(-3),
            Cell::Bool(Some(true)),
            Cell::Json(Some(json!({"a": [1, {"b": []}], "c": {}, "d": "x\ny"}))),
        ]);
        let objects: Vec<Value> = table
            .rows
            .iter()
            .map(|row| {
                let members = table.columns.iter().zip(row);
                Value::Object(members.map(|(c, v)| (c.clone(), json_value(v))).collect())
            })
            .collect();
        let whole = crate::json::to_string_pretty(&Value::Array(objects)) + "\n";
        assert_eq!(render(&table, OutputFormat::Json).unwrap(), whole);
        let empty = QueryTable {
            columns: table.columns.clone(),
            rows: Vec::new(),
        };
        assert_eq!(render(&empty, OutputFormat::Json).unwrap(), "[]\n");
    }

    #[test]
    fn every_format_shows_the_same_values() {
        let table = sample();
        let json: Value =
            serde_json::from_str(&render(&table, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            json!([
                {"name": "a|b,c", "count": 12, "seen": "2022-12-11T13:59:59.633Z",
                 "old": ["10.0.0.0/8"]},
                {"name": null, "count": 2.5, "seen": null, "old": null},
            ])
        );
        let csv = render(&table, OutputFormat::Csv).unwrap();
        assert_eq!(
            csv,
            "name,count,seen,old\n\
             \"a|b,c\",12,2022-12-11T13:59:59.633Z,\"[\"\"10.0.0.0/8\"\"]\"\n\
             ,2.5,,\n"
        );
        let markdown = render(&table, OutputFormat::Markdown).unwrap();
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines[0], "| name | count | seen | old |");
        assert_eq!(lines[1], "| --- | ---: | --- | --- |");
        assert_eq!(
            lines[2],
            "| a\\|b,c | 12 | 2022-12-11T13:59:59Z | [\"10.0.0.0/8\"] |"
        );
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
    fn declared_columns_read_as_times_and_json_on_either_backend() {
        // SQLite's text for a time, and JSON stored as text, as both databases give it.
        let declared = [
            ("at".to_owned(), Holds::Time),
            ("old".to_owned(), Holds::Json),
        ];
        let columns = ["at".to_owned(), "old".to_owned(), "plain".to_owned()];
        let rows = [
            vec![
                Cell::from("2026-11-28 15:38:53.839686"),
                Cell::from("{\"b\":1,\"a\":[1.50,\"x\"]}"),
                Cell::from("2026-11-28 15:38:53.839686"),
            ],
            vec![
                Cell::from("not a time"),
                Cell::from("not json"),
                Cell::Text(None),
            ],
        ];
        let written = |format| {
            let mut text = Vec::new();
            let mut output = output(format, &declared, &mut text);
            output.columns(&columns).unwrap();
            for row in &rows {
                output.row(row.clone()).unwrap();
            }
            output.finish().unwrap();
            drop(output);
            String::from_utf8(text).unwrap()
        };
        let json: Value = serde_json::from_str(&written(OutputFormat::Json)).unwrap();
        assert_eq!(json[0]["at"], "2026-11-28T15:38:53.839686Z");
        // Every number as stored (1.50, not 1.5).
        let stored: Value = serde_json::from_str("{\"b\":1,\"a\":[1.50,\"x\"]}").unwrap();
        assert_eq!(json[0]["old"], stored);
        assert_eq!(
            json[0]["plain"], "2026-11-28 15:38:53.839686",
            "undeclared: as given"
        );
        assert_eq!(
            json[1],
            json!({"at": "not a time", "old": "not json", "plain": null})
        );
        let csv = written(OutputFormat::Csv);
        assert_eq!(
            csv.lines().nth(1),
            Some(
                "2026-11-28T15:38:53.839686Z,\"{\"\"b\"\":1,\"\"a\"\":[1.50,\"\"x\"\"]}\",\
                 2026-11-28 15:38:53.839686"
            )
        );
        let table = written(OutputFormat::Table);
        assert!(
            table
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("2026-11-28T15:38:53Z  {"),
            "{table}"
        );
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
