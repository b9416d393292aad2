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
        for (j, array) in columns.iter().enumerate() {
            if j > 0 {
                text.push_str(", ");
            }
            let n = block.first_bind + j + 1;
            text.push_str(&format!("${n}::{array}[]"));
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

/// The array type of each column of `sql`'s values block, when it can be sent as arrays.
fn arrays(sql: &Sql) -> Option<Vec<&'static str>> {
    let block = sql.values?;
    if block.rows == 0 || sql.binds.len() != block.first_bind + block.rows * block.width {
        return None;
    }
    let cells = &sql.binds[block.first_bind..];
    let first = &cells[..block.width];
    let kind = std::mem::discriminant::<Cell>;
    let uniform = cells
        .chunks(block.width)
        .all(|row| row.iter().zip(first).all(|(cell, f)| kind(cell) == kind(f)));
    uniform.then(|| first.iter().map(array_type).collect())
}

/// The PostgreSQL array a column of such cells is sent as.
fn array_type(cell: &Cell) -> &'static str {
    match cell {
        Cell::Text(_) | Cell::IdKey(_) => "text",
        Cell::Int(_) => "int8",
        Cell::Float(_) => "float8",
        Cell::Bool(_) => "bool",
        Cell::Json(_) => "jsonb",
        Cell::Time(_) => "timestamptz",
        Cell::U128(_) => "uuid",
    }
}

/// Binds `cells` (a column's, every one of one kind: see [`arrays`]) as one array.
fn bind_column(query: Query<Postgres>, cells: Vec<Cell>) -> Query<Postgres> {
    // The values of the cells of `variant`, each converted by `convert`.
    macro_rules! array {
        ($variant:ident, $value:ident => $convert:expr) => {
            query.bind(
                cells
                    .into_iter()
                    .filter_map(|cell| match cell {
                        Cell::$variant($value) => Some($convert),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
        };
    }
    match cells.first() {
        Some(Cell::Text(_)) => array!(Text, v => v),
        Some(Cell::Int(_)) => array!(Int, v => v),
        Some(Cell::Float(_)) => array!(Float, v => v),
        Some(Cell::Bool(_)) => array!(Bool, v => v),
        Some(Cell::Json(_)) => array!(Json, v => v),
        Some(Cell::Time(_)) => array!(Time, v => v),
        Some(Cell::IdKey(_)) => array!(IdKey, id => Some(postgres_id_key(&id))),
        Some(Cell::U128(_)) => array!(U128, b => b.map(Uuid::from_u128)),
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
