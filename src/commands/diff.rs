//! `vpn-inventory diff FROM TO`: the net field-level difference between the inventories at two
//! points in history (the versions `export --as-of` reads), judged as a sync judges a
//! connection (`drift::judge`): what changed and changed back is no difference, and neither is
//! telemetry, order or `updated_at` alone. A point is one apply, every project as it stood
//! when that apply committed, so `diff RUN latest` is the same answer whichever run of a
//! sync applied last.

use super::drift::{Line, render};
use super::print_stdout;
use super::project_target::Only;
use crate::cli::{DiffArgs, OutputFormat};
use crate::config::Config;
use crate::drift::{Category, ChangeKind, Previous, Verdict, judge};
use crate::store::{AsOf, DatabaseUrl, Store, VersionPair};
use serde::Serialize;
use serde_json::Value;
use std::process::ExitCode;

/// One difference: a connection only one inventory holds, or one field of one both hold.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Difference {
    pub project_id: String,
    pub connection_id: String,
    pub connection_name: Option<String>,
    pub change: ChangeKind,
    pub category: Category,
    /// The field's dotted API path; `None` for an added or removed connection.
    pub field: Option<String>,
    /// The values as JSON; left out where the field was absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

pub async fn run(
    database: &DatabaseUrl,
    config: &Config,
    args: DiffArgs,
) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let project = Only::project_of(&store, &args.project, config).await?;
    let from = seq(&store, args.from).await?;
    let to = seq(&store, args.to).await?;
    let mut cursor = store.version_pairs(from, to, project).await?;
    let mut differences = Vec::new();
    loop {
        let chunk = cursor.next_chunk().await?;
        if chunk.is_empty() {
            break;
        }
        differences.extend(chunk.iter().flat_map(differences_of));
    }
    drop(cursor);
    store.close().await;
    let lines: Vec<Line> = differences.iter().map(Line::from).collect();
    let json = || crate::json::to_string_pretty(&differences) + "\n";
    let mut text = render(&lines, false, args.format, json)?;
    if args.format == OutputFormat::Table && differences.is_empty() {
        text = text.replace("(no changes)", "(no differences)");
    }
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The apply sequence number of the apply `point` stands for, which must be one.
async fn seq(store: &Store, point: AsOf) -> anyhow::Result<i64> {
    let applied = store.applied_at(point).await?;
    let run = applied.run_id;
    tracing::info!(
        run,
        "comparing the inventory at {point}: after run {run} applied"
    );
    Ok(applied.seq)
}

/// What differs in one connection between the two inventories.
fn differences_of(pair: &VersionPair) -> Vec<Difference> {
    let name = |body: &Option<Value>| {
        body.as_ref()
            .and_then(|b| b.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let whole = |change| Difference {
        project_id: pair.project_id.clone(),
        connection_id: pair.connection_id.clone(),
        connection_name: name(&pair.new).or_else(|| name(&pair.old)),
        change,
        category: Category::Config,
        field: None,
        old: None,
        new: None,
    };
    match (&pair.old, &pair.new) {
        (None, None) => Vec::new(),
        (None, Some(_)) => vec![whole(ChangeKind::Added)],
        (Some(_), None) => vec![whole(ChangeKind::Removed)],
        (Some(old), Some(new)) => match judge(Previous::Other(old), new) {
            Verdict::Added | Verdict::Unchanged => Vec::new(),
            Verdict::Modified(changes) => changes
                .into_iter()
                .map(|c| Difference {
                    field: Some(c.field),
                    category: c.category,
                    old: c.old,
                    new: c.new,
                    ..whole(ChangeKind::Modified)
                })
                .collect(),
        },
    }
}

impl<'a> From<&'a Difference> for Line<'a> {
    fn from(d: &'a Difference) -> Self {
        Line {
            when: None,
            connection_id: &d.connection_id,
            connection_name: d.connection_name.as_deref(),
            change: d.change,
            category: d.category,
            field: d.field.as_deref(),
            old: d.old.as_ref(),
            new: d.new.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pair(old: Option<Value>, new: Option<Value>) -> VersionPair {
        VersionPair {
            project_id: "p".into(),
            connection_id: "c-1".into(),
            old,
            new,
        }
    }

    #[test]
    fn a_connection_only_one_side_holds_is_added_or_removed_by_its_latest_name() {
        let added = differences_of(&pair(None, Some(json!({"id": "c-1", "name": "b"}))));
        assert_eq!(added.len(), 1);
        assert_eq!(
            (added[0].change, added[0].connection_name.as_deref()),
            (ChangeKind::Added, Some("b"))
        );
        let removed = differences_of(&pair(Some(json!({"id": "c-1", "name": "a"})), None));
        assert_eq!(removed[0].change, ChangeKind::Removed);
        assert_eq!(removed[0].field, None);
    }

    #[test]
    fn fields_differ_as_a_sync_judges_them_and_telemetry_alone_is_no_difference() {
        let old = json!({"id": "c-1", "name": "a", "tags": [{"key": "zone", "value": "eu"}],
                         "ikepolicy": {"dpd": {"interval": 30}}, "updated_at": "1"});
        let new = json!({"id": "c-1", "name": "b", "tags": [{"key": "zone", "value": ""}],
                         "ikepolicy": {}, "updated_at": "2"});
        let found = differences_of(&pair(Some(old.clone()), Some(new)));
        let fields: Vec<(&str, Option<&Value>, Option<&Value>)> = found
            .iter()
            .map(|d| (d.field.as_deref().unwrap(), d.old.as_ref(), d.new.as_ref()))
            .collect();
        assert_eq!(
            fields,
            [
                ("name", Some(&json!("a")), Some(&json!("b"))),
                ("tags.zone", Some(&json!("eu")), Some(&json!(""))),
                ("ikepolicy.dpd", Some(&json!({"interval": 30})), None),
            ]
        );
        assert!(
            found
                .iter()
                .all(|d| d.connection_name.as_deref() == Some("b"))
        );
        let mut touched = old.clone();
        touched["updated_at"] = json!("3");
        assert!(differences_of(&pair(Some(old), Some(touched))).is_empty());
    }
}
