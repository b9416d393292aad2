//! `prune`: dropping what no answer needs any more. Never the current inventory.
//!
//! Always: the staging failed and abandoned runs left behind. With a retention period: change
//! records detected before it, CTS traces older than it and than any kept record's window,
//! versions that stopped being current before it (so `export
//! --as-of` reaches back as far as the retention, and no further), and failed runs that
//! ended before it.

use super::Store;
use super::dialect::Sql;
use super::runs::RunStatus;
use super::staging::STAGING;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a prune deleted.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Pruned {
    pub runs_abandoned: u64,
    pub staged_rows: u64,
    pub change_records: u64,
    pub versions: u64,
    pub failed_runs: u64,
    /// CTS traces of operations before the cutoff (`sync --with-traces`).
    pub traces: u64,
}

impl Store {
    /// Prunes leftovers, and history from before `cutoff` when given.
    pub async fn prune(&self, cutoff: Option<DateTime<Utc>>) -> anyhow::Result<Pruned> {
        // A run whose process is gone first becomes a failed one (under its scope's lock).
        let mut pruned = Pruned {
            runs_abandoned: self.abandon_dead_runs(-1).await?,
            ..Pruned::default()
        };
        let mut tx = self.db.begin_write().await?;
        for table in STAGING {
            let mut sql = Sql::new("DELETE FROM ");
            sql.push(table)
                .push(" WHERE run_id IN (SELECT id FROM sync_runs WHERE status <> ")
                .bind(RunStatus::Running.as_str())
                .push(")");
            pruned.staged_rows += tx.execute(sql).await?;
        }
        if let Some(cutoff) = cutoff {
            let sql = Sql::new("DELETE FROM change_records WHERE detected_at < $1").arg(cutoff);
            pruned.change_records = tx.execute(sql).await?;
            // The traces that could fit the records kept: after the oldest one's window opened.
            let sql = Sql::new(
                "DELETE FROM traces WHERE time < $1 AND time < COALESCE((
                     SELECT MIN(COALESCE(r.changed_after, f.window_from))
                     FROM change_records r LEFT JOIN trace_fetches f ON f.run_id = r.run_id),
                     $1)",
            )
            .arg(cutoff);
            pruned.traces = tx.execute(sql).await?;
            let sql = Sql::new(
                "DELETE FROM connection_versions WHERE to_seq IS NOT NULL AND to_seq <= (
                     SELECT MAX(apply_seq) FROM sync_runs WHERE status = $2
                         AND finished_at < $1)",
            )
            .arg(cutoff)
            .arg(RunStatus::Complete.as_str());
            pruned.versions = tx.execute(sql).await?;
            let sql = Sql::new("DELETE FROM sync_runs WHERE status = $2 AND finished_at < $1")
                .arg(cutoff)
                .arg(RunStatus::Failed.as_str());
            pruned.failed_runs = tx.execute(sql).await?;
        }
        tx.commit().await?;
        Ok(pruned)
    }
}
