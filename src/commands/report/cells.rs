//! What every format of a report shares: how a cell reads as text or as a JSON value, which
//! columns are numeric, and the [`Output`] each format is.

use crate::store::{Cell, RowSink};
use crate::text::one_line;
use crate::time::{shown, shown_in_table};
use serde_json::Value;

/// Rows written in a format as they arrive, then [`Output::finish`]ed.
pub trait Output: RowSink {
    /// Writes what the format writes after the last row.
    fn finish(&mut self) -> anyhow::Result<()>;
}

/// A cell as text: empty for NULL; times as `time` writes them.
fn text_with(cell: &Cell, time: fn(&chrono::DateTime<chrono::Utc>) -> String) -> String {
    match cell {
        Cell::Text(v) => v.clone().unwrap_or_default(),
        Cell::Int(v) => v.map(|n| n.to_string()).unwrap_or_default(),
        Cell::Float(v) => v.map(|f| f.to_string()).unwrap_or_default(),
        Cell::Bool(v) => v.map(|b| b.to_string()).unwrap_or_default(),
        Cell::Json(v) => v.as_ref().map(crate::json::to_string).unwrap_or_default(),
        Cell::Time(v) => v.as_ref().map(time).unwrap_or_default(),
        // Only ever bound to statements: read columns come back as the cells above
        // (`store::cells`, which reads a PostgreSQL uuid as its hex digits).
        Cell::IdKey(id) => id.clone(),
        Cell::U128(b) => b.map(crate::net::hex).unwrap_or_default(),
    }
}

/// A cell as text for CSV: every digit of a time.
pub fn text(cell: &Cell) -> String {
    text_with(cell, shown)
}

/// A cell as text in a table a person reads: a time to the second.
pub fn table_cell(cell: &Cell) -> String {
    match cell {
        Cell::Text(Some(text)) => one_line(text),
        Cell::Int(Some(n)) => n.to_string(),
        other => one_line(&text_with(other, shown_in_table)),
    }
}

/// A cell as a JSON value: numbers, booleans and JSON as such, NULL as null, the rest as
/// strings.
pub fn json_value(cell: &Cell) -> Value {
    match cell {
        Cell::Int(Some(n)) => Value::from(*n),
        Cell::Float(Some(f)) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cell::Bool(Some(b)) => Value::from(*b),
        Cell::Json(Some(value)) => value.clone(),
        Cell::Text(None)
        | Cell::Int(None)
        | Cell::Float(None)
        | Cell::Bool(None)
        | Cell::Json(None)
        | Cell::Time(None)
        | Cell::U128(None) => Value::Null,
        Cell::Text(Some(_)) | Cell::Time(Some(_)) | Cell::IdKey(_) | Cell::U128(Some(_)) => {
            Value::from(text(cell))
        }
    }
}

/// Columns (of `width`) whose every value in `rows` is a number: right-aligned.
pub fn numeric_columns(width: usize, rows: &[Vec<Cell>]) -> Vec<usize> {
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

/// The first rows of a result, held so that a format can measure them (widths, numeric
/// columns) before it writes anything: handed over once `size` have come, or at the end, and
/// every later row passes straight through, so memory stays bounded whatever the result.
pub struct FirstRows {
    size: usize,
    held: Vec<Vec<Cell>>,
    handed: bool,
}

/// What became of a row given to [`FirstRows::take`].
pub enum Taken {
    /// Held: nothing to write yet.
    Held,
    /// The first rows, now all come: measure them, then write them.
    First(Vec<Vec<Cell>>),
    /// A row past the first ones: write it now.
    Later(Vec<Cell>),
}

impl FirstRows {
    pub fn new(size: usize) -> Self {
        FirstRows {
            size,
            held: Vec::new(),
            handed: false,
        }
    }

    pub fn take(&mut self, row: Vec<Cell>) -> Taken {
        if self.handed {
            return Taken::Later(row);
        }
        self.held.push(row);
        if self.held.len() < self.size {
            return Taken::Held;
        }
        self.handed = true;
        Taken::First(std::mem::take(&mut self.held))
    }

    /// At the end: the rows held, unless they were handed over already.
    pub fn rest(&mut self) -> Option<Vec<Vec<Cell>>> {
        let handed = std::mem::replace(&mut self.handed, true);
        (!handed).then(|| std::mem::take(&mut self.held))
    }

    /// How many rows it holds now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.len()
    }
}
