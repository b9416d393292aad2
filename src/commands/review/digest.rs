//! What a review digest holds, read from the store, before either format writes it: the
//! period, its runs, its change records (baselines left out), the changed, added and removed
//! connections with their policy violations, and the policy now. Everything is sorted, so
//! the same database gives the same document.

use super::compliance::{self, PolicySummary, Scratch, Violation, Violations};
use crate::api::model::VpnConnection;
use crate::commands::project_target::Only;
use crate::store::{ChangeKind, RecordFilter, RecordedChange, RunFilter, RunRow, Store};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Who made a change, as the digest shows it: each CTS trace that fits it (user, operation,
/// time and source address; several when several fit), or why that is unknown (`drift`'s
/// `changed_by` and `changed_by_unknown`).
pub fn who(record: &RecordedChange) -> String {
    if record.changed_by.is_empty() {
        let why = record.changed_by_unknown.as_deref();
        return format!("unknown ({})", why.unwrap_or("no traces fetched"));
    }
    let authors: Vec<String> = record
        .changed_by
        .iter()
        .map(|a| {
            format!(
                "{} ({} at {} from {})",
                a.user.as_deref().unwrap_or("(no user name)"),
                a.operation.as_deref().unwrap_or("an operation"),
                crate::time::shown_in_table(&a.time),
                a.source_ip.as_deref().unwrap_or("an unknown address")
            )
        })
        .collect();
    authors.join(", ")
}

/// The review of one period.
pub struct Digest {
    pub since: DateTime<Utc>,
    /// `None`: up to now.
    pub until: Option<DateTime<Utc>>,
    /// The `--project` / `--target` it is narrowed to.
    pub only: Only,
    /// Runs that ran during the period (some of it), oldest first.
    pub runs: Vec<RunRow>,
    /// How many baseline adds (a scope's first run) were left out.
    pub baseline_left_out: usize,
    /// The period's change records, baselines left out, in the order they were recorded.
    pub records: Vec<RecordedChange>,
    /// Modified connections, by project, name and id.
    pub changed: Vec<Changed>,
    /// Added connections, then removed ones, by project, name and id.
    pub added: Vec<Whole>,
    pub removed: Vec<Whole>,
    pub policy: PolicySummary,
}

/// A connection modified in the period: its field changes, oldest first, and the policy
/// violations it gained and lost between the period's start and end.
pub struct Changed {
    pub project_id: String,
    pub connection_id: String,
    pub name: Option<String>,
    pub records: Vec<RecordedChange>,
    /// The violations gained and lost; `None` where the connection was not in the inventory
    /// before its first change of the period (its scope's first run came in between) or not
    /// after its last (removed), so there is nothing to compare.
    pub policy: Option<(Vec<Violation>, Vec<Violation>)>,
}

/// A connection added or removed in the period: its record, its key fields (from its body
/// at the period's end, or for a removed one before it went; empty where no body is kept),
/// and its violations then.
pub struct Whole {
    pub record: RecordedChange,
    pub fields: Vec<(&'static str, String)>,
    pub violations: Vec<Violation>,
}

/// The key fields an added or removed connection is listed with.
pub const KEY_FIELDS: [&str; 7] = [
    "status",
    "style",
    "vgw_id",
    "vgw_ip",
    "cgw_id",
    "tunnel_peer_address",
    "peer_subnets",
];

/// Changes counted by project, category and change kind.
pub type Counts = BTreeMap<(String, String, String), usize>;

impl Digest {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::new();
        for r in &self.records {
            let key = (
                r.project_id.clone(),
                r.record.category.to_string(),
                r.record.change.to_string(),
            );
            *counts.entry(key).or_default() += 1;
        }
        counts
    }

    /// The projects the period's runs and records are of, by id.
    pub fn projects(&self) -> Vec<String> {
        let runs = self.runs.iter().map(|r| r.project_id.clone());
        let records = self.records.iter().map(|r| r.project_id.clone());
        let all: BTreeSet<String> = runs.chain(records).collect();
        all.into_iter().collect()
    }

    /// Changes per day (config, state), every day from the period's first with a run or a
    /// change (a period reaching years back draws no years of empty days) to its end, or to
    /// the last record or run when it runs up to now.
    pub fn per_day(&self) -> Vec<(NaiveDate, usize, usize)> {
        let seen = || {
            let records = self.records.iter().map(|r| r.record.detected_at);
            records.chain(self.runs.iter().map(|r| r.started_at.max(self.since)))
        };
        let first = seen().min().unwrap_or(self.since).date_naive();
        let end = match self.until {
            // `until` is exclusive: a period ending at midnight ends the day before.
            Some(until) => (until - chrono::TimeDelta::microseconds(1)).date_naive(),
            None => seen().max().map_or(first, |t| t.date_naive()),
        };
        let mut days: BTreeMap<NaiveDate, (usize, usize)> = first
            .iter_days()
            .take_while(|d| *d <= end.max(first))
            .map(|d| (d, (0, 0)))
            .collect();
        for r in &self.records {
            let day = days.entry(r.record.detected_at.date_naive()).or_default();
            match r.record.category {
                crate::store::Category::Config => day.0 += 1,
                crate::store::Category::State => day.1 += 1,
            }
        }
        days.into_iter().map(|(d, (c, s))| (d, c, s)).collect()
    }

    /// Runs that failed, and complete runs that withheld removals.
    pub fn troubled_runs(&self) -> impl Iterator<Item = &RunRow> {
        self.runs
            .iter()
            .filter(|r| r.error.is_some() || r.removals_skipped.is_some())
    }
}

/// Reads the digest of the period from `store`; `policy` is the policy's parameters and its
/// source as the document names it, `scratch` a directory for the policy evaluation.
pub async fn read(
    store: &Store,
    period: (DateTime<Utc>, Option<DateTime<Utc>>),
    only: Only,
    policy: (&[(String, String)], String),
    scratch: &std::path::Path,
) -> anyhow::Result<Digest> {
    let (since, until) = period;
    let filter = RecordFilter {
        since: Some(since),
        until,
        project_id: only.project_id.clone(),
        target: only.target.clone(),
        ..RecordFilter::default()
    };
    let (baseline, records): (Vec<_>, Vec<_>) = store
        .change_records(&filter)
        .await?
        .into_iter()
        .partition(|r| r.record.baseline);
    let runs = runs_in(store, &only, since, until).await?;
    let project = match (&only.project_id, &only.target) {
        (Some(project), _) => Some(project.clone()),
        (None, Some(target)) => store.target_project(target).await?,
        (None, None) => None,
    };
    let (params, source) = policy;
    let mut sides = [
        Scratch::open(scratch, "before").await?,
        Scratch::open(scratch, "after").await?,
    ];
    let versions = versions(store, &runs, &records, &mut sides).await;
    let judged = match versions {
        Ok(versions) => match (
            sides[0].violations(params).await,
            sides[1].violations(params).await,
        ) {
            (Ok(before), Ok(after)) => Ok((versions, before, after)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        Err(e) => Err(e),
    };
    for side in &sides {
        side.close().await;
    }
    let (versions, before, after) = judged?;
    let now = compliance::now(store, params, project).await?;
    let (changed, added, removed) = shape(&records, &versions, &before, &after);
    Ok(Digest {
        since,
        until,
        only,
        runs,
        baseline_left_out: baseline.len(),
        records,
        changed,
        added,
        removed,
        policy: PolicySummary { source, ..now },
    })
}

/// Runs of the scope that ran during the period, oldest first.
async fn runs_in(
    store: &Store,
    only: &Only,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<RunRow>> {
    let filter = RunFilter {
        project_id: only.project_id.clone(),
        target: only.target.clone(),
        limit: i64::MAX,
        ..RunFilter::default()
    };
    // Any part of the run in the period: a run that recorded a change of the period did.
    let overlaps = |r: &RunRow| {
        until.is_none_or(|u| r.started_at < u) && r.finished_at.is_none_or(|f| f >= since)
    };
    let mut runs: Vec<RunRow> = store
        .runs(&filter)
        .await?
        .into_iter()
        .filter(overlaps)
        .collect();
    runs.reverse();
    Ok(runs)
}

/// A connection as (project, id).
type Key = (String, String);

/// What is kept of a connection's two versions: the key fields of each that exists.
#[derive(Default)]
struct Versions {
    old: Option<Vec<(&'static str, String)>>,
    new: Option<Vec<(&'static str, String)>>,
}

/// The versions of the connections `records` name, before and after the period's changes:
/// per project, the inventory right before the first apply that recorded one of them and
/// right after the last (`runs` holds every run that recorded one). Each is written into the
/// scratch inventory of its side as it is read, a chunk at a time, and only its key fields
/// are kept.
async fn versions(
    store: &Store,
    runs: &[RunRow],
    records: &[RecordedChange],
    sides: &mut [Scratch; 2],
) -> anyhow::Result<HashMap<Key, Versions>> {
    let seq_of: HashMap<i64, i64> = runs
        .iter()
        .filter_map(|r| Some((r.run_id, r.apply_seq?)))
        .collect();
    let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for r in records {
        let Some(&seq) = seq_of.get(&r.record.run_id) else {
            anyhow::bail!("run {} recorded changes but has no apply", r.record.run_id);
        };
        let span = spans.entry(&r.project_id).or_insert((seq, seq));
        *span = (span.0.min(seq), span.1.max(seq));
    }
    let named: BTreeSet<Key> = records
        .iter()
        .map(|r| (r.project_id.clone(), r.record.connection_id.clone()))
        .collect();
    let mut found = HashMap::new();
    for (project, (first, last)) in spans {
        let mut cursor = store
            .version_pairs(first - 1, last, Some(project.to_owned()))
            .await?;
        loop {
            let chunk = cursor.next_chunk().await?;
            if chunk.is_empty() {
                break;
            }
            let mut written: [Vec<VpnConnection>; 2] = [Vec::new(), Vec::new()];
            for pair in chunk {
                let key = (pair.project_id, pair.connection_id);
                if !named.contains(&key) {
                    continue;
                }
                let mut kept = Versions::default();
                for (body, (fields, out)) in [pair.old, pair.new]
                    .into_iter()
                    .zip([&mut kept.old, &mut kept.new].into_iter().zip(&mut written))
                {
                    if let Some(Value::Object(body)) = body {
                        *fields = Some(key_fields(&body));
                        out.push(VpnConnection::from_map(body));
                    }
                }
                found.insert(key, kept);
            }
            for (side, connections) in sides.iter_mut().zip(&written) {
                side.add(project, connections).await?;
            }
        }
    }
    Ok(found)
}

/// The key fields of a connection's body.
fn key_fields(body: &serde_json::Map<String, Value>) -> Vec<(&'static str, String)> {
    KEY_FIELDS
        .iter()
        .map(|f| (*f, body.get(*f).map_or_else(String::new, plain)))
        .collect()
}

/// The changed, added and removed connections, each sorted by project, name and id.
fn shape(
    records: &[RecordedChange],
    versions: &HashMap<Key, Versions>,
    before: &Violations,
    after: &Violations,
) -> (Vec<Changed>, Vec<Whole>, Vec<Whole>) {
    let mut changed: BTreeMap<Key, Changed> = BTreeMap::new();
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let violations = |side: &Violations, key: &Key| side.get(key).cloned().unwrap_or_default();
    for r in records {
        let key = (r.project_id.clone(), r.record.connection_id.clone());
        let pair = versions.get(&key);
        match r.record.change {
            ChangeKind::Modified => {
                let entry = changed.entry(key.clone()).or_insert_with(|| {
                    let (was, is) = (violations(before, &key), violations(after, &key));
                    let whole = pair.is_some_and(|p| p.old.is_some() && p.new.is_some());
                    Changed {
                        project_id: key.0.clone(),
                        connection_id: key.1.clone(),
                        name: None,
                        records: Vec::new(),
                        policy: whole.then(|| {
                            let gained = is.difference(&was).cloned().collect();
                            (gained, was.difference(&is).cloned().collect())
                        }),
                    }
                });
                entry.name.clone_from(&r.record.connection_name);
                entry.records.push(r.clone());
            }
            ChangeKind::Added => added.push(whole(r, pair.and_then(|p| p.new.as_ref()), after)),
            ChangeKind::Removed => {
                removed.push(whole(r, pair.and_then(|p| p.old.as_ref()), before));
            }
        }
    }
    let mut changed: Vec<Changed> = changed.into_values().collect();
    changed.sort_by(|a, b| {
        (&a.project_id, &a.name, &a.connection_id).cmp(&(&b.project_id, &b.name, &b.connection_id))
    });
    let order = |w: &Whole| {
        let r = &w.record;
        (
            r.project_id.clone(),
            r.record.connection_name.clone(),
            r.record.connection_id.clone(),
        )
    };
    added.sort_by_key(order);
    removed.sort_by_key(order);
    (changed, added, removed)
}

fn whole(
    record: &RecordedChange,
    fields: Option<&Vec<(&'static str, String)>>,
    side: &Violations,
) -> Whole {
    let key = (
        record.project_id.clone(),
        record.record.connection_id.clone(),
    );
    Whole {
        record: record.clone(),
        fields: fields.cloned().unwrap_or_default(),
        violations: side
            .get(&key)
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default(),
    }
}

/// A value as a person reads it: a string as it is, a list of strings joined, else JSON.
pub fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => crate::json::lossy(s).into_owned(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let items: Vec<String> = items.iter().map(plain).collect();
            items.join(", ")
        }
        other => crate::json::to_string(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Category, ChangeRecord};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn digest(since: &str, until: Option<&str>, records: &[(&str, Category)]) -> Digest {
        let records = records
            .iter()
            .map(|(when, category)| RecordedChange {
                record: ChangeRecord {
                    run_id: 1,
                    connection_id: "c".into(),
                    connection_name: None,
                    change: ChangeKind::Modified,
                    category: *category,
                    field: Some("status".into()),
                    old: None,
                    new: None,
                    detected_at: at(when),
                    baseline: false,
                    changed_after: None,
                },
                project_id: "p".into(),
                target: None,
                changed_by: Vec::new(),
                changed_by_unknown: None,
            })
            .collect();
        Digest {
            since: at(since),
            until: until.map(at),
            only: Only::default(),
            runs: Vec::new(),
            baseline_left_out: 0,
            records,
            changed: Vec::new(),
            added: Vec::new(),
            removed: Vec::new(),
            policy: PolicySummary {
                source: String::new(),
                by_rule: Vec::new(),
                violations: 0,
                connections: 0,
            },
        }
    }

    #[test]
    fn days_run_from_the_first_change_to_the_end_of_the_period() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let records = [
            ("2026-12-03T10:00:00Z", Category::Config),
            ("2026-12-03T11:00:00Z", Category::State),
            ("2026-12-05T23:59:59Z", Category::Config),
        ];
        // `until` is exclusive: midnight of the 8th ends the period on the 7th.
        let d = digest(
            "2000-01-01T00:00:00Z",
            Some("2026-12-08T00:00:00Z"),
            &records,
        );
        let days = d.per_day();
        assert_eq!(days.first(), Some(&(day(3), 1, 1)));
        assert_eq!(days.last(), Some(&(day(7), 0, 0)));
        assert_eq!(days.len(), 5);
        assert!(days.contains(&(day(5), 1, 0)) && days.contains(&(day(4), 0, 0)));
        // Up to now: to the last change; nothing at all: the period's first day.
        assert_eq!(
            digest("2026-12-01T00:00:00Z", None, &records)
                .per_day()
                .len(),
            3
        );
        let empty = digest("2026-12-01T12:00:00Z", None, &[]).per_day();
        assert_eq!(empty, [(day(1), 0, 0)]);
    }
}
