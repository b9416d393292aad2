//! `vpn-inventory export`: the stored connections as JSON, now or as they stood at a point in
//! history (`--as-of`): one array in the API's shape (`--format json`), or one entry per
//! project and region, each with its connections (`--format projects`).

use super::project_target::Only;
use crate::api::model::FieldValue;
use crate::cli::{ExportArgs, ExportFormat};
use crate::config::Config;
use crate::store::{
    Applied, DatabaseUrl, ExportCursor, ProjectFilter, ProjectGroup, Store, StoreError,
    VersionCursor,
};
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;

/// The `format` and `version` members of `--format projects`, which a reader checks.
const PROJECTS_FORMAT: &str = "projects";
const PROJECTS_VERSION: i64 = 1;

pub async fn run(
    database: &DatabaseUrl,
    config: &Config,
    args: ExportArgs,
) -> anyhow::Result<ExitCode> {
    let store = Store::open_for_reading(database).await?;
    let filter = ProjectFilter {
        project_id: Only::project_of(&store, &args.project, config).await?,
        region: args.region.map(Some),
    };
    let mut source = match args.as_of {
        None => Source::Current(store.export_cursor(filter.clone()).await?),
        Some(point) => {
            let seq = store.resolve_as_of(point).await?;
            Source::AsOf(store.versions_at(seq, filter.clone()).await?)
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Streamed a chunk at a time: memory stays flat however large the inventory.
    let result = match args.format {
        ExportFormat::Json => write_array(&mut out, &mut source).await,
        ExportFormat::Projects => write_projects(&mut out, &mut source).await,
    };
    drop(source);
    store.close().await;
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `[` the connections, one a line `]`.
async fn write_array(out: &mut impl Write, source: &mut Source) -> std::io::Result<()> {
    write_connections(out, source).await?;
    out.write_all(b"\n")
}

/// The wrapper of `--format projects`: the point read, then each project and region group
/// with its connections.
async fn write_projects(out: &mut impl Write, source: &mut Source) -> std::io::Result<()> {
    let as_of = source.applied().await.map_err(std::io::Error::other)?;
    let head = json!({
        "format": PROJECTS_FORMAT,
        "version": PROJECTS_VERSION,
        "as_of": as_of.as_ref().map(applied_json),
    });
    let head = crate::json::to_string(&head);
    // The head object, left open for its last member.
    out.write_all(&head.as_bytes()[..head.len() - 1])?;
    out.write_all(b",\"projects\":[")?;
    let groups = source.groups().await.map_err(std::io::Error::other)?;
    for (index, group) in groups.iter().enumerate() {
        let separator = if index == 0 { "\n" } else { ",\n" };
        let label = json!({"project_id": group.project_id, "region": group.region});
        let label = crate::json::to_string(&label);
        out.write_all(separator.as_bytes())?;
        out.write_all(&label.as_bytes()[..label.len() - 1])?;
        out.write_all(b",\"connections\":")?;
        source.restart(ProjectFilter::group(group));
        write_connections(out, source).await?;
        out.write_all(b"}")?;
    }
    out.write_all(if groups.is_empty() {
        b"]}\n"
    } else {
        b"\n]}\n"
    })
}

/// The apply an export read the inventory after, as `--format projects` names it.
fn applied_json(applied: &Applied) -> Value {
    json!({
        "apply_seq": applied.seq,
        "run_id": applied.run_id,
        "sync_id": applied.sync_id,
        "applied_at": applied.finished_at.as_ref().map(crate::time::shown),
    })
}

/// A JSON array of what `source` reads next, one connection a line.
async fn write_connections(out: &mut impl Write, source: &mut Source) -> std::io::Result<()> {
    out.write_all(b"[")?;
    let mut first = true;
    loop {
        let chunk = source.next_chunk().await.map_err(std::io::Error::other)?;
        if chunk.is_empty() {
            break;
        }
        for conn in chunk {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            out.write_all(crate::json::to_string(&conn).as_bytes())?;
        }
    }
    out.write_all(if first { b"]" } else { b"\n]" })
}

/// Where exported connections come from: the normalized tables, or history.
enum Source {
    Current(ExportCursor),
    AsOf(VersionCursor),
}

impl Source {
    async fn next_chunk(&mut self) -> Result<Vec<Value>, StoreError> {
        match self {
            Source::Current(cursor) => Ok(cursor
                .next_chunk()
                .await?
                .iter()
                .map(FieldValue::to_json)
                .collect()),
            Source::AsOf(cursor) => cursor.next_chunk().await,
        }
    }

    async fn groups(&mut self) -> Result<Vec<ProjectGroup>, StoreError> {
        match self {
            Source::Current(cursor) => cursor.groups().await,
            Source::AsOf(cursor) => cursor.groups().await,
        }
    }

    fn restart(&mut self, filter: ProjectFilter) {
        match self {
            Source::Current(cursor) => cursor.restart(filter),
            Source::AsOf(cursor) => cursor.restart(filter),
        }
    }

    async fn applied(&mut self) -> Result<Option<Applied>, StoreError> {
        match self {
            Source::Current(cursor) => cursor.applied().await,
            Source::AsOf(cursor) => cursor.applied().await,
        }
    }
}
