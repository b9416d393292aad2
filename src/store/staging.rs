//! Staging: each page of a run, stored durably as it arrives, until the run applies or fails.
//!
//! A run stages each page in its own transaction (durable, resumable later); only the apply
//! touches the inventory. What a resumed sweep needs to continue is read back from here.

use super::Store;
use super::dialect::{Cell, MAX_PARAMS, Sql, id_keys};
use super::error::{Result, connections_error, inconsistent};
use super::lookup::{count, select_in};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One connection of a page, ready to stage.
#[derive(Debug, Clone)]
pub struct StagedConnection {
    pub id: String,
    pub content_hash: String,
    /// The hash of the bytes it was served as (`api::page`), when they were kept.
    pub served_hash: Option<u128>,
    /// Its `created_at` as served: where a resumed sweep's markers come from.
    pub created_at: Option<String>,
    /// The object as served, JSON text; `None` when the project's inventory held this content
    /// as the page was prepared (the apply then finds it there, or among its versions).
    pub body: Option<String>,
}

/// What the inventory holds of a connection: its content hash, and the hash of the bytes it
/// was last served as (`None`: not known, as for what was stored before schema version 25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHashes {
    pub content: String,
    pub served: Option<u128>,
}

/// One page of a run, as received.
#[derive(Debug, Clone)]
pub struct PageToStage<'a> {
    pub page_no: i64,
    pub marker: Option<&'a str>,
    pub next_marker: Option<&'a str>,
    pub request_id: Option<&'a str>,
    /// When the page's answer arrived: its connections' observation time.
    pub fetched_at: DateTime<Utc>,
    pub connections: &'a [StagedConnection],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageOutcome {
    /// Repeats of an id already received in this run (a marker falling on a tie does this).
    pub duplicates: i64,
}

/// One page a run staged, as far as continuing its sweep needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPage {
    pub page_no: i64,
    pub marker: Option<String>,
    pub next_marker: Option<String>,
    /// Connections received, duplicates included (as counted in `fetched`).
    pub item_count: i64,
    /// Connections first received on this page.
    pub first_seen: i64,
}

impl Store {
    /// Stores one page durably in one transaction. Ids already staged in this run are counted
    /// as duplicates and not stored again. A connection staged without its body (content the
    /// inventory holds) costs its id and hashes only: an unchanged re-sync writes no body.
    pub async fn stage_page(&self, run_id: i64, page: &PageToStage<'_>) -> Result<StageOutcome> {
        let mut tx = self.db.begin_write().await?;
        let items = count(page.connections.len());
        let sql = Sql::new(
            "INSERT INTO staged_pages (run_id, page_no, marker, next_marker, item_count,
                 request_id, fetched_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .arg(run_id)
        .arg(page.page_no)
        .arg(page.marker)
        .arg(page.next_marker)
        .arg(items)
        .arg(page.request_id)
        .arg(page.fetched_at);
        tx.execute(sql).await?;
        // Multi-row inserts; an id already staged (or repeated on this page) is skipped and
        // counted as a duplicate.
        let mut inserted = 0;
        for chunk in page.connections.chunks(MAX_PARAMS / 7) {
            let mut sql = Sql::new(
                "INSERT INTO staged_connections (run_id, connection_id, page_no, content_hash,
                     served_hash, created_at, body) ",
            );
            sql.push_values(chunk.iter().map(|conn| {
                vec![
                    Cell::from(run_id),
                    Cell::from(&conn.id),
                    Cell::from(page.page_no),
                    Cell::from(&conn.content_hash),
                    Cell::from(conn.served_hash),
                    Cell::from(conn.created_at.as_deref()),
                    Cell::from(conn.body.as_deref()),
                ]
            }));
            sql.push(" ON CONFLICT (run_id, connection_key) DO NOTHING");
            inserted += tx.execute(sql).await.map_err(|e| {
                let ids: Vec<&str> = chunk.iter().map(|c| c.id.as_str()).collect();
                connections_error(&ids, e)
            })?;
        }
        let outcome = StageOutcome {
            duplicates: items - i64::try_from(inserted).unwrap_or(items),
        };
        let sql = Sql::new(
            "UPDATE sync_runs SET pages = pages + 1, fetched = fetched + $2,
                 duplicates = duplicates + $3
             WHERE id = $1",
        )
        .arg(run_id)
        .arg(items)
        .arg(outcome.duplicates);
        tx.execute(sql).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// The pages `run_id` staged, in order.
    pub async fn staged_pages(&self, run_id: i64) -> Result<Vec<StagedPage>> {
        let sql = Sql::new(
            "SELECT p.page_no, p.marker, p.next_marker, p.item_count,
                 (SELECT COUNT(*) FROM staged_connections c
                  WHERE c.run_id = p.run_id AND c.page_no = p.page_no)
             FROM staged_pages p WHERE p.run_id = $1 ORDER BY p.page_no",
        )
        .arg(run_id);
        self.db
            .fetch_all(sql)
            .await?
            .iter()
            .map(|row| {
                Ok(StagedPage {
                    page_no: row.at(0)?,
                    marker: row.at(1)?,
                    next_marker: row.at(2)?,
                    item_count: row.at(3)?,
                    first_seen: row.at(4)?,
                })
            })
            .collect()
    }

    /// Each connection `run_id` staged: its id and the `created_at` it was served with.
    pub async fn staged_created_at(&self, run_id: i64) -> Result<Vec<(String, Option<String>)>> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let sql = Sql::new(
                "SELECT connection_id, created_at, body, connection_key FROM staged_connections
                 WHERE run_id = $1 AND connection_key > $2 ORDER BY connection_key LIMIT $3",
            )
            .arg(run_id)
            .arg(after.as_str())
            .arg(STAGED_CHUNK);
            let rows = self.db.fetch_all(sql).await?;
            let Some(last) = rows.last() else { break };
            after = last.at(3)?;
            for row in &rows {
                let (id, created_at): (String, Option<String>) = (row.at(0)?, row.at(1)?);
                let body: Option<String> = row.at(2)?;
                // Staged before schema version 8, a page kept no `created_at` but every body.
                let created_at = match (created_at, body) {
                    (Some(at), _) => Some(at),
                    (None, Some(body)) => served_created_at(&id, &body)?,
                    (None, None) => None,
                };
                out.push((id, created_at));
            }
        }
        Ok(out)
    }

    /// What the inventory of `project_id` holds of these connections (those it holds), by id:
    /// what a sweep compares each page with.
    pub async fn stored_hashes(
        &self,
        project_id: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, StoredHashes>> {
        let held = || {
            let mut sql = Sql::new(
                "SELECT id, content_hash, served_hash FROM connections WHERE project_id = ",
            );
            sql.bind(project_id).push(" AND id_key");
            sql
        };
        let mut tx = self.db.begin().await?;
        let rows = select_in(&mut tx, held, &id_keys(ids)).await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let hashes = StoredHashes {
                    content: row.at(1)?,
                    served: row.u128_at(2)?,
                };
                Ok((row.at(0)?, hashes))
            })
            .collect()
    }

    /// The `created_at` of the `limit` newest connections of `project_id` (those of gateway
    /// `vgw_id`, when given) created before `before` (at or before it when `inclusive`; all,
    /// without it), newest first, as the list API would serve them: what a re-sync foresees
    /// of the pages to come. Only the first 64 characters of each are indexed
    /// (`connections_created_at`), so a longer one is foreseen cut short, wrongly: a guess.
    pub async fn created_before(
        &self,
        project_id: &str,
        vgw_id: Option<&str>,
        before: Option<&str>,
        inclusive: bool,
        limit: u32,
    ) -> Result<Vec<String>> {
        let mut sql =
            Sql::new("SELECT substr(created_at, 1, 64) FROM connections WHERE project_id = ");
        sql.bind(project_id);
        if let Some(vgw_id) = vgw_id {
            sql.push(" AND vgw_id = ").bind(vgw_id);
        }
        match before {
            Some(before) => {
                let below = if inclusive { " <= " } else { " < " };
                sql.push(" AND substr(created_at, 1, 64)")
                    .push(below)
                    .bind(before)
            }
            None => sql.push(" AND created_at IS NOT NULL"),
        };
        sql.push(" ORDER BY substr(created_at, 1, 64) DESC LIMIT ")
            .bind(i64::from(limit));
        let rows = self.db.fetch_all(sql).await?;
        rows.iter().map(|row| Ok(row.at(0)?)).collect()
    }

    /// How many connections the inventory of `project_id` holds.
    pub async fn stored_count(&self, project_id: &str) -> Result<i64> {
        let sql =
            Sql::new("SELECT COUNT(*) FROM connections WHERE project_id = $1").arg(project_id);
        Ok(self.db.fetch_one(sql).await?.at(0)?)
    }
}

/// The tables a run stages its pages in until it applies or fails.
pub(super) const STAGING: [&str; 2] = ["staged_connections", "staged_pages"];

/// How many staged connections are read per query.
const STAGED_CHUNK: i64 = 500;

/// The `created_at` of a staged body, read as the sweep read it (strings in held form: see
/// `crate::json`).
fn served_created_at(id: &str, body: &str) -> Result<Option<String>> {
    let served = crate::json::parse(body)
        .map_err(|e| inconsistent(format!("staged connection {id}: {e}")))?;
    Ok(served
        .get("created_at")
        .and_then(|v| v.as_str())
        .map(str::to_owned))
}
