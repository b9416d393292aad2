//! What each staged connection is to the inventory, and what its chunk makes of it.
//!
//! Staged connections are classified a chunk at a time against the current versions
//! ([`classify`]): content the inventory lacks is read and judged field by field
//! ([`prepare_chunk`], no I/O: it runs on a thread of its own while the chunk before is
//! written); content it holds, or holds a newer observation of, is left alone. An unchanged
//! connection is never parsed.

use super::context::{APPLY_CHUNK, RunContext, count};
use crate::api::model::{FieldValue as _, VpnConnection};
use crate::drift::{self, Category, ChangeKind, Previous, Verdict};
use crate::store::{ChangeRecord, Held, RunCounts, StoreError, SweepTx};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// How many staged connections are classified per query while most of them are new: each is
/// read, judged and written, and the chunks in flight are most of the apply's memory.
pub(super) const NEW_CHUNK: i64 = 500;

/// One staged connection, with what the inventory holds of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Classified {
    pub id: String,
    pub hash: String,
    /// The hash of the bytes it was served as, when kept.
    pub served_hash: Option<u128>,
    pub observed_at: DateTime<Utc>,
    /// The served body: only when its content is new to the inventory.
    pub body: Option<String>,
    pub current: Option<Held>,
    /// The inventory's current version of it, as its rows read back (`export`'s JSON): only
    /// when the content differs.
    pub current_body: Option<String>,
    /// The scope returned it last time.
    pub member: bool,
}

impl Classified {
    /// Another run observed this connection after this run did.
    pub fn is_older_than_stored(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| self.observed_at < c.observed_at)
    }

    /// Content the inventory does not hold: rows and a version must be written.
    pub fn is_new_content(&self) -> bool {
        !self.is_older_than_stored()
            && self.current.as_ref().map(|c| c.hash.as_str()) != Some(self.hash.as_str())
    }

    /// Held with the same content, observed now after the stored observation.
    fn is_seen_again(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| self.observed_at > c.observed_at)
    }
}

/// How many staged connections the chunk after `batch` reads: as many as this one's share of
/// new content allows.
pub(super) fn next_limit(batch: &[Classified]) -> i64 {
    let new = batch.iter().filter(|k| k.is_new_content()).count();
    match new * 4 <= batch.len() {
        true => APPLY_CHUNK,
        false => NEW_CHUNK,
    }
}

/// The next `limit` of the run's staged connections after the key `after`, classified; and
/// the key of its last one.
pub(super) async fn classify(
    tx: &mut SweepTx,
    ctx: &RunContext<'_>,
    after: &str,
    limit: i64,
) -> Result<(Vec<Classified>, Option<String>), StoreError> {
    let (staged, last) = tx.staged_chunk(ctx.run_id, after, limit).await?;
    let ids: Vec<&str> = staged.iter().map(|s| s.id.as_str()).collect();
    let held_ids = if ctx.inventory_held { &ids[..] } else { &[] };
    let mut current = tx.held(ctx.project_id(), held_ids).await?;
    let member_ids = if ctx.scope_held { &ids[..] } else { &[] };
    let members = tx.members_among(ctx.scope_id, member_ids).await?;

    let mut classified = Vec::with_capacity(staged.len());
    for row in &staged {
        let observed_at = *ctx.page_times.get(&row.page_no).ok_or_else(|| {
            StoreError::Inconsistent(format!("staged page {} is missing", row.page_no))
        })?;
        classified.push(Classified {
            id: row.id.clone(),
            hash: row.hash.clone(),
            served_hash: row.served_hash,
            observed_at,
            body: None,
            current: current.remove(&row.id),
            current_body: None,
            member: members.contains(&row.id),
        });
    }
    // Bodies only where the content is new: an unchanged connection is never parsed.
    let need_body: Vec<&str> = classified
        .iter()
        .filter(|k| k.is_new_content())
        .map(|k| k.id.as_str())
        .collect();
    let mut bodies = tx.staged_bodies(ctx.run_id, &need_body).await?;
    let need_current: Vec<&str> = classified
        .iter()
        .filter(|k| k.is_new_content() && k.current.is_some())
        .map(|k| k.id.as_str())
        .collect();
    let mut current_bodies = tx.current_bodies(ctx.project_id(), &need_current).await?;
    for k in &mut classified {
        k.body = match bodies.remove(&k.id) {
            Some(Some(body)) => Some(body),
            // Staged without its body, the inventory holding this content then: another run
            // has changed it since, and the content is among its versions.
            Some(None) => Some(held_body(tx, ctx, &k.id, &k.hash).await?),
            None => None,
        };
        k.current_body = current_bodies.remove(&k.id);
    }
    Ok((classified, last))
}

/// The body of the version of connection `id` with content `hash`. It is asked for only when
/// the inventory now holds other content, so that version has ended and archived its body.
async fn held_body(
    tx: &mut SweepTx,
    ctx: &RunContext<'_>,
    id: &str,
    hash: &str,
) -> Result<String, StoreError> {
    tx.archived_body(ctx.project_id(), id, hash)
        .await?
        .ok_or_else(|| {
            StoreError::Inconsistent(format!(
                "connection {id} was staged as the inventory held it, and that version is \
                 gone (pruned meanwhile?): sync again"
            ))
        })
}

/// A staged connection whose served body was read: the model, and the body of the version it
/// replaces, which is archived as that version closes (the served body, parsed already, is
/// dropped: a chunk of them held in memory is most of the apply's peak).
pub(super) struct Served {
    pub item: Classified,
    pub conn: VpnConnection,
    pub replaced: Option<String>,
}

/// A classified chunk made ready to write: the connections whose content is new, read and
/// judged, with their change records. Computed without the database, so that it runs while
/// the chunk before it is being written.
pub(super) struct Prepared {
    /// The chunk's connections whose content the inventory holds (or holds newer).
    pub same: Vec<Classified>,
    pub changed: Vec<Served>,
    pub records: Vec<ChangeRecord>,
    pub counts: RunCounts,
}

impl Prepared {
    /// The chunk's connections the scope did not return last time.
    pub fn new_members(&self) -> Vec<&str> {
        self.same
            .iter()
            .chain(self.changed.iter().map(|s| &s.item))
            .filter(|k| !k.member)
            .map(|k| k.id.as_str())
            .collect()
    }

    /// The unchanged connections now served as other bytes than the inventory knows them by
    /// (keys reordered, other whitespace, or not known yet), with the hash of those bytes: the
    /// next sweep then knows them without parsing them.
    pub fn served_anew(&self) -> Vec<(&str, u128)> {
        self.same
            .iter()
            .filter(|item| !item.is_older_than_stored())
            .filter_map(|item| {
                let served = item.served_hash?;
                let current = item.current.as_ref()?;
                (current.served_hash != Some(served)).then_some((&*item.id, served))
            })
            .collect()
    }

    /// The unchanged connections whose observation time moves forward: only while another
    /// run of the project sweeps (`concurrent`), which may apply older observations later.
    pub fn seen_again(&self, concurrent: bool) -> Vec<(&str, DateTime<Utc>)> {
        self.same
            .iter()
            .filter(|item| concurrent && item.is_seen_again())
            .map(|item| (item.id.as_str(), item.observed_at))
            .collect()
    }
}

/// Reads the served bodies of what is new in `batch` and judges each against the version it
/// replaces, field by field.
pub(super) fn prepare_chunk(
    batch: Vec<Classified>,
    stamp: super::context::RecordStamp,
) -> Result<Prepared, StoreError> {
    let inconsistent = StoreError::Inconsistent;
    let mut counts = RunCounts::default();
    let (fresh, same): (Vec<Classified>, Vec<Classified>) =
        batch.into_iter().partition(Classified::is_new_content);
    counts.unchanged += count(same.len());
    let mut changed = Vec::with_capacity(fresh.len());
    let mut records = Vec::new();
    for mut item in fresh {
        let id = item.id.as_str();
        let conn = item
            .body
            .as_deref()
            .and_then(|body| crate::json::parse(body).ok())
            .and_then(|served| match served {
                Value::Object(map) => Some(VpnConnection::from_map(map)),
                _ => None,
            })
            .ok_or_else(|| inconsistent(format!("staged connection {id} is no JSON object")))?;
        let stored = conn.to_json();
        let current_body: Option<Value> = item
            .current_body
            .as_deref()
            .map(crate::json::parse)
            .transpose()
            .map_err(|e| inconsistent(format!("stored version of {id} is not JSON: {e}")))?;
        let previous = match (&item.current, &current_body) {
            (None, _) => Previous::Absent,
            (Some(_), Some(body)) => Previous::Other(body),
            (Some(_), None) => {
                return Err(inconsistent(format!(
                    "no current version of connection {id}"
                )));
            }
        };
        let name = conn.name.as_deref();
        match drift::judge(previous, &stored) {
            Verdict::Added => {
                records.push(stamp.record(id, name, ChangeKind::Added, None, None));
                counts.added += 1;
            }
            Verdict::Unchanged => counts.unchanged += 1,
            Verdict::Modified(changes) => {
                counts.modified += 1;
                if changes.iter().any(|c| c.category == Category::Config) {
                    counts.modified_config += 1;
                }
                let seen = item.current.as_ref().map(|c| c.observed_at);
                let modified = changes
                    .into_iter()
                    .map(|c| stamp.record(id, name, ChangeKind::Modified, Some(c), seen));
                records.extend(modified);
            }
        }
        item.body = None;
        let replaced = item.current_body.take();
        changed.push(Served {
            item,
            conn,
            replaced,
        });
    }
    Ok(Prepared {
        same,
        changed,
        records,
        counts,
    })
}

/// [`prepare_chunk`] on a thread of its own, so the caller's database work goes on meanwhile.
pub(super) async fn prepare_apart(
    batch: Vec<Classified>,
    stamp: super::context::RecordStamp,
) -> Result<Prepared, StoreError> {
    tokio::task::spawn_blocking(move || prepare_chunk(batch, stamp))
        .await
        .map_err(|e| {
            StoreError::Inconsistent(format!("preparing a chunk of the apply failed: {e}"))
        })?
}

#[cfg(test)]
mod tests {
    use super::super::context::RecordStamp;
    use super::*;
    use chrono::TimeZone as _;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, second).unwrap()
    }

    /// Connection `id` staged with content `hash` at second 10, and what the inventory holds.
    fn staged(id: &str, hash: &str, held: Option<(&str, u32)>) -> Classified {
        Classified {
            id: id.to_owned(),
            hash: hash.to_owned(),
            served_hash: None,
            observed_at: at(10),
            body: None,
            current: held.map(|(hash, second)| Held {
                hash: hash.to_owned(),
                served_hash: None,
                observed_at: at(second),
            }),
            current_body: None,
            member: false,
        }
    }

    fn stamp() -> RecordStamp {
        RecordStamp {
            run_id: 7,
            detected_at: at(30),
            baseline: false,
        }
    }

    #[test]
    fn a_staged_connection_is_new_the_same_or_older_than_the_stored_one() {
        let added = staged("a", "h1", None);
        assert!(added.is_new_content() && !added.is_older_than_stored());
        let same = staged("a", "h1", Some(("h1", 5)));
        assert!(!same.is_new_content() && !same.is_older_than_stored());
        let modified = staged("a", "h2", Some(("h1", 5)));
        assert!(modified.is_new_content());
        // Another run observed it later: nothing at all, whatever the content.
        let older = staged("a", "h2", Some(("h1", 20)));
        assert!(older.is_older_than_stored() && !older.is_new_content());
        // Observed at the same instant: the same observation, not an older one.
        let tie = staged("a", "h2", Some(("h1", 10)));
        assert!(!tie.is_older_than_stored() && tie.is_new_content());
    }

    #[test]
    fn chunks_grow_while_little_of_them_is_new() {
        let unchanged = |n: usize| (0..n).map(|_| staged("a", "h", Some(("h", 1))));
        let quarter_new: Vec<Classified> = unchanged(3).chain([staged("b", "h", None)]).collect();
        assert_eq!(next_limit(&quarter_new), APPLY_CHUNK);
        let half_new: Vec<Classified> = unchanged(1).chain([staged("b", "h", None)]).collect();
        assert_eq!(next_limit(&half_new), NEW_CHUNK);
        assert_eq!(next_limit(&[]), APPLY_CHUNK);
    }

    #[test]
    fn new_content_is_judged_field_by_field_and_the_same_content_left_alone() {
        let mut added = staged("a", "h1", None);
        added.body = Some(r#"{"id":"a","name":"first","status":"ACTIVE"}"#.to_owned());
        let mut modified = staged("m", "h2", Some(("h1", 5)));
        modified.body = Some(r#"{"id":"m","name":"new","status":"DOWN"}"#.to_owned());
        modified.current_body = Some(r#"{"id":"m","name":"old","status":"ACTIVE"}"#.to_owned());
        let mut touched = staged("t", "h2", Some(("h1", 5)));
        touched.body = Some(r#"{"id":"t","updated_at":"2"}"#.to_owned());
        touched.current_body = Some(r#"{"id":"t","updated_at":"1"}"#.to_owned());
        let same = staged("s", "h1", Some(("h1", 5)));
        let older = staged("o", "h2", Some(("h1", 20)));
        let batch = vec![added, modified, touched, same, older];

        let prepared = prepare_chunk(batch, stamp()).unwrap();
        let counts = RunCounts {
            added: 1,
            modified: 1,
            modified_config: 1,
            unchanged: 3,
            removed: 0,
        };
        assert_eq!(prepared.counts, counts);
        let records: Vec<(&str, ChangeKind, Option<&str>, Category)> = prepared
            .records
            .iter()
            .map(|r| {
                (
                    r.connection_id.as_str(),
                    r.change,
                    r.field.as_deref(),
                    r.category,
                )
            })
            .collect();
        assert_eq!(
            records,
            [
                ("a", ChangeKind::Added, None, Category::Config),
                ("m", ChangeKind::Modified, Some("name"), Category::Config),
                ("m", ChangeKind::Modified, Some("status"), Category::State),
            ]
        );
        assert!(prepared.records.iter().all(|r| r.run_id == 7));
        assert_eq!(prepared.records[1].connection_name.as_deref(), Some("new"));
        // Content the inventory lacks is written, even when no field counts as a change; the
        // body it replaces goes with it, to be archived.
        let changed: Vec<(&str, Option<&str>)> = prepared
            .changed
            .iter()
            .map(|s| (s.item.id.as_str(), s.replaced.as_deref()))
            .collect();
        assert_eq!(
            changed,
            [
                ("a", None),
                ("m", Some(r#"{"id":"m","name":"old","status":"ACTIVE"}"#)),
                ("t", Some(r#"{"id":"t","updated_at":"1"}"#)),
            ]
        );
        assert!(prepared.changed.iter().all(|s| s.item.body.is_none()));
        let same: Vec<&str> = prepared.same.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(same, ["s", "o"]);
    }

    #[test]
    fn a_body_that_cannot_be_judged_is_an_inconsistency() {
        let mut unreadable = staged("a", "h1", None);
        unreadable.body = Some("[1]".to_owned());
        let error = prepare_chunk(vec![unreadable], stamp()).err().unwrap();
        assert!(
            error
                .to_string()
                .contains("staged connection a is no JSON object")
        );
        let mut unversioned = staged("a", "h2", Some(("h1", 5)));
        unversioned.body = Some(r#"{"id":"a"}"#.to_owned());
        let error = prepare_chunk(vec![unversioned], stamp()).err().unwrap();
        assert!(
            error
                .to_string()
                .contains("no current version of connection a")
        );
    }

    #[test]
    fn members_are_added_and_observations_moved_only_where_needed() {
        let mut member = staged("m", "h", Some(("h", 5)));
        member.member = true;
        let seen_later = staged("s", "h", Some(("h", 5)));
        let seen_earlier = staged("e", "h", Some(("h", 20)));
        let mut added = staged("a", "h", None);
        added.body = Some(r#"{"id":"a"}"#.to_owned());
        let batch = vec![member, seen_later, seen_earlier, added];
        let prepared = prepare_chunk(batch, stamp()).unwrap();
        assert_eq!(prepared.new_members(), ["s", "e", "a"]);
        assert_eq!(prepared.seen_again(true), [("m", at(10)), ("s", at(10))]);
        assert!(prepared.seen_again(false).is_empty());
    }
}
