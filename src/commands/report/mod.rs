//! `vpn-inventory report`: list the reports, run one (built in or from a file), print its rows
//! as a table, JSON, CSV or Markdown (`output`, and `table` for the text table), each written
//! as the rows arrive.

mod cells;
mod output;
mod table;

use super::print_stdout;
use super::project_target::Only;
use crate::cli::{OutputFormat, ReportArgs};
use crate::config::Config;
use crate::reports::{LeftOut, Report};
use crate::store::{Cell, DatabaseUrl, QueryTable, RowSink, Store};
use crate::time::now_utc;
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;

pub use output::render;

/// The parameter `--project` and `--target` set (see `crate::reports`).
const PROJECT: &str = "project";

pub async fn run(
    database: &DatabaseUrl,
    config: &Config,
    args: ReportArgs,
) -> anyhow::Result<ExitCode> {
    if args.list {
        print_stdout(&list(&Report::builtin_all(), args.format)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = match (&args.name, &args.file) {
        (_, Some(path)) => Report::from_file(path)?,
        (Some(name), None) => Report::builtin(name)?,
        (None, None) => return crate::usage::mistake("name a report, or give --list or --file"),
    };
    if args.show_sql {
        print_stdout(&report.text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let narrowed = args.only.project.is_some() || args.only.target.is_some();
    if narrowed && !report.takes(PROJECT) {
        return crate::usage::mistake(format!(
            "report {} takes no project: --project and --target set its parameter {PROJECT} \
             (`-- param: {PROJECT} text = *` in its header, `(:{PROJECT} = '*' OR \
             project_id = :{PROJECT})` in its SQL)",
            report.name
        ));
    }
    let store = Store::open_for_reading(database).await?;
    let mut params = args.params.clone();
    if let Some(project) = Only::project_of(&store, &args.only, config).await? {
        params.push((PROJECT.to_owned(), project));
    }
    let printed = print(&store, &report, &params, args.format).await;
    store.close().await;
    if let Some(left_out) = printed?.left_out {
        eprintln!("vpn-inventory: {}", left_out.note());
    }
    Ok(ExitCode::SUCCESS)
}

/// What [`print`] printed.
pub struct Printed {
    /// Rows handed to the output (all of them, unless a closed pipe stopped it early).
    pub rows: u64,
    /// The baseline a report of change records left out.
    pub left_out: Option<LeftOut>,
}

/// Runs `report` with `params` (`name=value`), writing its rows to stdout in `format` as they
/// arrive. A closed pipe (`| head`) is no error: the rows it wanted were written.
pub async fn print(
    store: &Store,
    report: &Report,
    params: &[(String, String)],
    format: OutputFormat,
) -> anyhow::Result<Printed> {
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    let mut counted = Counted {
        output: output::output(format, &report.header.columns, &mut stdout),
        rows: 0,
    };
    let written = match report.run(store, params, now_utc(), &mut counted).await {
        Ok(left_out) => counted.output.finish().map(|()| left_out),
        Err(e) => Err(e),
    };
    let rows = counted.rows;
    drop(counted);
    let written = written.and_then(|left_out| Ok(stdout.flush().map(|()| left_out)?));
    match written {
        Err(e) if is_broken_pipe(&e) => Ok(Printed {
            rows,
            left_out: None,
        }),
        Err(e) => Err(e),
        Ok(left_out) => Ok(Printed { rows, left_out }),
    }
}

/// An output that counts the rows it is handed.
struct Counted<'a> {
    output: Box<dyn cells::Output + 'a>,
    rows: u64,
}

impl RowSink for Counted<'_> {
    fn columns(&mut self, columns: &[String]) -> anyhow::Result<()> {
        self.output.columns(columns)
    }

    fn row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        self.rows += 1;
        self.output.row(row)
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(broken)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if broken(io)))
    })
}

/// The reports as a table of name, title and parameters; as JSON with their descriptions and
/// each parameter's kind, default and description.
fn list(reports: &[Report], format: OutputFormat) -> anyhow::Result<String> {
    if format == OutputFormat::Json {
        let reports: Vec<Value> = reports
            .iter()
            .map(|r| {
                let params: Vec<Value> = r
                    .header
                    .params
                    .iter()
                    .map(|p| {
                        json!({"name": p.name, "type": p.kind.as_str(), "default": p.default,
                               "description": p.description})
                    })
                    .collect();
                json!({"name": r.name, "title": r.header.title,
                       "description": r.header.description, "parameters": params})
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&reports)? + "\n");
    }
    let text = |s: &str| Cell::Text(Some(s.to_owned()));
    let table = QueryTable {
        columns: vec!["name".into(), "title".into(), "parameters".into()],
        rows: reports
            .iter()
            .map(|r| {
                vec![
                    text(&r.name),
                    text(&r.header.title),
                    text(&r.params_summary()),
                ]
            })
            .collect(),
    };
    render(&table, format)
}
