//! Reading history: change records, and the inventory as it was after any complete run.

use super::error::{Result, inconsistent};
use super::runs::RunStatus;
use super::sql::Sql;
use super::tables::CHANGE_RECORDS;
use super::{Store, Tx};
use crate::drift::{Category, ChangeKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// One change record: what a run found changed in one connection (one field of it, for a
/// modification). Written by the apply step, printed by `drift` and `history`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ChangeRecord {
    pub run_id: i64,
    pub connection_id: String,
    pub connection_name: Option<String>,
    pub change: ChangeKind,
    pub category: Category,
    /// The changed field's dotted API path; `None` for an added or removed connection.
    pub field: Option<String>,
    /// The field's values as JSON; `null` where it was absent (stored values hold no nulls).
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
    pub async fn change_records(&self, filter: &RecordFilter) -> Result<Vec<ChangeRecord>> {
        let mut sql = Sql::new("SELECT ");
        sql.push(&CHANGE_RECORDS.read_columns()).push(
            " FROM change_records
             WHERE ($1 IS NULL OR run_id = $1) AND ($2 IS NULL OR detected_at >= $2)
                 AND ($3 IS NULL OR connection_id = $3) AND ($4 IS NULL OR category = $4)
             ORDER BY id",
        );
        let sql = sql
            .arg(filter.run_id)
            .arg(filter.since)
            .arg(filter.connection_id.as_deref())
            .arg(filter.category.map(Category::as_str));
        let rows = self.db.fetch_all(sql).await?;
        rows.iter().map(|row| CHANGE_RECORDS.read(row)).collect()
    }

    /// The most recently applied complete run, if any.
    pub async fn latest_complete_run(&self) -> Result<Option<i64>> {
        let sql = Sql::new(
            "SELECT id FROM sync_runs WHERE apply_seq = (SELECT MAX(apply_seq) FROM sync_runs)",
        );
        let row = self.db.fetch_optional(sql).await?;
        Ok(row.map(|row| row.at(0)).transpose()?)
    }

    /// The apply sequence number `as_of` stands for (0: before any run).
    pub async fn resolve_as_of(&self, as_of: AsOf) -> anyhow::Result<i64> {
        match as_of {
            AsOf::Run(run) => {
                let sql =
                    Sql::new("SELECT status, apply_seq FROM sync_runs WHERE id = $1").arg(run);
                let Some(row) = self.db.fetch_optional(sql).await? else {
                    anyhow::bail!("there is no run {run}");
                };
                let status: String = row.at(0)?;
                let seq: Option<i64> = row.at(1)?;
                seq.ok_or_else(|| {
                    anyhow::anyhow!(
                        "run {run} is {status}: only a complete run changed the inventory"
                    )
                })
            }
            AsOf::Time(time) => {
                let sql = Sql::new(
                    "SELECT MAX(apply_seq) FROM sync_runs WHERE status = $2 AND finished_at <= $1",
                )
                .arg(time)
                .arg(RunStatus::Complete.as_str());
                let seq: Option<i64> = self.db.fetch_one(sql).await?.at(0)?;
                Ok(seq.unwrap_or(0))
            }
        }
    }

    /// The id of a complete run: the latest (`None`), the given one (which must be complete),
    /// or the latest applied by a time.
    pub async fn complete_run_at(&self, at: Option<AsOf>) -> anyhow::Result<i64> {
        let seq = match at {
            None => {
                return self.latest_complete_run().await?.ok_or_else(|| {
                    anyhow::anyhow!("no complete run yet: run `vpn-inventory sync` first")
                });
            }
            Some(AsOf::Run(run)) => {
                self.resolve_as_of(AsOf::Run(run)).await?;
                return Ok(run);
            }
            Some(AsOf::Time(time)) => match self.resolve_as_of(AsOf::Time(time)).await? {
                0 => anyhow::bail!("no run had completed by {}", time.to_rfc3339()),
                seq => seq,
            },
        };
        let sql = Sql::new("SELECT id FROM sync_runs WHERE apply_seq = $1").arg(seq);
        Ok(self.db.fetch_one(sql).await?.at(0)?)
    }

    /// Reads the inventory as it was right after apply `seq`, a chunk at a time.
    pub async fn versions_at(&self, seq: i64) -> Result<VersionCursor> {
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
    pub async fn next_chunk(&mut self) -> Result<Vec<Value>> {
        let sql = Sql::new(
            "SELECT id, body FROM connection_versions
             WHERE from_seq <= $1 AND (to_seq IS NULL OR to_seq > $1) AND id > $2
             ORDER BY id LIMIT 500",
        )
        .arg(self.seq)
        .arg(self.after);
        let rows = self.tx.fetch_all(sql).await?;
        let mut versions = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, body): (i64, String) = (row.at(0)?, row.at(1)?);
            let version = crate::json::parse(&body)
                .map_err(|e| inconsistent(format!("connection version {id} is not JSON: {e}")))?;
            versions.push(version);
            self.after = id;
        }
        Ok(versions)
    }
}
