//! `vpn-inventory export`: the stored connections as one JSON array, in the API's shape.

use crate::api::model::FieldValue;
use crate::cli::{ExportArgs, ExportFormat};
use crate::store::{DatabaseUrl, ExportCursor, Store, StoreError, VersionCursor};
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let ExportFormat::Json = args.format;
    let store = Store::open_for_reading(database).await?;
    let mut source = match args.as_of {
        None => Source::Current(store.export_cursor().await?),
        Some(as_of) => Source::AsOf(store.versions_at(store.resolve_as_of(as_of).await?).await?),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Streamed a chunk at a time: memory stays flat however large the inventory.
    let result: std::io::Result<()> = async {
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
        out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
        out.flush()
    }
    .await;
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(ExitCode::SUCCESS)
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
}
