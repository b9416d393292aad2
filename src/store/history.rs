//! Reading history: change records, and the inventory as it was after any complete run.

use super::Store;
use super::as_of::{Applied, applied};
use super::connections::{ProjectFilter, ProjectGroup, current_bodies, groups};
use super::dialect::{Row, Sql, Tx};
use super::error::{Result, inconsistent};
use super::records::{Category, ChangeKind, ChangeRecord};
use super::tables::CHANGE_RECORDS;
use super::traces::Author;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Which change records to read; unset parts do not filter.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub sync_id: Option<i64>,
    pub run_id: Option<i64>,
    /// Detected at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Detected before this time.
    pub until: Option<DateTime<Utc>>,
    pub connection_id: Option<String>,
    /// Records of this project.
    pub project_id: Option<String>,
    /// Records of runs made for this configuration target.
    pub target: Option<String>,
    pub category: Option<Category>,
    pub change: Option<ChangeKind>,
    /// Fields whose dotted path starts with this text (added and removed records have none).
    pub field_prefix: Option<String>,
}

/// A change record as read back, with where it was found: the project, and the
/// configuration target its run was made for (`None`: a run from flags).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordedChange {
    #[serde(flatten)]
    pub record: ChangeRecord,
    pub project_id: String,
    pub target: Option<String>,
    /// Who made the change: each CTS trace of the connection that fits it, oldest first.
    pub changed_by: Vec<Author>,
    /// Why no trace fits (`changed_by` is empty): `no traces fetched`, `window expired`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by_unknown: Option<String>,
}

/// A connection a person named (`history`, `drift --connection`): its id, or why the text
/// names none or several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// The connection's id.
    One(String),
    /// No connection has that id, an id starting with it, or that name.
    None,
    /// Several connections match: (id, latest name) of each, by id.
    Several(Vec<(String, Option<String>)>),
}

impl Store {
    /// Change records matching `filter`, oldest first.
    pub async fn change_records(&self, filter: &RecordFilter) -> Result<Vec<RecordedChange>> {
        let mut sql = Sql::new("SELECT id, ");
        sql.push(&CHANGE_RECORDS.read_columns()).push(
            ", project_id, (SELECT s.target FROM sync_runs s WHERE s.id = change_records.run_id)
                 AS target FROM change_records WHERE 1 = 1",
        );
        if let Some(sync) = filter.sync_id {
            sql.push(" AND run_id IN (SELECT id FROM sync_runs WHERE sync_id = ")
                .bind(sync)
                .push(")");
        }
        if let Some(run) = filter.run_id {
            sql.push(" AND run_id = ").bind(run);
        }
        if let Some(since) = filter.since {
            sql.push(" AND detected_at >= ").bind(since);
        }
        if let Some(until) = filter.until {
            sql.push(" AND detected_at < ").bind(until);
        }
        if let Some(id) = &filter.connection_id {
            sql.push(" AND connection_id = ").bind(id);
        }
        if let Some(project) = &filter.project_id {
            sql.push(" AND project_id = ").bind(project);
        }
        if let Some(target) = &filter.target {
            sql.push(" AND run_id IN (SELECT id FROM sync_runs WHERE target = ")
                .bind(target)
                .push(")");
        }
        if let Some(category) = filter.category {
            sql.push(" AND category = ").bind(category.as_str());
        }
        if let Some(change) = filter.change {
            sql.push(" AND change = ").bind(change.as_str());
        }
        if let Some(prefix) = &filter.field_prefix {
            // SUBSTR, not LIKE: `_` and `%` are common in field names.
            sql.push(" AND SUBSTR(field, 1, LENGTH(")
                .bind(prefix)
                .push(")) = ")
                .bind(prefix);
        }
        sql.push(" ORDER BY id");
        let rows = self.db.fetch_all(sql).await?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|row| row.get("id"))
            .collect::<sqlx::Result<_>>()?;
        let mut authorship = self.authorship(&ids).await?;
        rows.iter()
            .zip(ids)
            .map(|(row, id)| {
                let who = authorship.remove(&id).unwrap_or_default();
                Ok(RecordedChange {
                    record: CHANGE_RECORDS.read(row)?,
                    project_id: row.get("project_id")?,
                    target: row.get("target")?,
                    changed_by: who.authors,
                    changed_by_unknown: who.unknown,
                })
            })
            .collect()
    }

    /// The connection `text` names: an id, else the one connection whose id starts with it
    /// or that has (or had) it as its name. Connections are those any change record or the
    /// inventory holds, so a removed one is still found.
    pub async fn connection_named(&self, text: &str) -> Result<Named> {
        let sql = Sql::new(
            "SELECT 1 FROM change_records WHERE connection_id = $1
             UNION ALL SELECT 1 FROM connections WHERE id = $1",
        )
        .arg(text);
        if self.db.fetch_optional(sql).await?.is_some() {
            return Ok(Named::One(text.to_owned()));
        }
        // Not indexed: a person asks this once, and a prefix needs a scan on either database.
        let sql = Sql::new(
            "SELECT k.connection_id,
                 COALESCE((SELECT MIN(c.name) FROM connections c WHERE c.id = k.connection_id),
                     (SELECT r.connection_name FROM change_records r
                      WHERE r.connection_id = k.connection_id ORDER BY r.id DESC LIMIT 1))
             FROM (SELECT connection_id FROM change_records
                   WHERE SUBSTR(connection_id, 1, LENGTH($1)) = $1 OR connection_name = $1
                   UNION SELECT id FROM connections
                   WHERE SUBSTR(id, 1, LENGTH($1)) = $1 OR name = $1) k
             ORDER BY k.connection_id",
        )
        .arg(text);
        let mut found = Vec::new();
        for row in self.db.fetch_all(sql).await? {
            found.push((row.at::<String>(0)?, row.at::<Option<String>>(1)?));
        }
        Ok(match found.len() {
            0 => Named::None,
            1 => Named::One(found.remove(0).0),
            _ => Named::Several(found),
        })
    }

    /// Reads the inventory as it was right after apply `seq`, the connections `filter`
    /// selects, a chunk at a time.
    pub async fn versions_at(&self, seq: i64, filter: ProjectFilter) -> Result<VersionCursor> {
        Ok(VersionCursor {
            tx: self.db.begin().await?,
            seq,
            filter,
            after: 0,
        })
    }

    /// The connections (of project `project_id`, or all) whose version right after apply
    /// `old_seq` is not the one right after `new_seq` (either may be the earlier). A version
    /// current at both is the same row, so only what changed in between is read.
    pub async fn version_pairs(
        &self,
        old_seq: i64,
        new_seq: i64,
        project_id: Option<String>,
    ) -> Result<PairCursor> {
        Ok(PairCursor {
            tx: self.db.begin().await?,
            old_seq,
            new_seq,
            project_id,
            after: (String::new(), String::new(), 0),
            pending: None,
            done: false,
        })
    }
}

/// Connection versions current at one point of history, in one read transaction. A
/// version's region is that of the run that made it current, which wrote it to
/// `connections.region`.
pub struct VersionCursor {
    tx: Tx,
    seq: i64,
    filter: ProjectFilter,
    after: i64,
}

/// The versions current right after apply `$1`, with the run that made each current as `r`.
const VERSIONS_AT: &str =
    " FROM connection_versions v LEFT JOIN sync_runs r ON r.id = v.from_run_id
     WHERE v.from_seq <= $1 AND (v.to_seq IS NULL OR v.to_seq > $1)";

impl VersionCursor {
    /// The next versions (connection JSON: as archived, or a current one's read from its
    /// rows); empty when done.
    pub async fn next_chunk(&mut self) -> Result<Vec<Value>> {
        let mut sql = Sql::new("SELECT v.id, v.project_id, v.connection_id, v.body").arg(self.seq);
        sql.push(VERSIONS_AT).push(" AND v.id > ").bind(self.after);
        self.filter.push_to(&mut sql, "v.project_id", "r.region");
        sql.push(" ORDER BY v.id LIMIT 500");
        let rows = self.tx.fetch_all(sql).await?;
        let bodies = version_bodies(&mut self.tx, &rows, (1, 2, 3)).await?;
        let mut versions = Vec::with_capacity(rows.len());
        for (row, body) in rows.iter().zip(bodies) {
            let id: i64 = row.at(0)?;
            let version = crate::json::parse(&body)
                .map_err(|e| inconsistent(format!("connection version {id} is not JSON: {e}")))?;
            versions.push(version);
            self.after = id;
        }
        Ok(versions)
    }

    /// The (project, region) groups of the versions selected, in the same snapshot.
    pub async fn groups(&mut self) -> Result<Vec<ProjectGroup>> {
        let mut sql = Sql::new("SELECT DISTINCT v.project_id, r.region").arg(self.seq);
        sql.push(VERSIONS_AT);
        self.filter.push_to(&mut sql, "v.project_id", "r.region");
        groups(&mut self.tx, sql).await
    }

    /// Reads what `filter` selects from the start, in the same snapshot.
    pub fn restart(&mut self, filter: ProjectFilter) {
        self.filter = filter;
        self.after = 0;
    }

    /// The apply whose inventory this reads; `None` before any.
    pub async fn applied(&mut self) -> Result<Option<Applied>> {
        match self.seq {
            0 => Ok(None),
            seq => applied(&mut self.tx, Some(seq)).await,
        }
    }
}

/// One connection whose stored version differs between two points of history: its body at
/// each, `None` where it was not in the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionPair {
    pub project_id: String,
    pub connection_id: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The connections whose versions differ between two points of history, in one read
/// transaction, a chunk at a time (ordered by project and connection id).
pub struct PairCursor {
    tx: Tx,
    old_seq: i64,
    new_seq: i64,
    project_id: Option<String>,
    /// The last row read: (project_id, connection_id, version id).
    after: (String, String, i64),
    /// The last connection read, which the next chunk may complete.
    pending: Option<VersionPair>,
    done: bool,
}

impl PairCursor {
    /// The next connections; empty when done.
    pub async fn next_chunk(&mut self) -> Result<Vec<VersionPair>> {
        const CHUNK: usize = 500;
        let (low, high) = (
            self.old_seq.min(self.new_seq),
            self.old_seq.max(self.new_seq),
        );
        let mut out = Vec::new();
        while out.is_empty() && !self.done {
            // Current at exactly one of the two points: it started or ended in between, and
            // did not do both. The cursor compares in the database's own collation, as it
            // sorts.
            let mut sql = Sql::new(
                "SELECT project_id, connection_id, id, body, from_seq FROM connection_versions
                 WHERE ((from_seq > $1 AND from_seq <= $2) OR (to_seq > $1 AND to_seq <= $2))
                     AND NOT (from_seq > $1 AND to_seq IS NOT NULL AND to_seq <= $2)
                     AND (project_id > $3 OR (project_id = $3 AND (connection_id > $4
                         OR (connection_id = $4 AND id > $5))))",
            )
            .arg(low)
            .arg(high)
            .arg(self.after.0.as_str())
            .arg(self.after.1.as_str())
            .arg(self.after.2);
            if let Some(project_id) = &self.project_id {
                sql.push(" AND project_id = ").bind(project_id);
            }
            sql.push(" ORDER BY project_id, connection_id, id LIMIT 500");
            let rows = self.tx.fetch_all(sql).await?;
            self.done = rows.len() < CHUNK;
            let bodies = version_bodies(&mut self.tx, &rows, (0, 1, 3)).await?;
            for (row, body) in rows.iter().zip(bodies) {
                let (project_id, connection_id): (String, String) = (row.at(0)?, row.at(1)?);
                let (id, from_seq): (i64, i64) = (row.at(2)?, row.at(4)?);
                let version = crate::json::parse(&body).map_err(|e| {
                    inconsistent(format!("connection version {id} is not JSON: {e}"))
                })?;
                // Current at `low` if it started by then; else at `high`.
                let at_old = (from_seq <= low) == (self.old_seq == low);
                let same = self.pending.as_ref().is_some_and(|p| {
                    p.project_id == project_id && p.connection_id == connection_id
                });
                if !same {
                    out.extend(self.pending.take());
                    self.pending = Some(VersionPair {
                        project_id: project_id.clone(),
                        connection_id: connection_id.clone(),
                        old: None,
                        new: None,
                    });
                }
                if let Some(pair) = &mut self.pending {
                    *(if at_old { &mut pair.old } else { &mut pair.new }) = Some(version);
                }
                self.after = (project_id, connection_id, id);
            }
        }
        if self.done {
            out.extend(self.pending.take());
        }
        Ok(out)
    }
}

/// The bodies of the versions `rows`, whose columns `project_id`, `connection_id` and `body`
/// are at `columns`: as archived, or for a current version (which stores none) as the
/// inventory holds the connection in the same snapshot.
async fn version_bodies(
    tx: &mut Tx,
    rows: &[Row],
    (project, connection, body): (usize, usize, usize),
) -> Result<Vec<String>> {
    let mut stored: Vec<Option<String>> = Vec::with_capacity(rows.len());
    let mut current: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        let archived: Option<String> = row.at(body)?;
        if archived.is_none() {
            let ids = current.entry(row.at(project)?).or_default();
            ids.push(row.at(connection)?);
        }
        stored.push(archived);
    }
    let mut held = HashMap::new();
    for (project_id, ids) in &current {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        for (id, body) in current_bodies(tx, project_id, &ids).await? {
            held.insert((project_id.clone(), id), body);
        }
    }
    rows.iter()
        .zip(stored)
        .map(|(row, archived)| match archived {
            Some(body) => Ok(body),
            None => {
                let key: (String, String) = (row.at(project)?, row.at(connection)?);
                held.remove(&key).ok_or_else(|| {
                    inconsistent(format!(
                        "connection {} has a current version but no stored rows",
                        key.1
                    ))
                })
            }
        })
        .collect()
}
