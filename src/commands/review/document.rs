//! The digest as a document of plain blocks (headings, paragraphs, lists, tables, the
//! timeline), in the order a reviewer reads it. The texts are as they are; each format
//! escapes them as it writes them, so no name or value from the inventory can break out.

use super::compliance::Violation;
use super::digest::{Changed, Digest, KEY_FIELDS, Whole, who};
use crate::store::{RecordedChange, RunRow, RunStatus};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

pub enum Block {
    Heading(u8, String),
    Paragraph(String),
    /// Something a reviewer must not miss: a failed run, withheld removals.
    Warning(String),
    Items(Vec<String>),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Changes per day: (day, config, state).
    Timeline(Vec<(NaiveDate, usize, usize)>),
}

/// The document's title.
pub fn title(d: &Digest) -> String {
    format!("Change review: {} to {}", time(&d.since), until(d))
}

fn time(t: &DateTime<Utc>) -> String {
    crate::time::shown_in_table(t)
}

fn until(d: &Digest) -> String {
    d.until.as_ref().map_or_else(|| "now".to_owned(), time)
}

pub fn blocks(d: &Digest) -> Vec<Block> {
    let mut out = vec![Block::Heading(1, title(d))];
    overview(d, &mut out);
    runs(d, &mut out);
    counts(d, &mut out);
    out.push(Block::Heading(2, "Changes per day".into()));
    out.push(Block::Timeline(d.per_day()));
    changed(d, &mut out);
    let end = "as they were at the period's end";
    whole("Added connections", end, &d.added, &mut out);
    whole(
        "Removed connections",
        "as they were just before removal",
        &d.removed,
        &mut out,
    );
    policy(d, &mut out);
    out
}

fn overview(d: &Digest, out: &mut Vec<Block>) {
    let scope = match (&d.only.project_id, &d.only.target) {
        (Some(p), Some(t)) => format!("project {p}, target {t}"),
        (Some(p), None) => format!("project {p}"),
        (None, Some(t)) => format!("target {t}"),
        (None, None) => "every project".to_owned(),
    };
    let failed = d
        .runs
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .count();
    let withheld = d
        .runs
        .iter()
        .filter(|r| r.removals_skipped.is_some())
        .count();
    let projects = d.projects();
    out.push(Block::Items(vec![
        format!(
            "Period: changes detected from {} (inclusive) to {} (exclusive)",
            time(&d.since),
            until(d)
        ),
        format!("Scope: {scope}"),
        format!(
            "Projects: {}",
            if projects.is_empty() {
                "none".to_owned()
            } else {
                projects.join(", ")
            }
        ),
        format!(
            "Runs: {} in the period; {failed} failed; {withheld} withheld removals",
            d.runs.len()
        ),
        format!(
            "Changes: {} ({} connections modified, {} added, {} removed)",
            d.records.len(),
            d.changed.len(),
            d.added.len(),
            d.removed.len()
        ),
        format!(
            "Baselines left out, as `drift` leaves them out by default: {} added \
             connection(s) that scopes' first runs found already there",
            d.baseline_left_out
        ),
    ]));
    for r in d.troubled_runs() {
        let text = match (&r.error, &r.removals_skipped) {
            (Some(error), _) => format!("Run {} failed: {error}", r.run_id),
            (None, Some(why)) => format!("Run {} withheld removals: {why}", r.run_id),
            (None, None) => continue,
        };
        out.push(Block::Warning(text));
    }
}

fn runs(d: &Digest, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, format!("Runs ({})", d.runs.len())));
    let header = [
        "run", "sync", "target", "project", "status", "started", "finished", "added", "removed",
        "modified", "note",
    ];
    let count = |n: Option<i64>| n.map_or_else(String::new, |n| n.to_string());
    let rows = d
        .runs
        .iter()
        .map(|r: &RunRow| {
            let note = r.error.clone().or_else(|| r.removals_skipped.clone());
            vec![
                r.run_id.to_string(),
                count(r.sync_id),
                r.target.clone().unwrap_or_else(|| "-".into()),
                r.project_id.clone(),
                r.status.as_str().to_owned(),
                time(&r.started_at),
                r.finished_at.as_ref().map_or_else(String::new, time),
                count(r.added),
                count(r.removed),
                count(r.modified),
                note.unwrap_or_default(),
            ]
        })
        .collect();
    out.push(table(&header, rows));
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> Block {
    Block::Table {
        header: header.iter().map(|h| (*h).to_owned()).collect(),
        rows,
    }
}

fn counts(d: &Digest, out: &mut Vec<Block>) {
    out.push(Block::Heading(
        2,
        "Changes by project, category and kind".into(),
    ));
    let rows = d
        .counts()
        .into_iter()
        .map(|((project, category, change), n)| vec![project, category, change, n.to_string()])
        .collect();
    out.push(table(&["project", "category", "change", "count"], rows));
}

/// A value as the tables show it: JSON text, `(absent)` where there was none.
fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), crate::json::to_string)
}

fn violation(v: &Violation) -> String {
    match &v.value {
        Some(value) => format!("{}: {} = {value}", v.rule, v.field),
        None => format!("{}: {}", v.rule, v.field),
    }
}

fn listed(violations: &[Violation]) -> String {
    match violations {
        [] => "none".to_owned(),
        all => all.iter().map(violation).collect::<Vec<_>>().join("; "),
    }
}

/// Who made the changes of `records`, each author once.
fn authors(records: &[RecordedChange]) -> String {
    let all: BTreeSet<String> = records.iter().map(who).collect();
    all.into_iter().collect::<Vec<_>>().join("; ")
}

fn changed(d: &Digest, out: &mut Vec<Block>) {
    out.push(Block::Heading(
        2,
        format!("Changed connections ({})", d.changed.len()),
    ));
    for c in &d.changed {
        out.extend(connection(c));
    }
}

fn connection(c: &Changed) -> [Block; 3] {
    let name = c.name.clone().unwrap_or_else(|| "(no name)".into());
    let heading = Block::Heading(3, format!("{name} ({})", c.connection_id));
    let mut items = vec![
        format!("Project: {}", c.project_id),
        format!("Who: {}", authors(&c.records)),
    ];
    match &c.policy {
        Some((gained, lost)) => items.extend([
            format!("Policy violations gained: {}", listed(gained)),
            format!("Policy violations lost: {}", listed(lost)),
        ]),
        None => items.push(
            "Policy violations gained or lost: not judged, the connection was not in the \
             inventory both before its first change and after its last"
                .to_owned(),
        ),
    }
    let items = Block::Items(items);
    let rows = c
        .records
        .iter()
        .map(|r| {
            let rec = &r.record;
            vec![
                rec.field.clone().unwrap_or_default(),
                rec.category.to_string(),
                shown(rec.old.as_ref()),
                shown(rec.new.as_ref()),
                time(&rec.detected_at),
                rec.run_id.to_string(),
                who(r),
            ]
        })
        .collect();
    let header = [
        "field", "category", "before", "after", "detected", "run", "who",
    ];
    [heading, items, table(&header, rows)]
}

fn whole(title: &str, when: &str, list: &[Whole], out: &mut Vec<Block>) {
    out.push(Block::Heading(2, format!("{title} ({})", list.len())));
    out.push(Block::Paragraph(format!(
        "Key fields {when}; policy violations under the policy below."
    )));
    let mut header = vec!["project", "connection", "name"];
    header.extend(KEY_FIELDS);
    header.extend(["detected", "run", "who", "violations"]);
    let rows = list
        .iter()
        .map(|w| {
            let r = &w.record.record;
            let mut row = vec![
                w.record.project_id.clone(),
                r.connection_id.clone(),
                r.connection_name.clone().unwrap_or_default(),
            ];
            row.extend(KEY_FIELDS.iter().map(|f| {
                let found = w.fields.iter().find(|(name, _)| name == f);
                found.map(|(_, v)| v.clone()).unwrap_or_default()
            }));
            row.extend([
                time(&r.detected_at),
                r.run_id.to_string(),
                who(&w.record),
                listed(&w.violations),
            ]);
            row
        })
        .collect();
    out.push(table(&header, rows));
}

fn policy(d: &Digest, out: &mut Vec<Block>) {
    let p = &d.policy;
    out.push(Block::Heading(2, "Policy".into()));
    out.push(Block::Paragraph(format!(
        "Held to {}. The inventory as it is now breaks it {} time(s), in {} connection(s) \
         (`vpn-inventory check` lists them). A changed connection's violations gained or \
         lost compare it before its first change in the period and after its last, under this \
         policy.",
        p.source, p.violations, p.connections
    )));
    let rows = p
        .by_rule
        .iter()
        .map(|(rule, n, conns)| vec![rule.clone(), n.to_string(), conns.to_string()])
        .collect();
    out.push(table(&["rule", "violations", "connections"], rows));
}
