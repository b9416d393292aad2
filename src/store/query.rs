//! Running SQL the store did not write (a report, a user's own file): one statement with `$n`
//! placeholders, read-only, whose columns are read whatever they are.

use super::Store;
use super::Tx;
use super::error::Result;
use super::sql::{Cell, Sql};

/// What a statement returned: its column names (also when it returned no rows) and rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Store {
    /// Runs `text` (`$1`, `$2`, ... for `binds`, in order) where it can change nothing
    /// ([`Store::begin_query_only`]), in one snapshot.
    pub async fn query_table(&self, text: &str, binds: Vec<Cell>) -> Result<QueryTable> {
        let mut sql = Sql::new("");
        sql.push(text);
        for cell in binds {
            sql = sql.arg(cell);
        }
        let mut tx = self.begin_query_only().await?;
        let table = fetch(&mut tx, sql).await;
        tx.end_query_only().await?;
        table
    }
}

async fn fetch(tx: &mut Tx, sql: Sql) -> Result<QueryTable> {
    // Rows become cells as they arrive: a big report is held once, not twice.
    let mut columns: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    tx.for_each_row(sql.clone(), |row| {
        let width = columns.get_or_insert_with(|| row.column_names()).len();
        rows.push(
            (0..width)
                .map(|i| row.cell(i))
                .collect::<sqlx::Result<_>>()?,
        );
        Ok(())
    })
    .await?;
    let columns = match columns {
        Some(columns) => columns,
        None => tx.column_names(sql).await?,
    };
    Ok(QueryTable { columns, rows })
}
