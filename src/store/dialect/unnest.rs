//! PostgreSQL's multi-row inserts as one array per column.
//!
//! `INSERT ... VALUES ($1, $2), ($3, $4), ...` binds every cell: a first sync of 100,000
//! connections sent statements of up to 30,000 parameters, each parsed, planned and bound anew
//! (a chunk of 167 connections' policy rule destinations took 8 ms of the server's time). The
//! same rows as `SELECT * FROM UNNEST($1::bigint[], $2::text[])` are one parameter a column: the
//! statement's text no longer depends on the row count, so it is prepared once per connection,
//! and the server reads each column in one go. SQLite keeps `VALUES`, which it binds cheaply.

use super::sql::{Cell, Query, Sql, postgres_id_key, query};
use sqlx::Postgres;
use sqlx::types::Uuid;

impl Sql {
    /// The statement for PostgreSQL: its `VALUES` list as arrays, when it has one that can be
    /// (every column of one type, no bind after it); otherwise as it is.
    pub(super) fn postgres_query(self) -> Query<Postgres> {
        let (Some(columns), Some(block)) = (arrays(&self), self.values) else {
            return query::<Postgres>(self);
        };
        let (start, end) = block.text;
        let mut text = String::with_capacity(self.text.len());
        text.push_str(&self.text[..start]);
        text.push_str("SELECT * FROM UNNEST(");
        for (j, column) in columns.iter().enumerate() {
            if j > 0 {
                text.push_str(", ");
            }
            let n = block.first_bind + j + 1;
            text.push_str(&format!("${n}::{}[]", column.type_name()));
        }
        text.push(')');
        text.push_str(&self.text[end..]);
        let mut binds = self.binds;
        let cells = binds.split_off(block.first_bind);
        // Transposed: one list of cells a column.
        let mut by_column: Vec<Vec<Cell>> = (0..block.width)
            .map(|_| Vec::with_capacity(block.rows))
            .collect();
        for (i, cell) in cells.into_iter().enumerate() {
            by_column[i % block.width].push(cell);
        }
        let mut query = query::<Postgres>(Sql::prepared(text, binds));
        for column in by_column {
            query = bind_column(query, column);
        }
        query
    }
}

/// The type of each column of `sql`'s values block, when it can be sent as arrays.
fn arrays(sql: &Sql) -> Option<Vec<Column>> {
    let block = sql.values?;
    if block.rows == 0 || sql.binds.len() != block.first_bind + block.rows * block.width {
        return None;
    }
    let cells = &sql.binds[block.first_bind..];
    let first = &cells[..block.width];
    let columns: Vec<Column> = first.iter().map(Column::of).collect();
    let uniform = cells.chunks(block.width).all(|row| {
        row.iter()
            .zip(&columns)
            .all(|(cell, c)| Column::of(cell) == *c)
    });
    uniform.then_some(columns)
}

/// A column's type: the PostgreSQL array its cells are sent as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Column {
    Text,
    Int,
    Float,
    Bool,
    Json,
    Time,
    IdKey,
    Bound,
}

impl Column {
    fn of(cell: &Cell) -> Self {
        match cell {
            Cell::Text(_) => Column::Text,
            Cell::Int(_) => Column::Int,
            Cell::Float(_) => Column::Float,
            Cell::Bool(_) => Column::Bool,
            Cell::Json(_) => Column::Json,
            Cell::Time(_) => Column::Time,
            Cell::IdKey(_) => Column::IdKey,
            Cell::Bound(_) => Column::Bound,
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Column::Text | Column::IdKey => "text",
            Column::Int => "int8",
            Column::Float => "float8",
            Column::Bool => "bool",
            Column::Json => "jsonb",
            Column::Time => "timestamptz",
            Column::Bound => "uuid",
        }
    }
}

/// Binds `cells` (a column's, every one of its type: see [`arrays`]) as one array.
fn bind_column(query: Query<Postgres>, cells: Vec<Cell>) -> Query<Postgres> {
    // Cells of another type cannot occur: `arrays` checked every row.
    fn each<T>(cells: Vec<Cell>, take: fn(Cell) -> Option<Option<T>>) -> Vec<Option<T>> {
        cells.into_iter().filter_map(take).collect()
    }
    match cells.first().map(Column::of) {
        Some(Column::Text) => query.bind(each(cells, |c| match c {
            Cell::Text(v) => Some(v),
            _ => None,
        })),
        Some(Column::Int) => query.bind(each(cells, |c| match c {
            Cell::Int(v) => Some(v),
            _ => None,
        })),
        Some(Column::Float) => query.bind(each(cells, |c| match c {
            Cell::Float(v) => Some(v),
            _ => None,
        })),
        Some(Column::Bool) => query.bind(each(cells, |c| match c {
            Cell::Bool(v) => Some(v),
            _ => None,
        })),
        Some(Column::Json) => query.bind(each(cells, |c| match c {
            Cell::Json(v) => Some(v),
            _ => None,
        })),
        Some(Column::Time) => query.bind(each(cells, |c| match c {
            Cell::Time(v) => Some(v),
            _ => None,
        })),
        Some(Column::IdKey) => query.bind(each(cells, |c| match c {
            Cell::IdKey(id) => Some(Some(postgres_id_key(&id))),
            _ => None,
        })),
        Some(Column::Bound) => query.bind(each(cells, |c| match c {
            Cell::Bound(b) => Some(b.map(Uuid::from_u128)),
            _ => None,
        })),
        None => query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Execute as _;

    fn text_for_postgres(sql: Sql) -> String {
        sql.postgres_query().sql().as_str().to_owned()
    }

    #[test]
    fn a_values_list_of_one_type_a_column_becomes_arrays() {
        let mut sql = Sql::new("INSERT INTO t (a, b) ");
        sql.push_values((0..3).map(|i| vec![Cell::from(i), Cell::from(format!("x{i}"))]));
        sql.push(" ON CONFLICT DO NOTHING");
        assert_eq!(
            text_for_postgres(sql),
            "INSERT INTO t (a, b) SELECT * FROM UNNEST($1::int8[], $2::text[]) \
             ON CONFLICT DO NOTHING"
        );
        // Whatever the number of rows, the same text: prepared once.
        let mut one = Sql::new("INSERT INTO t (a, b) ");
        one.push_values([vec![Cell::from(7), Cell::Text(None)]]);
        assert!(text_for_postgres(one).ends_with("UNNEST($1::int8[], $2::text[])"));
    }

    #[test]
    fn what_arrays_cannot_carry_stays_values() {
        // A column of two types.
        let mut mixed = Sql::new("INSERT INTO t (a) ");
        mixed.push_values([vec![Cell::from(1)], vec![Cell::from("one")]]);
        assert_eq!(
            text_for_postgres(mixed),
            "INSERT INTO t (a) VALUES ($1), ($2)"
        );
        // A bind after the list would need renumbering.
        let mut after = Sql::new("INSERT INTO t (a) ");
        after
            .push_values([vec![Cell::from(1)]])
            .push(" RETURNING ")
            .bind(2);
        assert_eq!(
            text_for_postgres(after),
            "INSERT INTO t (a) VALUES ($1) RETURNING $2"
        );
    }
}
