//! Running SQL the store did not write (a report, a user's own file): one statement with `$n`
//! placeholders, read-only, whose columns are read whatever they are. Rows go to a
//! [`RowSink`] as they arrive, so a large result is never held whole.

use super::Store;
use super::dialect::{Cell, Row, Sql, Tx};

/// What a statement returned: its column names (also when it returned no rows) and rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Takes what a statement returns: its column names once (before the first row, or at the end
/// when it returned none), then each row as it arrives. An error stops the statement.
pub trait RowSink {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()>;
    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()>;
}

/// A sink that keeps everything: the whole table.
impl RowSink for QueryTable {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        self.rows.push(row);
        Ok(())
    }
}

impl Store {
    /// Runs `text` (`$1`, `$2`, ... for `binds`, in order) where it can change nothing
    /// (a query-only transaction), in one snapshot, handing its rows to `sink`; an error when
    /// it left that transaction (ended it, or wrote), after the rows it gave.
    pub async fn query_rows(
        &self,
        text: &str,
        binds: Vec<Cell>,
        sink: &mut dyn RowSink,
    ) -> anyhow::Result<()> {
        let mut sql = Sql::new("");
        sql.push(text);
        for cell in binds {
            sql = sql.arg(cell);
        }
        let mut tx = self.db.begin_query_only().await?;
        let mut fed = feed(&mut tx, sql, sink).await;
        if fed.is_ok() {
            fed = tx.check_query_only().await;
        }
        tx.end_query_only().await?;
        fed
    }
}

async fn feed(tx: &mut Tx, sql: Sql, sink: &mut dyn RowSink) -> anyhow::Result<()> {
    let mut columns: Option<Vec<String>> = None;
    // What the sink refused, if it stopped the statement.
    let mut refused: Option<anyhow::Error> = None;
    let mut each = |row: Row| -> sqlx::Result<()> {
        let handed = (|| {
            let width = match &columns {
                Some(columns) => columns.len(),
                None => {
                    let names = row.column_names();
                    sink.columns(&names)?;
                    columns.insert(names).len()
                }
            };
            let cells = (0..width)
                .map(|i| row.cell(i))
                .collect::<sqlx::Result<_>>()?;
            sink.row(cells)
        })();
        handed.map_err(|e| {
            refused = Some(e);
            sqlx::Error::Protocol("the rows' reader stopped".into())
        })
    };
    let fetched = tx.for_each_row(sql.clone(), &mut each).await;
    if let Some(error) = refused {
        return Err(error);
    }
    fetched?;
    if columns.is_none() {
        sink.columns(&tx.column_names(sql).await?)?;
    }
    Ok(())
}
