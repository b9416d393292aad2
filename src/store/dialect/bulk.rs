//! Filling empty tables in bulk: their secondary indexes are built after the rows are in.
//!
//! A first sync of 100,000 connections inserts about a million rows, and some secondary indexes
//! (the networks' bounds, gateway ids, hashed ids) take them in random order: each insert reads
//! and rewrites a random page of each such index, far more pages than SQLite's cache holds, and
//! leaves PostgreSQL's btree pages about two thirds full. Building an index over rows already in
//! the table sorts them once instead (a 100,000-connection apply on SQLite took 16.9 s instead
//! of 24.6 s) and packs it. Only tables that held nothing when the apply began qualify: their
//! indexes hold nothing the apply could need meanwhile, and the rebuild costs no more than what
//! the apply itself wrote.
//!
//! The drop and the rebuild are part of the apply's transaction on both backends: a failed
//! apply rolls them back. SQLite's readers keep the snapshot they began with. On PostgreSQL a
//! dropped index locks its table until the commit, so a reader of an empty table waits for
//! the first sync to end instead of seeing it empty: tables are empty only in a database that
//! holds no inventory yet. The apply takes that lock without waiting: a table a reader holds
//! keeps its indexes, so the apply never queues behind a reader, nor deadlocks with one that
//! holds one table and asks for another.

use super::sql::{Sql, Tx};
use sqlx::Result;

/// The secondary indexes dropped from empty tables, as the statements that create them again.
#[must_use = "indexes deferred are missing until rebuilt"]
pub struct DeferredIndexes(Vec<String>);

impl Tx {
    /// Drops the non-unique indexes of those `tables` that hold no row. Unique indexes stay:
    /// they keep keys unique and serve as conflict targets.
    pub async fn defer_indexes(&mut self, tables: &[&str]) -> Result<DeferredIndexes> {
        let mut deferred = Vec::new();
        for table in tables {
            let mut held = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM ");
            held.push(table).push(" LIMIT 1) AS any_row");
            if self.fetch_one(held).await?.at::<i64>(0)? != 0 || !self.take_at_once(table).await? {
                continue;
            }
            let indexes = match self {
                Tx::Sqlite(_) => Sql::new(
                    "SELECT l.name, s.sql FROM pragma_index_list($1) l
                     JOIN sqlite_schema s ON s.type = 'index' AND s.name = l.name
                     WHERE l.origin = 'c' AND NOT l.\"unique\" ORDER BY l.name",
                ),
                Tx::Postgres(_) => Sql::new(
                    "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
                     JOIN pg_class c ON c.oid = i.indexrelid
                     WHERE i.indrelid = CAST($1 AS regclass) AND NOT i.indisunique
                     ORDER BY c.relname",
                ),
            }
            .arg(*table);
            for row in self.fetch_all(indexes).await? {
                let name: String = row.at(0)?;
                self.execute_script(&format!("DROP INDEX \"{name}\""))
                    .await?;
                deferred.push(row.at(1)?);
            }
        }
        Ok(DeferredIndexes(deferred))
    }

    /// PostgreSQL: locks `table` against every other session if none holds it now; `false`
    /// (and nothing locked) when one does. SQLite: always `true` (its writer is alone).
    async fn take_at_once(&mut self, table: &str) -> Result<bool> {
        if matches!(self, Tx::Sqlite(_)) {
            return Ok(true);
        }
        // A failed statement would end the transaction: the savepoint keeps it.
        self.execute_script("SAVEPOINT take_at_once").await?;
        let lock = format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE NOWAIT");
        match self.execute_script(&lock).await {
            Ok(()) => {
                self.execute_script("RELEASE SAVEPOINT take_at_once")
                    .await?;
                Ok(true)
            }
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                self.execute_script("ROLLBACK TO SAVEPOINT take_at_once")
                    .await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Builds the indexes [`Tx::defer_indexes`] dropped, as they were defined.
    pub async fn restore_indexes(&mut self, deferred: DeferredIndexes) -> Result<()> {
        for create in &deferred.0 {
            self.execute_script(create).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::SqlitePool;

    async fn index_names(pool: &SqlitePool) -> Vec<String> {
        sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'index' ORDER BY name")
            .fetch_all(pool)
            .await
            .expect("the schema reads")
    }

    /// The statements that define the indexes made by CREATE INDEX.
    async fn definitions(pool: &SqlitePool) -> Vec<String> {
        let sql = "SELECT sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL
                   ORDER BY name";
        sqlx::query_scalar(sql)
            .fetch_all(pool)
            .await
            .expect("the schema reads")
    }

    #[tokio::test]
    async fn only_empty_tables_lose_their_plain_indexes_and_get_them_back_as_defined() {
        // One connection: a dropped transaction is rolled back before the next statement.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("memory");
        sqlx::raw_sql(
            "CREATE TABLE empty (a TEXT UNIQUE, b TEXT, c TEXT);
             CREATE INDEX empty_b ON empty (b);
             CREATE INDEX empty_bc ON empty (b, c) WHERE c IS NOT NULL;
             CREATE TABLE held (a TEXT, b TEXT);
             CREATE INDEX held_b ON held (b);
             INSERT INTO held VALUES ('x', 'y');",
        )
        .execute(&pool)
        .await
        .expect("the schema is made");
        let defined = definitions(&pool).await;
        assert_eq!(defined.len(), 3, "{defined:?}");
        let all = index_names(&pool).await;

        // Rolled back, the drop leaves everything as it was.
        let mut tx = Tx::Sqlite(pool.begin().await.expect("begin"));
        let deferred = tx.defer_indexes(&["empty", "held"]).await.expect("defer");
        assert_eq!(deferred.0.len(), 2);
        drop(deferred);
        drop(tx);
        assert_eq!(index_names(&pool).await, all);

        let mut tx = Tx::Sqlite(pool.begin().await.expect("begin"));
        let deferred = tx.defer_indexes(&["empty", "held"]).await.expect("defer");
        tx.commit().await.expect("commit");
        // The unique key and the table that held a row keep theirs.
        assert_eq!(
            index_names(&pool).await,
            ["held_b", "sqlite_autoindex_empty_1"]
        );
        let mut tx = Tx::Sqlite(pool.begin().await.expect("begin"));
        tx.restore_indexes(deferred).await.expect("restore");
        tx.commit().await.expect("commit");
        assert_eq!(index_names(&pool).await, all);
        assert_eq!(definitions(&pool).await, defined);
    }
}
