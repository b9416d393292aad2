//! What `vpn-inventory status`, `runs` and `metrics` read: the database, each scope's latest
//! runs, every run, and the change records a run made.

use super::Store;
use super::dialect::{Row, Sql};
use super::error::Result;
use super::runs::{RunStatus, stored_scope};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A run as `vpn-inventory runs` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub run_id: i64,
    /// The sync (one invocation of `sync`) the run was part of.
    pub sync_id: Option<i64>,
    /// The configuration target it ran for; `None` for a run from flags.
    pub target: Option<String>,
    pub project_id: String,
    pub region: Option<String>,
    pub status: RunStatus,
    /// Its place in the order complete runs applied in, over all syncs (`diff` and `export
    /// --as-of` read the inventory as it stood after an apply); `None` until it applied.
    pub apply_seq: Option<i64>,
    /// Its place among the applies of its sync: 1 for the first run of it that applied.
    pub apply_order: Option<i64>,
    pub scope: serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    pub pages: i64,
    pub fetched: i64,
    pub duplicates: i64,
    pub added: Option<i64>,
    pub removed: Option<i64>,
    pub modified: Option<i64>,
    pub unchanged: Option<i64>,
    /// Why a complete run inferred no removals; `None` when it did (or is not complete).
    pub removals_skipped: Option<String>,
    pub error: Option<String>,
    /// The failed run whose staged pages this run took over and continued (`sync --resume`).
    pub resumed_from: Option<i64>,
    /// The run that took this failed run's staged pages over and continued its sweep.
    pub resumed_by: Option<i64>,
    /// The first complete run of its scope: what it added was already there.
    pub baseline: bool,
}

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
    /// The region the run was for, when known; the configuration's target it ran for (`None`
    /// when run from flags).
    pub region: Option<String>,
    pub target: Option<String>,
    /// The run applied first of its scope's: what it added is the scope's baseline.
    pub baseline: bool,
}

/// A scope's latest runs.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeStatus {
    pub scope: serde_json::Value,
    pub project_id: String,
    /// The region its latest run reached, when known.
    pub region: Option<String>,
    /// The configuration targets its runs were made for, by name.
    pub targets: Vec<String>,
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

/// Which runs `vpn-inventory runs` lists; unset parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub sync_id: Option<i64>,
    pub project_id: Option<String>,
    pub target: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
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
                         fetched - duplicates AS connections, endpoint, error, region, target,
                         CASE WHEN apply_seq = (SELECT MIN(f.apply_seq) FROM sync_runs f
                             WHERE f.scope_id = sync_runs.scope_id) THEN 1 ELSE 0 END
                             AS baseline
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
            let (region, targets) = self.scope_region_and_targets(scope_id, after).await?;
            scopes.push(ScopeStatus {
                scope: stored_scope(&row)?.shown_without_endpoint(),
                project_id: row.get("project_id")?,
                region,
                targets,
                last_complete: last_complete.as_ref().map(brief).transpose()?,
                last_failed: last_failed.as_ref().map(brief).transpose()?,
                running: running.iter().map(brief).collect::<Result<_>>()?,
            });
        }
        Ok(Status {
            schema_version: self.schema_version().await?,
            size_bytes: self.db.size_bytes().await?,
            connections,
            scopes,
        })
    }

    /// The region a scope's latest run (after `after`) reached, and the targets its runs
    /// were made for.
    async fn scope_region_and_targets(
        &self,
        scope_id: i64,
        after: i64,
    ) -> Result<(Option<String>, Vec<String>)> {
        let region = Sql::new(
            "SELECT region FROM sync_runs WHERE scope_id = $1 AND id > $2 AND region IS NOT NULL
             ORDER BY id DESC LIMIT 1",
        )
        .arg(scope_id)
        .arg(after);
        let region = match self.db.fetch_optional(region).await? {
            Some(row) => row.at(0)?,
            None => None,
        };
        let targets = Sql::new(
            "SELECT DISTINCT target FROM sync_runs
             WHERE scope_id = $1 AND id > $2 AND target IS NOT NULL ORDER BY target",
        )
        .arg(scope_id)
        .arg(after);
        Ok((region, first_texts(&self.db.fetch_all(targets).await?)?))
    }

    /// The projects any scope was synced for, by id.
    pub async fn project_ids(&self) -> Result<Vec<String>> {
        let sql = Sql::new("SELECT DISTINCT project_id FROM scopes ORDER BY project_id");
        first_texts(&self.db.fetch_all(sql).await?)
    }

    /// The configuration targets any run was made for, by name.
    pub async fn target_names(&self) -> Result<Vec<String>> {
        let sql = Sql::new(
            "SELECT DISTINCT target FROM sync_runs WHERE target IS NOT NULL ORDER BY target",
        );
        first_texts(&self.db.fetch_all(sql).await?)
    }

    /// The project the latest run made for configuration target `name` synced.
    pub async fn target_project(&self, name: &str) -> Result<Option<String>> {
        let sql = Sql::new(
            "SELECT s.project_id FROM sync_runs r JOIN scopes s ON s.id = r.scope_id
             WHERE r.target = $1 ORDER BY r.id DESC LIMIT 1",
        )
        .arg(name);
        match self.db.fetch_optional(sql).await? {
            Some(row) => Ok(Some(row.at(0)?)),
            None => Ok(None),
        }
    }

    /// Runs `filter` selects, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>> {
        let mut sql = Sql::new(
            "SELECT r.id, r.sync_id, r.target, r.status, r.started_at, r.finished_at, r.pages,
                 r.fetched, r.duplicates, r.added, r.removed, r.modified, r.unchanged,
                 r.removals_skipped, r.error, r.endpoint, r.region, s.project_id, s.vgw_id,
                 s.vgw_ip, s.vpn_id, s.eip_id, s.enterprise_project_ids, r.resumed_from,
                 (SELECT MIN(n.id) FROM sync_runs n WHERE n.resumed_from = r.id) AS resumed_by,
                 r.apply_seq,
                 (SELECT MIN(f.apply_seq) FROM sync_runs f WHERE f.scope_id = r.scope_id)
                     AS first_seq,
                 (SELECT COUNT(*) FROM sync_runs o
                  WHERE o.sync_id = r.sync_id AND o.apply_seq <= r.apply_seq) AS apply_order
             FROM sync_runs r JOIN scopes s ON s.id = r.scope_id WHERE 1 = 1",
        );
        if let Some(sync) = filter.sync_id {
            sql.push(" AND r.sync_id = ").bind(sync);
        }
        if let Some(project) = &filter.project_id {
            sql.push(" AND s.project_id = ").bind(project);
        }
        if let Some(target) = &filter.target {
            sql.push(" AND r.target = ").bind(target);
        }
        sql.push(" ORDER BY r.id DESC LIMIT ").bind(filter.limit);
        self.db.fetch_all(sql).await?.iter().map(run_row).collect()
    }

    /// How many change records a run wrote, by change and category, leaving its baseline
    /// records out (what a scope's first run added was there already: no drift).
    pub async fn change_counts(&self, run_id: i64) -> Result<Vec<(String, String, i64)>> {
        let sql = Sql::new(
            "SELECT change, category, COUNT(*) FROM change_records
             WHERE run_id = $1 AND NOT baseline
             GROUP BY change, category ORDER BY change, category",
        )
        .arg(run_id);
        let rows = self.db.fetch_all(sql).await?;
        rows.iter()
            .map(|row| Ok((row.at(0)?, row.at(1)?, row.at(2)?)))
            .collect()
    }
}

/// The first column of `rows`, as text.
fn first_texts(rows: &[Row]) -> Result<Vec<String>> {
    rows.iter().map(|row| Ok(row.at(0)?)).collect()
}

fn brief(row: &Row) -> Result<RunBrief> {
    Ok(RunBrief {
        run_id: row.get("id")?,
        started_at: row.get("started_at")?,
        at: row.get("at")?,
        connections: row.get("connections")?,
        endpoint: row.get("endpoint")?,
        error: row.get("error")?,
        region: row.get("region")?,
        target: row.get("target")?,
        baseline: row.int("baseline")? == 1,
    })
}

fn run_row(row: &Row) -> Result<RunRow> {
    let started_at: DateTime<Utc> = row.get("started_at")?;
    let finished_at: Option<DateTime<Utc>> = row.get("finished_at")?;
    let mut scope = stored_scope(row)?;
    scope.endpoint = row.get::<Option<String>>("endpoint")?.unwrap_or_default();
    scope.region = row.get("region")?;
    let duration = finished_at.map(|f| (f - started_at).to_std().unwrap_or_default());
    let apply_seq: Option<i64> = row.get("apply_seq")?;
    Ok(RunRow {
        run_id: row.get("id")?,
        sync_id: row.get("sync_id")?,
        target: row.get("target")?,
        project_id: scope.project_id.clone(),
        region: scope.region.clone(),
        status: RunStatus::parse(&row.get::<String>("status")?)?,
        apply_seq,
        // COUNT(*) of an empty set is 0: a run that never applied has no place.
        apply_order: apply_seq.map(|_| row.get("apply_order")).transpose()?,
        scope: scope.shown(),
        started_at,
        finished_at,
        duration_seconds: duration.map(|d| d.as_secs_f64()),
        pages: row.get("pages")?,
        fetched: row.get("fetched")?,
        duplicates: row.get("duplicates")?,
        added: row.get("added")?,
        removed: row.get("removed")?,
        modified: row.get("modified")?,
        unchanged: row.get("unchanged")?,
        removals_skipped: row.get("removals_skipped")?,
        error: row.get("error")?,
        resumed_from: row.get("resumed_from")?,
        resumed_by: row.get("resumed_by")?,
        baseline: apply_seq.is_some() && apply_seq == row.get::<Option<i64>>("first_seq")?,
    })
}
