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
    let rows = tx.fetch_all(sql.clone()).await?;
    let columns = match rows.first() {
        Some(row) => row.column_names(),
        None => tx.column_names(sql).await?,
    };
    let rows = rows
        .iter()
        .map(|row| (0..columns.len()).map(|i| row.cell(i)).collect())
        .collect::<sqlx::Result<_>>()?;
    Ok(QueryTable { columns, rows })
}
