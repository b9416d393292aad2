//! Reports: SQL queries that answer an operator's question ("which tunnels still use 3DES?",
//! "what changed since yesterday?"), one statement per file, opening with a header that says
//! what it answers and which parameters it takes (`header`). The built-in ones are the `.sql`
//! files of `queries/`, compiled into the binary; a user's own file runs the same way.
//!
//! Every built-in report runs unchanged on SQLite and PostgreSQL and gives the same rows: it
//! uses only SQL both speak, the schema's views (`schema/*.sql`) for the common shapes,
//! and parameters for everything that differs by moment. Times in particular are compared
//! with bound times (`detected_at >= :since`), computed here, so one text serves both: each
//! database's own date functions work too (`datetime('now', '-1 day')` on SQLite, whose times
//! are UTC text in the form it writes), but not the same on both.
//!
//! Parameters are written `:name` in the SQL (`scan`); their values are read by their declared
//! kind and bound as placeholders, never pasted into the SQL (`params`). A report runs where it
//! can change nothing, its rows handed on as they arrive ([`Store::query_rows`]).
//!
//! Two parameter names mean the same in every report that declares them, so that one flag
//! or one note serves them all:
//! - `project` (text, default `*`, every project): the project whose connections and records
//!   the report answers for. `report --project ID` and `--target NAME` set it; every built-in
//!   report declares it, and carries a `project_id` column.
//! - `include_baseline` (boolean, default false): a report of change records that declares it
//!   leaves out the adds of each scope's first complete run (`change_log.baseline`), as
//!   `drift` does, and the runner says on stderr how many it left out between the report's
//!   `since` and `until` (`baseline`).

mod baseline;
mod header;
mod params;
mod scan;

pub use baseline::LeftOut;
pub use header::{Header, Holds, Kind, Param};

use crate::store::{Cell, RowSink, Store};
use crate::usage::UsageError;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use params::{Bound, Value};
use std::path::Path;

mod builtin {
    // `QUERIES`: (name, text) of every .sql file in queries/, by name (build.rs).
    include!(concat!(env!("OUT_DIR"), "/queries.rs"));
}

/// A report: its header and SQL.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub header: Header,
    /// The whole file, header included.
    pub text: String,
}

impl Report {
    /// Every built-in report, by name.
    pub fn builtin_all() -> Vec<Report> {
        builtin::QUERIES
            .iter()
            .map(|(name, text)| {
                Report::parse(name, text).unwrap_or_else(|e| panic!("queries/{name}.sql: {e}"))
            })
            .collect()
    }

    /// The built-in report `name`.
    pub fn builtin(name: &str) -> anyhow::Result<Report> {
        let found = builtin::QUERIES.iter().find(|(n, _)| *n == name);
        match found {
            Some((name, text)) => {
                Ok(Report::parse(name, text).unwrap_or_else(|e| panic!("queries/{name}.sql: {e}")))
            }
            None => crate::usage::mistake(format!(
                "there is no report {name:?}: `vpn-inventory report --list` shows them, and \
                 `--file` runs your own"
            )),
        }
    }

    /// A user's report from `path`; its name is the header's, else the file's.
    pub fn from_file(path: &Path) -> anyhow::Result<Report> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read report {}", path.display()))?;
        let stem = path
            .file_stem()
            .map_or("report".into(), |s| s.to_string_lossy());
        Report::parse(&stem, &text).map_err(|e| anyhow::anyhow!("report {}: {e}", path.display()))
    }

    /// A report named `name` unless its header says otherwise; checks that its SQL is one
    /// statement using exactly the parameters it declares.
    pub fn parse(name: &str, text: &str) -> Result<Report, String> {
        let header = header::parse(text)?;
        let name = header.name.clone().unwrap_or_else(|| name.to_owned());
        let pieces = scan::pieces(text)?;
        let used = scan::used(&pieces);
        if let Some(unknown) = used
            .iter()
            .find(|u| !header.params.iter().any(|p| p.name == **u))
        {
            return Err(format!(
                "it uses :{unknown}, which its header does not declare \
                 (`-- param: {unknown} text`, say)"
            ));
        }
        if let Some(unused) = header.params.iter().find(|p| !used.contains(&&*p.name)) {
            return Err(format!(
                "its header declares parameter {}, which the SQL never uses as :{}",
                unused.name, unused.name
            ));
        }
        Ok(Report {
            name,
            header,
            text: text.to_owned(),
        })
    }

    /// Whether the report declares parameter `name`.
    pub fn takes(&self, name: &str) -> bool {
        self.header.params.iter().any(|p| p.name == name)
    }

    /// What the header says column `column` holds, if it says.
    pub fn holds(&self, column: &str) -> Option<Holds> {
        let declared = self.header.columns.iter().find(|(name, _)| name == column);
        declared.map(|(_, holds)| *holds)
    }

    /// Runs the report on `store` with `given` parameters (`name=value` pairs, the rest
    /// defaulted), handing its rows to `sink`; times ago count from `now`. Returns the
    /// baseline it left out, if any. Errors name the report.
    pub async fn run(
        &self,
        store: &Store,
        given: &[(String, String)],
        now: DateTime<Utc>,
        sink: &mut dyn RowSink,
    ) -> anyhow::Result<Option<LeftOut>> {
        let context = || format!("report {}", self.name);
        let values = params::values(&self.header.params, given, now)
            .map_err(UsageError)
            .with_context(context)?;
        let left_out = baseline::left_out(store, &values, now)
            .await
            .with_context(context)?;
        let mut bound = Vec::with_capacity(values.len());
        for (name, value) in values {
            let cells = match value {
                Value::Text(text) => Bound::One(Cell::from(text)),
                Value::Integer(n) => Bound::One(Cell::from(n)),
                Value::Boolean(b) => Bound::One(Cell::from(b)),
                Value::Time(t) => Bound::One(Cell::from(t)),
                Value::List(items) => Bound::Rows(items.into_iter().map(Cell::from).collect()),
                Value::Run(at) => {
                    let run = store
                        .complete_run_at(at)
                        .await
                        .with_context(|| format!("parameter {name}"))
                        .with_context(context)?;
                    Bound::One(Cell::from(run))
                }
            };
            bound.push((name, cells));
        }
        let pieces = scan::pieces(&self.text).expect("checked when parsed");
        let (sql, binds) = params::bind(&pieces, &bound);
        store
            .query_rows(&sql, binds, sink)
            .await
            .with_context(context)?;
        Ok(left_out)
    }

    /// The parameters as `name=default` (`name=<kind>` when it has none), for listings.
    pub fn params_summary(&self) -> String {
        let params: Vec<String> = self
            .header
            .params
            .iter()
            .map(|p| match &p.default {
                Some(default) => format!("{}={default}", p.name),
                None => format!("{}=<{}>", p.name, p.kind),
            })
            .collect();
        params.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_report_is_whole() {
        let reports = Report::builtin_all();
        assert!(reports.len() >= 12, "{}", reports.len());
        let now = crate::time::now_utc();
        for report in reports {
            let name = &report.name;
            let file = builtin::QUERIES.iter().find(|(n, _)| n == name);
            assert!(file.is_some(), "queries/{name}.sql names itself {name}");
            assert!(!report.header.title.is_empty(), "{name}: a title");
            assert!(
                !report.header.description.is_empty(),
                "{name}: what it answers"
            );
            let project = report.header.params.iter().find(|p| p.name == "project");
            assert!(
                project.is_some_and(|p| p.kind == Kind::Text && p.default.as_deref() == Some("*")),
                "{name}: takes `project text = *`, which --project and --target set"
            );
            for param in &report.header.params {
                assert!(!param.description.is_empty(), "{name}: {}", param.name);
                if let Some(default) = &param.default {
                    let read = params::read(param.kind, default, now);
                    assert!(read.is_ok(), "{name}: {}: {read:?}", param.name);
                }
            }
            for (i, line) in report.text.lines().enumerate() {
                assert!(line.chars().count() <= 100, "{name}:{}: too long", i + 1);
            }
        }
    }

    #[test]
    fn a_report_uses_what_it_declares() {
        let ok = Report::parse("mine", "-- param: since time = 1d  Since.\nSELECT :since").unwrap();
        assert_eq!(ok.name, "mine");
        assert_eq!(ok.params_summary(), "since=1d");
        let named = Report::parse("file", "-- name: other\nSELECT 1").unwrap();
        assert_eq!(named.name, "other");
        let undeclared = Report::parse("r", "SELECT :since").unwrap_err();
        assert!(undeclared.contains("uses :since, which its header does not declare"));
        let unused = Report::parse("r", "-- param: since time\nSELECT 1").unwrap_err();
        assert!(unused.contains("declares parameter since, which the SQL never uses"));
        let two = Report::parse("r", "SELECT 1; SELECT 2").unwrap_err();
        assert!(two.contains("more than one statement"));
    }

    #[test]
    fn unknown_reports_say_where_to_look() {
        let error = Report::builtin("weak-cyrpto").unwrap_err().to_string();
        assert!(error.contains("report --list"), "{error}");
    }
}
