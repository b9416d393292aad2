//! `vpn-inventory drift`, `history` and `diff`: changes as a table, JSON or CSV.
//!
//! How a value shows, so that absent, `null`, `""` and `[]` never look alike:
//! - table: JSON text (strings in quotes: `"eu-west"`, `""`), `(absent)` where the field was
//!   not there;
//! - CSV: plain cells (a string as it is, a number or boolean as its text, `null`, objects and
//!   arrays as JSON, an empty cell where absent), and `old_type`/`new_type` columns (`absent`,
//!   `null`, `string`, `number`, `boolean`, `array`, `object`) that tell `""` from absent and
//!   `1` from `"1"`;
//! - JSON: the value itself, and no `old`/`new` member where the field was absent.
//!
//! Times are RFC 3339 in UTC with `Z` everywhere (whole seconds in tables).

use super::project_target::{Only, ShortIds, target_cell};
use super::{one_line, plain_table, print_stdout, table_text};
use crate::cli::{DriftArgs, HistoryArgs, OutputFormat};
use crate::drift::{Category, ChangeKind};
use crate::json::lossy;
use crate::store::{
    Author, Cell, DatabaseUrl, Named, QueryTable, RecordFilter, RecordedChange, RunStatus, Store,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: DriftArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let period = args.since.is_some() || args.until.is_some();
    let connection_id = match &args.connection {
        Some(text) => Some(connection(&store, text).await?),
        None => None,
    };
    let only = Only::resolve(&store, &args.only).await?;
    let mut filter = RecordFilter {
        sync_id: args.sync,
        run_id: args.run,
        since: args.since,
        until: args.until,
        connection_id,
        project_id: only.project_id,
        target: only.target,
        category: args.category.map(Into::into),
        change: args.change.map(Into::into),
        field_prefix: args.field.clone(),
    };
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since >= until
    {
        return crate::usage::mistake(format!(
            "--since {} is not before --until {}: the period is empty",
            crate::time::shown(&since),
            crate::time::shown(&until)
        ));
    }
    match filter.run_id {
        Some(run) => match store.run_status(run).await? {
            Some((RunStatus::Complete, _)) => {}
            None => anyhow::bail!("there is no run {run} (`vpn-inventory runs` lists them)"),
            Some((RunStatus::Failed, error)) => anyhow::bail!(
                "run {run} failed, so it recorded no changes: {}",
                error.as_deref().unwrap_or("no reason recorded")
            ),
            Some((RunStatus::Running, _)) => {
                anyhow::bail!("run {run} is still running: its changes are not recorded yet")
            }
        },
        None if args.sync.is_some() || period => {}
        None => {
            let (project, target) = (filter.project_id.as_deref(), filter.target.as_deref());
            match store
                .latest_sync_with_changes_recorded(project, target)
                .await?
            {
                Some(sync) => filter.sync_id = Some(sync),
                None if project.is_some() || target.is_some() => anyhow::bail!(
                    "no complete run of that --project or --target yet: nothing recorded"
                ),
                None => anyhow::bail!("no complete run yet: run `vpn-inventory sync` first"),
            }
        }
    }
    if let Some(sync) = filter.sync_id {
        anyhow::ensure!(
            store.sync_exists(sync).await?,
            "there is no sync {sync} (`vpn-inventory runs` lists them)"
        );
    }
    let (baseline, records): (Vec<_>, Vec<_>) = store
        .change_records(&filter)
        .await?
        .into_iter()
        .partition(|r| r.record.baseline && !args.include_baseline);
    store.close().await;
    print_stdout(&render_records(&records, args.format)?)?;
    if !baseline.is_empty() {
        tell_baseline_left_out(&baseline);
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr that baseline adds were left out, so an empty answer is not mistaken for
/// an empty inventory.
fn tell_baseline_left_out(baseline: &[RecordedChange]) {
    let runs: std::collections::BTreeSet<i64> = baseline.iter().map(|r| r.record.run_id).collect();
    let runs: Vec<String> = runs.iter().map(i64::to_string).collect();
    let (noun, list) = match runs.len() {
        1 => ("run", runs[0].clone()),
        _ => ("runs", runs.join(", ")),
    };
    eprintln!(
        "vpn-inventory: {} left out: the baseline that {noun} {list} took (the first run of \
         a scope adds what was already there); --include-baseline lists them",
        super::counted(
            i64::try_from(baseline.len()).unwrap_or(i64::MAX),
            "added connection"
        )
    );
}

pub async fn history(database: &DatabaseUrl, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let only = Only::resolve(&store, &args.only).await?;
    let id = match store.connection_named(&args.connection).await? {
        Named::None if args.format != OutputFormat::Table => {
            // A script asking about an id no run has seen gets an empty answer, as it always
            // has; a person gets told.
            print_stdout(&render_records(&[], args.format)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        named => the_one(&args.connection, named)?,
    };
    let narrowed = only != Only::default();
    let filter = RecordFilter {
        connection_id: Some(id.clone()),
        project_id: only.project_id,
        target: only.target,
        ..RecordFilter::default()
    };
    let records = store.change_records(&filter).await?;
    store.close().await;
    if records.is_empty() && args.format == OutputFormat::Table && narrowed {
        anyhow::bail!(
            "no history for connection {} in that --project or --target",
            one_line(&id)
        );
    }
    if records.is_empty() && args.format == OutputFormat::Table {
        anyhow::bail!(
            "no history for connection {}: its records were pruned",
            one_line(&id)
        );
    }
    print_stdout(&render_records(&records, args.format)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The id of the connection `text` names (an id, a unique id prefix or an exact name), or an
/// error saying that none or which several match.
async fn connection(store: &Store, text: &str) -> anyhow::Result<String> {
    the_one(text, store.connection_named(text).await?)
}

fn the_one(text: &str, named: Named) -> anyhow::Result<String> {
    match named {
        Named::One(id) => Ok(id),
        Named::None => anyhow::bail!(
            "no connection matches {}: it is no id, start of an id or name any run has seen",
            one_line(text)
        ),
        Named::Several(found) => {
            const SHOWN: usize = 10;
            let mut list: Vec<String> = found
                .iter()
                .take(SHOWN)
                .map(|(id, name)| match name {
                    Some(name) => format!("{} ({})", one_line(id), one_line(name)),
                    None => one_line(id),
                })
                .collect();
            if found.len() > SHOWN {
                list.push(format!("and {} more", found.len() - SHOWN));
            }
            anyhow::bail!(
                "{} matches {} connections: {}; give more of the id",
                one_line(text),
                found.len(),
                list.join(", ")
            )
        }
    }
}

/// Where and when a change record was made.
pub(super) struct Recorded<'a> {
    pub run_id: i64,
    pub detected_at: DateTime<Utc>,
    pub project_id: &'a str,
    /// The configuration target of its run; `None` for a run from flags.
    pub target: Option<&'a str>,
    /// Who made it, or why that is unknown.
    pub changed_by: &'a [Author],
    pub changed_by_unknown: Option<&'a str>,
}

impl Recorded<'_> {
    /// Who made the change, in a few words: the users (several when several traces fit),
    /// or `unknown (why)`.
    fn authors(&self) -> String {
        match self.changed_by {
            [] => format!("unknown ({})", self.changed_by_unknown.unwrap_or(NOT_ASKED)),
            traces => joined(
                traces,
                |a| a.user.as_deref().unwrap_or("(no user name)"),
                ", ",
            ),
        }
    }

    /// The CSV cells of who made the change: users, times, operations, source addresses
    /// (each `; `-separated, one per fitting trace) and why it is unknown.
    fn author_cells(&self) -> [String; 5] {
        let by = self.changed_by;
        [
            joined(by, |a| a.user.as_deref().unwrap_or_default(), "; "),
            by.iter()
                .map(|a| crate::time::shown(&a.time))
                .collect::<Vec<_>>()
                .join("; "),
            joined(by, |a| a.operation.as_deref().unwrap_or_default(), "; "),
            joined(by, |a| a.source_ip.as_deref().unwrap_or_default(), "; "),
            lossy(self.changed_by_unknown.unwrap_or_default()).into_owned(),
        ]
    }
}

/// One text of each author, joined by `separator`.
fn joined(authors: &[Author], text: impl Fn(&Author) -> &str, separator: &str) -> String {
    let texts: Vec<String> = authors
        .iter()
        .map(|a| lossy(text(a)).into_owned())
        .collect();
    texts.join(separator)
}

/// One change to print: a change record, or a difference `diff` found (no run, no time).
pub(super) struct Line<'a> {
    pub when: Option<Recorded<'a>>,
    pub connection_id: &'a str,
    pub connection_name: Option<&'a str>,
    pub change: ChangeKind,
    pub category: Category,
    pub field: Option<&'a str>,
    pub old: Option<&'a Value>,
    pub new: Option<&'a Value>,
}

impl<'a> From<&'a RecordedChange> for Line<'a> {
    fn from(recorded: &'a RecordedChange) -> Self {
        let r = &recorded.record;
        Line {
            when: Some(Recorded {
                run_id: r.run_id,
                detected_at: r.detected_at,
                project_id: &recorded.project_id,
                target: recorded.target.as_deref(),
                changed_by: &recorded.changed_by,
                changed_by_unknown: recorded.changed_by_unknown.as_deref(),
            }),
            connection_id: &r.connection_id,
            connection_name: r.connection_name.as_deref(),
            change: r.change,
            category: r.category,
            field: r.field.as_deref(),
            old: r.old.as_ref(),
            new: r.new.as_ref(),
        }
    }
}

fn render_records(records: &[RecordedChange], format: OutputFormat) -> anyhow::Result<String> {
    let json = || crate::json::to_string_pretty(records) + "\n";
    let lines: Vec<Line> = records.iter().map(Line::from).collect();
    render(&lines, true, format, json)
}

/// `lines` in `format`; `with_when` adds the run, time, project and target columns; `json`
/// gives the JSON.
pub(super) fn render(
    lines: &[Line],
    with_when: bool,
    format: OutputFormat,
    json: impl FnOnce() -> String,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => json(),
        OutputFormat::Csv => csv(lines, with_when)?,
        OutputFormat::Markdown => markdown(lines, with_when)?,
        OutputFormat::Table => table(lines, with_when),
    })
}

/// A value in a table: JSON text, so `""`, `null`, `[]` and `"null"` differ; `(absent)`.
fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), crate::json::to_string)
}

/// A value in a CSV cell: plain text for strings, numbers and booleans, `null`, JSON for
/// objects and arrays, empty where absent.
fn cell(value: Option<&Value>) -> String {
    match value {
        None => String::new(),
        Some(Value::String(s)) => lossy(s).into_owned(),
        Some(other) => crate::json::to_string(other),
    }
}

/// What a CSV cell held before it became plain text.
fn type_of(value: Option<&Value>) -> &'static str {
    match value {
        None => "absent",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// CSV columns of every change.
const COLUMNS: [&str; 9] = [
    "connection_id",
    "connection_name",
    "change",
    "category",
    "field",
    "old",
    "new",
    "old_type",
    "new_type",
];

/// CSV columns of a change record: the first before [`COLUMNS`], the rest after (so the
/// columns older builds wrote keep their places).
const RECORD_COLUMNS: ([&str; 1], [&str; 8]) = (
    ["run_id"],
    [
        "detected_at",
        "project_id",
        "target",
        "changed_by",
        "changed_by_time",
        "changed_by_operation",
        "changed_by_source_ip",
        "changed_by_unknown",
    ],
);

fn row(l: &Line, with_when: bool) -> Vec<String> {
    let mut row = vec![
        lossy(l.connection_id).into_owned(),
        lossy(l.connection_name.unwrap_or_default()).into_owned(),
        l.change.to_string(),
        l.category.to_string(),
        lossy(l.field.unwrap_or_default()).into_owned(),
        cell(l.old),
        cell(l.new),
        type_of(l.old).to_owned(),
        type_of(l.new).to_owned(),
    ];
    if let (true, Some(when)) = (with_when, &l.when) {
        row.insert(0, when.run_id.to_string());
        row.push(crate::time::shown(&when.detected_at));
        row.push(lossy(when.project_id).into_owned());
        row.push(lossy(when.target.unwrap_or_default()).into_owned());
        row.extend(when.author_cells());
    }
    row
}

/// The CSV's and the Markdown table's column names.
fn columns(with_when: bool) -> Vec<&'static str> {
    let (before, after) = if with_when {
        (&RECORD_COLUMNS.0[..], &RECORD_COLUMNS.1[..])
    } else {
        (&[][..], &[][..])
    };
    before
        .iter()
        .chain(&COLUMNS)
        .chain(after)
        .copied()
        .collect()
}

/// RFC 4180 CSV (records end in `\n`), header first.
fn csv(lines: &[Line], with_when: bool) -> anyhow::Result<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(columns(with_when))?;
    for l in lines {
        out.write_record(row(l, with_when))?;
    }
    Ok(String::from_utf8(out.into_inner()?)?)
}

/// A Markdown table of the CSV's columns and cells, as reports write one.
fn markdown(lines: &[Line], with_when: bool) -> anyhow::Result<String> {
    let table = QueryTable {
        columns: columns(with_when).into_iter().map(String::from).collect(),
        rows: lines
            .iter()
            .map(|l| {
                row(l, with_when)
                    .into_iter()
                    .map(|c| Cell::Text(Some(c)))
                    .collect()
            })
            .collect(),
    };
    super::report::render(&table, OutputFormat::Markdown)
}

/// Whether the run of a record asked CTS who made its changes.
fn asked(when: &Recorded) -> bool {
    !when.changed_by.is_empty() || when.changed_by_unknown.is_some_and(|u| u != NOT_ASKED)
}

/// Why a change's author is unknown when its run did not ask CTS (`change_authors`).
const NOT_ASKED: &str = "no traces fetched";

fn table(lines: &[Line], with_when: bool) -> String {
    let mut header = vec![
        "CONNECTION",
        "NAME",
        "CHANGE",
        "CATEGORY",
        "FIELD",
        "OLD -> NEW",
    ];
    if with_when {
        header.splice(0..0, ["RUN", "DETECTED", "PROJECT", "TARGET"]);
    }
    // Who made each change, once any run of these asked CTS.
    let with_authors = with_when && lines.iter().any(|l| l.when.as_ref().is_some_and(asked));
    if with_authors {
        header.push("BY");
    }
    let projects = ShortIds::new(
        lines
            .iter()
            .filter_map(|l| Some(l.when.as_ref()?.project_id)),
    );
    let mut table = plain_table(&header, if with_when { &[0] } else { &[] });
    for l in lines {
        let values = if l.change == ChangeKind::Modified {
            format!("{} -> {}", shown(l.old), shown(l.new))
        } else {
            String::new()
        };
        let mut cells = vec![
            one_line(l.connection_id),
            one_line(l.connection_name.unwrap_or("")),
            l.change.to_string(),
            l.category.to_string(),
            one_line(l.field.unwrap_or_default()),
            one_line(&values),
        ];
        if let (true, Some(when)) = (with_when, &l.when) {
            let recorded = [
                when.run_id.to_string(),
                crate::time::shown_in_table(&when.detected_at),
                projects.of(when.project_id),
                target_cell(when.target),
            ];
            cells.splice(0..0, recorded);
            if with_authors {
                cells.push(one_line(&when.authors()));
            }
        }
        table.add_row(cells);
    }
    let mut out = table_text(&table);
    if lines.is_empty() {
        out.push_str("(no changes)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChangeRecord;
    use serde_json::json;

    const PROJECT: &str = "0123456789abcdef0123456789abcdef";

    fn record(name: &str, old: Option<Value>, new: Option<Value>) -> RecordedChange {
        let record = ChangeRecord {
            run_id: 7,
            connection_id: "c-1".into(),
            connection_name: Some(name.into()),
            change: ChangeKind::Modified,
            category: Category::Config,
            field: Some("peer_subnets".into()),
            old,
            new,
            detected_at: DateTime::from_timestamp(1_670_767_199, 123_456_000).unwrap(),
            baseline: false,
            changed_after: None,
        };
        RecordedChange {
            record,
            project_id: PROJECT.into(),
            target: Some("prod-north".into()),
            changed_by: Vec::new(),
            changed_by_unknown: Some(NOT_ASKED.into()),
        }
    }

    fn csv_of(records: &[RecordedChange]) -> String {
        render_records(records, OutputFormat::Csv).unwrap()
    }

    fn table_of(records: &[RecordedChange]) -> String {
        render_records(records, OutputFormat::Table).unwrap()
    }

    #[test]
    fn csv_cells_are_plain_and_their_types_tell_what_they_were() {
        let text = csv_of(&[
            record("a,b", Some(json!("say \"hi\"")), Some(json!(["x", "y"]))),
            record("n", Some(json!("")), None),
            record("n", Some(json!(null)), Some(json!("1"))),
            record("n", Some(json!(1.50)), Some(json!(true))),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "run_id,connection_id,connection_name,change,category,field,old,new,old_type,\
             new_type,detected_at,project_id,target,changed_by,changed_by_time,\
             changed_by_operation,changed_by_source_ip,changed_by_unknown"
        );
        let at = format!("2022-12-11T13:59:59.123456Z,{PROJECT},prod-north,,,,,{NOT_ASKED}");
        let prefix = "7,c-1";
        assert_eq!(
            lines[1],
            format!(
                "{prefix},\"a,b\",modified,config,peer_subnets,\"say \"\"hi\"\"\",\
                 \"[\"\"x\"\",\"\"y\"\"]\",string,array,{at}"
            )
        );
        let tail = |line: &str| line.splitn(6, ',').last().unwrap().to_owned();
        assert_eq!(tail(lines[2]), format!("peer_subnets,,,string,absent,{at}"));
        assert_eq!(
            tail(lines[3]),
            format!("peer_subnets,null,1,null,string,{at}")
        );
        assert_eq!(
            tail(lines[4]),
            format!("peer_subnets,1.5,true,number,boolean,{at}")
        );
    }

    #[test]
    fn absent_null_empty_string_and_empty_list_look_different_in_a_table() {
        let text = table_of(&[
            record("tag", Some(json!("eu-west")), Some(json!(""))),
            record("dpd", Some(json!({"interval": 30})), None),
            record("list", Some(json!([])), Some(json!(null))),
            record("text", Some(json!("null")), Some(json!("[]"))),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].ends_with(r#""eu-west" -> """#), "{text}");
        assert!(
            lines[2].ends_with(r#"{"interval":30} -> (absent)"#),
            "{text}"
        );
        assert!(lines[3].ends_with("[] -> null"), "{text}");
        assert!(lines[4].ends_with(r#""null" -> "[]""#), "{text}");
        assert!(
            lines[1].starts_with("  7  2022-12-11T13:59:59Z  01234567  prod-north  c-1")
                || lines[1].starts_with("7  2022-12-11T13:59:59Z  01234567  prod-north  c-1"),
            "{text}"
        );
    }

    #[test]
    fn json_leaves_absent_values_out_and_writes_times_with_z() {
        let text =
            render_records(&[record("n", None, Some(json!(null)))], OutputFormat::Json).unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let obj = parsed[0].as_object().unwrap();
        assert!(!obj.contains_key("old"), "{text}");
        assert_eq!(obj.get("new"), Some(&Value::Null), "{text}");
        assert_eq!(parsed[0]["detected_at"], "2022-12-11T13:59:59.123456Z");
    }

    #[test]
    fn long_names_keep_the_columns_aligned() {
        let long = "a-connection-name-much-longer-than-twenty-characters";
        let text = table_of(&[
            record(long, Some(json!(1)), Some(json!(2))),
            record("short", Some(json!(1)), Some(json!(2))),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        let kind_at = |line: &str| line.find("config").unwrap();
        assert_eq!(kind_at(lines[1]), kind_at(lines[2]), "{text}");
        assert_eq!(lines[0].find("CATEGORY"), Some(kind_at(lines[1])), "{text}");
        assert!(lines[1].ends_with("1 -> 2"), "{text}");
        assert_eq!(table_of(&[]).lines().last(), Some("(no changes)"));
    }
}
