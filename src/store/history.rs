//! Reading history: change records, and the inventory as it was after any complete run.

use super::{Store, Tx, on_db, on_tx};
use crate::drift::Category;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

/// One change record as `drift` and `history` print it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChangeRecord {
    pub run_id: i64,
    pub connection_id: String,
    pub connection_name: Option<String>,
    pub change: String,
    pub category: String,
    pub field: Option<String>,
    pub old: Value,
    pub new: Value,
    pub detected_at: DateTime<Utc>,
}

/// Which change records to read; unset parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub run_id: Option<i64>,
    pub since: Option<DateTime<Utc>>,
    pub connection_id: Option<String>,
    pub category: Option<Category>,
}

/// A point in history: right after a complete run, or the latest complete run at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Run(i64),
    Time(DateTime<Utc>),
}

impl std::str::FromStr for AsOf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(run) = s.parse::<i64>() {
            return Ok(AsOf::Run(run));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| AsOf::Time(t.with_timezone(&Utc)))
            .map_err(|_| format!("{s:?} is neither a run id nor an RFC 3339 time"))
    }
}

impl Store {
    /// Change records matching `filter`, oldest first.
    pub async fn change_records(&self, filter: &RecordFilter) -> sqlx::Result<Vec<ChangeRecord>> {
        let category = filter.category.map(Category::as_str);
        on_db!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT run_id, connection_id, connection_name, change, category, field,
                     old_value, new_value, detected_at
                 FROM change_records
                 WHERE ($1 IS NULL OR run_id = $1) AND ($2 IS NULL OR detected_at >= $2)
                     AND ($3 IS NULL OR connection_id = $3) AND ($4 IS NULL OR category = $4)
                 ORDER BY id",
            )
            .bind(filter.run_id)
            .bind(filter.since)
            .bind(&filter.connection_id)
            .bind(category)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(ChangeRecord {
                        run_id: row.try_get("run_id")?,
                        connection_id: row.try_get("connection_id")?,
                        connection_name: row.try_get("connection_name")?,
                        change: row.try_get("change")?,
                        category: row.try_get("category")?,
                        field: row.try_get("field")?,
                        old: row.try_get::<Option<Value>, _>("old_value")?.unwrap_or(Value::Null),
                        new: row.try_get::<Option<Value>, _>("new_value")?.unwrap_or(Value::Null),
                        detected_at: row.try_get("detected_at")?,
                    })
                })
                .collect()
        })
    }

    /// The most recently applied complete run, if any.
    pub async fn latest_complete_run(&self) -> sqlx::Result<Option<i64>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT id FROM sync_runs WHERE apply_seq = (SELECT MAX(apply_seq) FROM sync_runs)")
                .fetch_optional(pool)
                .await?
                .map(|row| row.try_get(0))
                .transpose()
        })
    }

    /// The apply sequence number `as_of` stands for (0: before any run).
    pub async fn resolve_as_of(&self, as_of: AsOf) -> anyhow::Result<i64> {
        on_db!(&self.db, pool => {
            match as_of {
                AsOf::Run(run) => {
                    let row = sqlx::query("SELECT status, apply_seq FROM sync_runs WHERE id = $1")
                        .bind(run)
                        .fetch_optional(pool)
                        .await?
                        .with_context(|| format!("there is no run {run}"))?;
                    let status: String = row.try_get(0)?;
                    let seq: Option<i64> = row.try_get(1)?;
                    seq.with_context(|| {
                        format!("run {run} is {status}: only a complete run changed the inventory")
                    })
                }
                AsOf::Time(time) => {
                    let seq: Option<i64> = sqlx::query(
                        "SELECT MAX(apply_seq) FROM sync_runs
                         WHERE status = 'complete' AND finished_at <= $1",
                    )
                    .bind(time)
                    .fetch_one(pool)
                    .await?
                    .try_get(0)?;
                    Ok(seq.unwrap_or(0))
                }
            }
        })
    }

    /// Reads the inventory as it was right after apply `seq`, a chunk at a time.
    pub async fn versions_at(&self, seq: i64) -> sqlx::Result<VersionCursor> {
        Ok(VersionCursor {
            tx: self.begin().await?,
            seq,
            after: 0,
        })
    }
}

/// Connection versions current at one point of history, in one read transaction.
pub struct VersionCursor {
    tx: Tx,
    seq: i64,
    after: i64,
}

impl VersionCursor {
    /// The next versions (connection JSON as stored); empty when done.
    pub async fn next_chunk(&mut self) -> sqlx::Result<Vec<Value>> {
        let rows: Vec<(i64, String)> = on_tx!(&mut self.tx, c => {
            sqlx::query(
                "SELECT id, body FROM connection_versions
                 WHERE from_seq <= $1 AND (to_seq IS NULL OR to_seq > $1) AND id > $2
                 ORDER BY id LIMIT 500",
            )
            .bind(self.seq)
            .bind(self.after)
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<sqlx::Result<_>>()?
        });
        if let Some((last, _)) = rows.last() {
            self.after = *last;
        }
        rows.into_iter()
            .map(|(id, body)| {
                serde_json::from_str(&body).map_err(|e| {
                    sqlx::Error::Decode(format!("connection version {id} is not JSON: {e}").into())
                })
            })
            .collect()
    }
}
