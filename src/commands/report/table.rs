//! `--format table`: the rows as aligned text columns, written as they arrive. The first
//! [`FIRST_SCREEN`] rows are held to measure the columns (the widest cell or header of each)
//! and to decide which hold only numbers (right-aligned); then those rows are written and
//! every later one goes straight out at the same widths, so a huge result takes no more
//! memory than a screenful. A later cell wider than its column is written whole: it pushes
//! the rest of its line to the right, and nothing is cut.

use super::cells::{FirstRows, Output, Taken, numeric_columns, table_cell};
use crate::store::{Cell, RowSink};
use std::io::Write;
use unicode_width::UnicodeWidthStr as _;

/// How many rows are held to measure the columns.
pub const FIRST_SCREEN: usize = 100;

/// Space between two columns.
const GAP: &str = "  ";

pub struct TextTable<'a> {
    columns: Vec<String>,
    /// The rows that measure the columns.
    first: FirstRows,
    /// Each column's width and whether it is right-aligned, once measured.
    layout: Option<Vec<(usize, bool)>>,
    rows: usize,
    /// The line being written, kept to be written into again.
    line: String,
    out: &'a mut dyn Write,
}

/// How many columns `text` takes on a terminal (ASCII, the usual case, without a lookup).
fn shown_width(text: &str) -> usize {
    match text.is_ascii() {
        true => text.len(),
        false => text.width(),
    }
}

/// Appends `count` spaces.
fn pad_with_spaces(line: &mut String, count: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = count;
    while left > 0 {
        let now = left.min(SPACES.len());
        line.push_str(&SPACES[..now]);
        left -= now;
    }
}

impl<'a> TextTable<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        TextTable {
            columns: Vec::new(),
            first: FirstRows::new(FIRST_SCREEN),
            layout: None,
            rows: 0,
            line: String::new(),
            out,
        }
    }

    /// How many rows it holds now: never more than [`FIRST_SCREEN`].
    #[cfg(test)]
    fn held(&self) -> usize {
        self.first.held()
    }

    /// Measures the columns on the header and the first rows, then writes them.
    fn write_head(&mut self, first: &[Vec<Cell>]) -> std::io::Result<()> {
        let numeric = numeric_columns(self.columns.len(), first);
        let texts: Vec<Vec<String>> = first
            .iter()
            .map(|row| row.iter().map(table_cell).collect())
            .collect();
        let layout: Vec<(usize, bool)> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let widest = texts.iter().map(|row| shown_width(&row[i])).max();
                (
                    widest.unwrap_or(0).max(shown_width(column)),
                    numeric.contains(&i),
                )
            })
            .collect();
        let header = self.columns.clone();
        self.layout = Some(layout);
        self.line(&header)?;
        for row in texts {
            self.line(&row)?;
        }
        Ok(())
    }

    /// One line: each cell padded to its column, trailing spaces trimmed.
    fn line(&mut self, cells: &[String]) -> std::io::Result<()> {
        let layout = self.layout.as_deref().unwrap_or_default();
        let line = &mut self.line;
        line.clear();
        for (i, (cell, (width, right))) in cells.iter().zip(layout).enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            let pad = width.saturating_sub(shown_width(cell));
            if *right {
                pad_with_spaces(line, pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                pad_with_spaces(line, pad);
            }
        }
        let kept = line.trim_end().len();
        line.truncate(kept);
        line.push('\n');
        self.out.write_all(line.as_bytes())
    }
}

impl RowSink for TextTable<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.columns = columns.iter().map(|c| crate::text::one_line(c)).collect();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        self.rows += 1;
        match self.first.take(row) {
            Taken::Held => {}
            Taken::First(first) => self.write_head(&first)?,
            Taken::Later(row) => self.line(&row.iter().map(table_cell).collect::<Vec<_>>())?,
        }
        Ok(())
    }
}

impl Output for TextTable<'_> {
    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(first) = self.first.rest() {
            self.write_head(&first)?;
        }
        if self.rows == 0 {
            self.out.write_all(b"(no rows)\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{plain_table, table_text};

    fn table(columns: &[&str], rows: &[Vec<Cell>]) -> String {
        let mut out = Vec::new();
        let mut table = TextTable::new(&mut out);
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        table.columns(&columns).unwrap();
        for row in rows {
            table.row(row.clone()).unwrap();
        }
        table.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_first_screen_reads_as_the_shared_table_writer_writes_it() {
        let rows: Vec<Vec<Cell>> = (0..7i64)
            .map(|i| {
                vec![
                    Cell::from(format!("name-{}", "é".repeat(usize::try_from(i).unwrap()))),
                    Cell::from(i * 1000),
                    if i == 3 {
                        Cell::Text(None)
                    } else {
                        Cell::from("x")
                    },
                ]
            })
            .collect();
        let mut expected = plain_table(&["name", "count", "note"], &[1]);
        for row in &rows {
            expected.add_row(row.iter().map(table_cell));
        }
        assert_eq!(
            table(&["name", "count", "note"], &rows),
            table_text(&expected)
        );
        assert_eq!(table(&["id"], &[]), "id\n(no rows)\n");
    }

    #[test]
    fn later_rows_keep_the_first_screens_widths_and_a_wider_cell_overflows() {
        let mut rows: Vec<Vec<Cell>> = (0..FIRST_SCREEN)
            .map(|_| vec![Cell::from("ab"), Cell::from(1)])
            .collect();
        rows.push(vec![Cell::from("abcdef"), Cell::from(22)]);
        let text = table(&["k", "n"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), FIRST_SCREEN + 2);
        assert_eq!(lines[0], "k   n");
        assert_eq!(lines[1], "ab  1");
        assert_eq!(lines[FIRST_SCREEN + 1], "abcdef  22");
    }

    /// Counts what is written, keeping none of it.
    #[derive(Default)]
    struct Counting {
        bytes: usize,
        lines: usize,
    }

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes += buf.len();
            self.lines += buf.iter().filter(|b| **b == b'\n').count();
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_huge_result_streams_through_holding_a_screen_at_most() {
        const ROWS: usize = 200_000;
        let mut out = Counting::default();
        let mut table = TextTable::new(&mut out);
        table
            .columns(&["i".to_owned(), "label".to_owned()])
            .unwrap();
        let mut most_held = 0;
        for i in 0..ROWS {
            let n = i64::try_from(i).unwrap();
            table
                .row(vec![Cell::from(n), Cell::from(format!("row {n}"))])
                .unwrap();
            most_held = most_held.max(table.held());
        }
        table.finish().unwrap();
        assert_eq!(most_held, FIRST_SCREEN - 1);
        assert_eq!(table.held(), 0);
        drop(table);
        assert_eq!(out.lines, ROWS + 1);
        assert!(out.bytes > ROWS * "1  row 1\n".len(), "{}", out.bytes);
    }
}
