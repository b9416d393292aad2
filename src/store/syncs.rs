//! Syncs: one per invocation of `sync`, over one target or many. Its runs name it
//! (`sync_runs.sync_id`), so the changes of a whole `sync --all` read back as one answer.

use super::Store;
use super::dialect::Sql;
use super::error::Result;
use super::runs::RunStatus;
use crate::time::now_utc;
use chrono::{DateTime, Utc};

/// A run of a scope as another process left it: which run, on which host, and when it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunElsewhere {
    pub run_id: i64,
    pub host: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Records a new sync, started now on this host.
    pub async fn start_sync(&self) -> Result<i64> {
        let sql = Sql::new("INSERT INTO syncs (started_at, host) VALUES ($1, $2) RETURNING id")
            .arg(now_utc())
            .arg(host_name());
        Ok(self.db.fetch_one(sql).await?.at(0)?)
    }

    /// Marks the sync ended: every run of it completed or failed.
    pub async fn finish_sync(&self, sync_id: i64) -> Result<()> {
        let sql = Sql::new("UPDATE syncs SET finished_at = $1 WHERE id = $2")
            .arg(now_utc())
            .arg(sync_id);
        self.db.execute(sql).await?;
        Ok(())
    }

    /// The latest sync with a complete run: the one whose changes `drift` shows by default.
    /// With a project or a target: the latest with a complete run of that project or target,
    /// so `drift --target T` shows T's latest changes even when a later sync left T out.
    pub async fn latest_sync_with_changes_recorded(
        &self,
        project_id: Option<&str>,
        target: Option<&str>,
    ) -> Result<Option<i64>> {
        let mut sql = Sql::new(
            "SELECT r.sync_id FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
             WHERE r.apply_seq IS NOT NULL",
        );
        if let Some(project) = project_id {
            sql.push(" AND s.project_id = ").bind(project);
        }
        if let Some(target) = target {
            sql.push(" AND r.target = ").bind(target);
        }
        sql.push(" ORDER BY r.apply_seq DESC LIMIT 1");
        match self.db.fetch_optional(sql).await? {
            Some(row) => Ok(row.at::<Option<i64>>(0)?),
            None => Ok(None),
        }
    }

    /// The scope's run marked running with the highest id, if any: the one another process
    /// is sweeping when its lock is held.
    pub async fn running_run_of_scope(&self, scope_id: i64) -> Result<Option<RunElsewhere>> {
        self.run_of_scope(scope_id, RunStatus::Running).await
    }

    /// The scope's most recently applied complete run, if any.
    pub async fn last_complete_run_of_scope(&self, scope_id: i64) -> Result<Option<RunElsewhere>> {
        self.run_of_scope(scope_id, RunStatus::Complete).await
    }

    async fn run_of_scope(&self, scope_id: i64, status: RunStatus) -> Result<Option<RunElsewhere>> {
        let sql = Sql::new(
            "SELECT r.id, y.host, r.finished_at FROM sync_runs r
             LEFT JOIN syncs y ON y.id = r.sync_id
             WHERE r.scope_id = $1 AND r.status = $2
             ORDER BY COALESCE(r.apply_seq, 0) DESC, r.id DESC LIMIT 1",
        )
        .arg(scope_id)
        .arg(status.as_str());
        let Some(row) = self.db.fetch_optional(sql).await? else {
            return Ok(None);
        };
        Ok(Some(RunElsewhere {
            run_id: row.at(0)?,
            host: row.at(1)?,
            finished_at: row.at(2)?,
        }))
    }

    /// Whether sync `sync_id` exists.
    pub async fn sync_exists(&self, sync_id: i64) -> Result<bool> {
        let sql = Sql::new("SELECT 1 FROM syncs WHERE id = $1").arg(sync_id);
        Ok(self.db.fetch_optional(sql).await?.is_some())
    }
}

/// This machine's host name, which tells the syncs of several hosts sharing one PostgreSQL
/// database apart; `None` where it cannot be read.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
