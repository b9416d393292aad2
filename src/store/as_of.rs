//! Points in history as people name them (a run, a sync, a time, the latest) and the apply
//! each stands for. History is kept in apply order (`sync_runs.apply_seq`), so a point is one
//! apply: the inventory of every project as it stood when that apply committed.

use super::Store;
use super::dialect::{Sql, Tx};
use super::error::Result;
use super::runs::RunStatus;
use chrono::{DateTime, Utc};

/// A point in history, as `diff` and `export --as-of` name it. Each stands for one apply
/// (`sync_runs.apply_seq`, the order applies committed in, not the order runs started in):
/// the inventory of every project as it stood when that apply committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// When this run's apply committed.
    Run(i64),
    /// When the last apply of this sync (one invocation of `sync`) committed.
    Sync(i64),
    /// When the latest apply committed at or before this time did.
    Time(DateTime<Utc>),
    /// The latest apply.
    Latest,
}

impl AsOf {
    /// Reads a point as a person writes it: `latest`, a run id (`7` or `run:7`), a sync id
    /// (`sync:3`), or a time as `--since` takes it (times ago count from `now`).
    pub fn parse(text: &str, now: DateTime<Utc>) -> std::result::Result<Self, String> {
        let id = |kind: &str, digits: &str| {
            digits.parse::<i64>().map_err(|_| {
                format!("{text:?} names no {kind}: a {kind} id is a number ({kind}:7)")
            })
        };
        if text == "latest" {
            Ok(Self::Latest)
        } else if let Some(digits) = text.strip_prefix("run:") {
            id("run", digits).map(Self::Run)
        } else if let Some(digits) = text.strip_prefix("sync:") {
            id("sync", digits).map(Self::Sync)
        } else if let Ok(run) = text.parse::<i64>() {
            Ok(Self::Run(run))
        } else {
            crate::time::parse_time(text, now)
                .map(Self::Time)
                .map_err(|_| {
                    format!(
                        "{text:?} is not a point in history: use a run id (7 or run:7), a sync \
                         id (sync:3), latest, or {}",
                        crate::time::TIME_FORMATS
                    )
                })
        }
    }
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Run(run) => write!(f, "run {run}"),
            Self::Sync(sync) => write!(f, "sync {sync}"),
            Self::Time(time) => f.write_str(&crate::time::shown(time)),
            Self::Latest => f.write_str("the latest run"),
        }
    }
}

/// The apply a point in history resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `sync_runs.apply_seq`.
    pub seq: i64,
    pub run_id: i64,
    pub sync_id: Option<i64>,
    /// When the run finished: its apply committed then.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The apply sequence number `as_of` stands for (0: before any run). A run must be
    /// complete, and a sync must have a complete run: others changed no inventory.
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
            AsOf::Sync(sync) => {
                let sql = Sql::new(
                    "SELECT (SELECT COUNT(*) FROM syncs WHERE id = $1),
                         (SELECT MAX(apply_seq) FROM sync_runs WHERE sync_id = $1)",
                )
                .arg(sync);
                let row = self.db.fetch_one(sql).await?;
                match (row.at::<i64>(0)?, row.at::<Option<i64>>(1)?) {
                    (0, _) => anyhow::bail!("there is no sync {sync} (`runs` lists them)"),
                    (_, None) => anyhow::bail!(
                        "sync {sync} has no complete run: none of its runs changed the inventory"
                    ),
                    (_, Some(seq)) => Ok(seq),
                }
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
            AsOf::Latest => {
                let sql = Sql::new("SELECT MAX(apply_seq) FROM sync_runs");
                let seq: Option<i64> = self.db.fetch_one(sql).await?.at(0)?;
                Ok(seq.unwrap_or(0))
            }
        }
    }

    /// The apply `as_of` stands for; an error where it stands for none (no run had
    /// completed by then).
    pub async fn applied_at(&self, as_of: AsOf) -> anyhow::Result<Applied> {
        let seq = self.resolve_as_of(as_of).await?;
        match applied(&mut self.db.begin().await?, Some(seq)).await? {
            Some(applied) => Ok(applied),
            None if as_of == AsOf::Latest => {
                anyhow::bail!("no complete run yet: run `vpn-inventory sync` first")
            }
            None => anyhow::bail!("no run had completed by {as_of}"),
        }
    }

    /// The id of a complete run: the latest (`None`, which is none before a run completed:
    /// an empty inventory), the given one (which must be complete), or the one whose apply
    /// the point stands for.
    pub async fn complete_run_at(&self, at: Option<AsOf>) -> anyhow::Result<Option<i64>> {
        match at {
            Some(AsOf::Run(run)) => {
                self.resolve_as_of(AsOf::Run(run)).await?;
                Ok(Some(run))
            }
            None | Some(AsOf::Latest) => {
                let latest = applied(&mut self.db.begin().await?, None).await?;
                Ok(latest.map(|applied| applied.run_id))
            }
            Some(at) => Ok(Some(self.applied_at(at).await?.run_id)),
        }
    }
}

impl Store {
    /// The first run to complete (in apply order), if any: it is its scope's first, so every
    /// change it recorded is a baseline.
    pub async fn first_complete_run(&self) -> anyhow::Result<Option<i64>> {
        let sql = Sql::new(
            "SELECT id FROM sync_runs WHERE apply_seq = (SELECT MIN(apply_seq) FROM sync_runs)",
        );
        let row = self.db.fetch_optional(sql).await?;
        Ok(row.map(|row| row.at(0)).transpose()?)
    }
}

/// The apply numbered `seq` (the latest for `None`), read in `tx`; `None` where there is none.
pub(super) async fn applied(tx: &mut Tx, seq: Option<i64>) -> Result<Option<Applied>> {
    let sql = Sql::new(
        "SELECT apply_seq, id, sync_id, finished_at FROM sync_runs
         WHERE apply_seq = COALESCE($1, (SELECT MAX(apply_seq) FROM sync_runs))",
    )
    .arg(seq);
    let rows = tx.fetch_all(sql).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(Applied {
        seq: row.at(0)?,
        run_id: row.at(1)?,
        sync_id: row.at(2)?,
        finished_at: row.at(3)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_point_is_a_run_a_sync_a_time_or_the_latest() {
        let now = at("2026-11-20T12:00:00Z");
        let parse = |text| AsOf::parse(text, now);
        assert_eq!(parse("latest"), Ok(AsOf::Latest));
        assert_eq!(parse("7"), Ok(AsOf::Run(7)));
        assert_eq!(parse("run:7"), Ok(AsOf::Run(7)));
        assert_eq!(parse("sync:3"), Ok(AsOf::Sync(3)));
        assert_eq!(parse("24h"), Ok(AsOf::Time(at("2026-11-19T12:00:00Z"))));
        assert_eq!(
            parse("2026-11-01"),
            Ok(AsOf::Time(at("2026-11-01T00:00:00Z")))
        );
        let bad = parse("sync:x").unwrap_err();
        assert!(bad.contains("\"sync:x\" names no sync"), "{bad}");
        let bad = parse("yesterday").unwrap_err();
        assert!(bad.contains("sync:3") && bad.contains("run:7"), "{bad}");
    }

    #[test]
    fn a_point_says_what_it_names() {
        assert_eq!(AsOf::Run(7).to_string(), "run 7");
        assert_eq!(AsOf::Sync(3).to_string(), "sync 3");
        assert_eq!(
            AsOf::Time(at("2026-11-01T08:00:00Z")).to_string(),
            "2026-11-01T08:00:00Z"
        );
    }
}
