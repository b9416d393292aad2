//! `forget-scope`: a scope nobody syncs any more leaves `status` and the metrics.
//!
//! What only the scope needs goes: the staging its runs left and its membership rows
//! (`scope_connections`, what it returned last time). What the project's one inventory holds
//! stays: connections, versions and change records, and the runs they name. The scope is
//! marked forgotten after its latest run (`forgotten_through`), so `status` no longer lists it;
//! a later sync of the same project and filters starts it afresh, judged as a first run.

use super::Store;
use super::dialect::{LockError, Sql};
use super::runs::stored_scope;
use super::staging::STAGING;
use crate::scope::Scope;
use serde::Serialize;
use std::time::Duration;

/// What forgetting a scope deleted, and the runs it kept.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Forgotten {
    /// Runs of the scope still marked running whose process was gone, marked failed first.
    pub runs_abandoned: u64,
    pub staged_rows: u64,
    pub memberships: u64,
    /// The scope's runs, kept: change records and `export --as-of` name them.
    pub runs_kept: i64,
}

/// Why a scope could not be forgotten.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    #[error("no scope {0} (`status` lists the scopes)")]
    Unknown(String),
    #[error(
        "a sync of scope {0} is running: forget it once that run ends (or --lock-timeout to wait)"
    )]
    Running(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl Store {
    /// Forgets `scope` (its project and filters; `shown` names it in errors), waiting up to
    /// `timeout` for a sync of it to end.
    pub async fn forget_scope(
        &self,
        scope: &Scope,
        shown: &str,
        timeout: Duration,
    ) -> Result<Forgotten, ForgetError> {
        let Some(scope_id) = self.listed_scope(scope).await? else {
            return Err(ForgetError::Unknown(shown.to_owned()));
        };
        // Under the scope's lock no run of it can start, stage or apply meanwhile.
        let lock = match self.lock_scope(scope, timeout).await {
            Ok(lock) => lock,
            Err(LockError::Busy { .. }) => return Err(ForgetError::Running(shown.to_owned())),
            Err(e) => return Err(anyhow::Error::from(e).into()),
        };
        let forgotten = self.forget_locked(scope_id).await;
        lock.release().await;
        Ok(forgotten?)
    }

    /// The id of `scope` when `status` lists it: known, and not forgotten since its last run.
    async fn listed_scope(&self, scope: &Scope) -> anyhow::Result<Option<i64>> {
        let sql = Sql::new(
            "SELECT id, project_id, vgw_id, vgw_ip, vpn_id, eip_id, enterprise_project_ids
             FROM scopes WHERE project_id = $1 AND (forgotten_through IS NULL OR EXISTS (
                 SELECT 1 FROM sync_runs r WHERE r.scope_id = scopes.id
                     AND r.id > scopes.forgotten_through))",
        )
        .arg(&scope.project_id);
        for row in self.db.fetch_all(sql).await? {
            if stored_scope(&row)?.key() == scope.key() {
                return Ok(Some(row.at(0)?));
            }
        }
        Ok(None)
    }

    async fn forget_locked(&self, scope_id: i64) -> anyhow::Result<Forgotten> {
        // Runs still marked running have no live process now that the lock is ours.
        let runs_abandoned = self.abandon_running(scope_id).await?;
        let mut forgotten = Forgotten {
            runs_abandoned,
            ..Forgotten::default()
        };
        let mut tx = self.db.begin_write().await?;
        for table in STAGING {
            let mut sql = Sql::new("DELETE FROM ");
            sql.push(table)
                .push(" WHERE run_id IN (SELECT id FROM sync_runs WHERE scope_id = ")
                .bind(scope_id)
                .push(")");
            forgotten.staged_rows += tx.execute(sql).await?;
        }
        let sql = Sql::new("DELETE FROM scope_connections WHERE scope_id = $1").arg(scope_id);
        forgotten.memberships = tx.execute(sql).await?;
        let sql =
            Sql::new("SELECT COUNT(*), MAX(id) FROM sync_runs WHERE scope_id = $1").arg(scope_id);
        let row = tx.fetch_one(sql).await?;
        forgotten.runs_kept = row.at(0)?;
        let latest: Option<i64> = row.at(1)?;
        // A scope no run names can go altogether.
        let sql = match latest {
            Some(latest) => Sql::new("UPDATE scopes SET forgotten_through = $2 WHERE id = $1")
                .arg(scope_id)
                .arg(latest),
            None => Sql::new("DELETE FROM scopes WHERE id = $1").arg(scope_id),
        };
        tx.execute(sql).await?;
        tx.commit().await?;
        Ok(forgotten)
    }
}
