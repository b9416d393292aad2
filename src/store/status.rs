//! What `vpn-inventory status` reports: the database, and each scope's latest runs.

use super::error::Result;
use super::runs::{RunStatus, stored_scope};
use super::sql::{IdKey, Row, Sql};
use super::{Db, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One run as status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunBrief {
    pub run_id: i64,
    pub started_at: DateTime<Utc>,
    /// When it finished, or (still running) when it started.
    pub at: DateTime<Utc>,
    /// Distinct connections its sweep received.
    pub connections: i64,
    pub endpoint: Option<String>,
    pub error: Option<String>,
}

/// A scope's latest runs.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeStatus {
    pub scope: serde_json::Value,
    pub last_complete: Option<RunBrief>,
    pub last_failed: Option<RunBrief>,
    /// Runs marked running: live, or killed and not yet found abandoned.
    pub running: Vec<RunBrief>,
}

/// The inventory at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub schema_version: Option<i64>,
    /// Bytes on disk (SQLite: the file and its write-ahead log); `None` when unknown.
    pub size_bytes: Option<u64>,
    pub connections: i64,
    pub scopes: Vec<ScopeStatus>,
}

impl Store {
    pub async fn status(&self) -> Result<Status> {
        let connections = Sql::new("SELECT COUNT(*) FROM connections");
        let connections = self.db.fetch_one(connections).await?.at(0)?;
        let sql = Sql::new(
            "SELECT id, project_id, vgw_id, vgw_ip, vpn_id, eip_id, enterprise_project_ids,
                 COALESCE(forgotten_through, 0) AS forgotten_through
             FROM scopes WHERE forgotten_through IS NULL OR EXISTS (
                 SELECT 1 FROM sync_runs r WHERE r.scope_id = scopes.id
                     AND r.id > scopes.forgotten_through)
             ORDER BY id",
        );
        let mut scopes = Vec::new();
        for row in self.db.fetch_all(sql).await? {
            let scope_id: i64 = row.get("id")?;
            // A forgotten scope synced again counts only the runs since (`forget-scope`).
            let after: i64 = row.get("forgotten_through")?;
            let latest = |status: RunStatus| {
                Sql::new(
                    "SELECT id, started_at, COALESCE(finished_at, started_at) AS at,
                         fetched - duplicates AS connections, endpoint, error
                     FROM sync_runs WHERE scope_id = $1 AND status = $2 AND id > $3
                     ORDER BY id DESC LIMIT $4",
                )
                .arg(scope_id)
                .arg(status.as_str())
                .arg(after)
            };
            let one = |status| latest(status).arg(1i64);
            let last_complete = self.db.fetch_optional(one(RunStatus::Complete)).await?;
            let last_failed = self.db.fetch_optional(one(RunStatus::Failed)).await?;
            let running = self
                .db
                .fetch_all(latest(RunStatus::Running).arg(100i64))
                .await?;
            scopes.push(ScopeStatus {
                scope: stored_scope(&row)?.shown_without_endpoint(),
                last_complete: last_complete.as_ref().map(brief).transpose()?,
                last_failed: last_failed.as_ref().map(brief).transpose()?,
                running: running.iter().map(brief).collect::<Result<_>>()?,
            });
        }
        Ok(Status {
            schema_version: self.schema_version().await?,
            size_bytes: self.size_bytes().await?,
            connections,
            scopes,
        })
    }

    /// The stored content hashes of these connections of `project_id` (those it holds).
    pub async fn stored_hashes(
        &self,
        project_id: &str,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut hashes = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(super::sql::MAX_PARAMS / 2) {
            let mut sql = Sql::new("SELECT id, content_hash FROM connections WHERE project_id = ");
            sql.bind(project_id)
                .push(" AND id_key")
                .push_in_list(chunk.iter().map(|id| IdKey(id)));
            for row in self.db.fetch_all(sql).await? {
                hashes.insert(row.at(0)?, row.at(1)?);
            }
        }
        Ok(hashes)
    }

    /// The ids of every stored connection of `project_id`.
    pub async fn stored_ids(&self, project_id: &str) -> Result<Vec<String>> {
        let sql = Sql::new("SELECT id FROM connections WHERE project_id = $1").arg(project_id);
        let rows = self.db.fetch_all(sql).await?;
        Ok(rows
            .iter()
            .map(|row| row.at(0))
            .collect::<sqlx::Result<_>>()?)
    }

    /// How many change records a run wrote, by change and category.
    pub async fn change_counts(&self, run_id: i64) -> Result<Vec<(String, String, i64)>> {
        let sql = Sql::new(
            "SELECT change, category, COUNT(*) FROM change_records WHERE run_id = $1
             GROUP BY change, category ORDER BY change, category",
        )
        .arg(run_id);
        let rows = self.db.fetch_all(sql).await?;
        rows.iter()
            .map(|row| Ok((row.at(0)?, row.at(1)?, row.at(2)?)))
            .collect()
    }

    /// The database's size on disk, when it can be known.
    async fn size_bytes(&self) -> Result<Option<u64>> {
        match &self.db {
            Db::Sqlite(pool) => {
                let file = pool.connect_options().get_filename().to_owned();
                let mut wal = file.clone().into_os_string();
                wal.push("-wal");
                let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len());
                Ok(size(&file)
                    .ok()
                    .map(|main| main + size(std::path::Path::new(&wal)).unwrap_or(0)))
            }
            Db::Postgres(_) => {
                let sql = Sql::new("SELECT pg_database_size(current_database())");
                let size: i64 = self.db.fetch_one(sql).await?.at(0)?;
                Ok(u64::try_from(size).ok())
            }
        }
    }
}

fn brief(row: &Row) -> Result<RunBrief> {
    Ok(RunBrief {
        run_id: row.get("id")?,
        started_at: row.get("started_at")?,
        at: row.get("at")?,
        connections: row.get("connections")?,
        endpoint: row.get("endpoint")?,
        error: row.get("error")?,
    })
}
