//! `vpn-inventory prune`: drop failed runs' leftovers and, optionally, old history.

use super::print_stdout;
use crate::cli::{PruneArgs, ReportFormat};
use crate::store::{DatabaseUrl, Store};
use crate::time::now_utc;
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(database).await?;
    let cutoff = match args.older_than {
        None => None,
        Some(period) => {
            // At most 36500 days (`cli::Wait::CENTURY`): chrono holds it.
            let period = chrono::Duration::from_std(period.0)?;
            Some(now_utc() - period)
        }
    };
    let pruned = store.prune(cutoff).await?;
    let text = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&pruned)? + "\n",
        ReportFormat::Text => format!(
            "pruned: {} abandoned runs marked failed, {} staged rows, {} change records, \
             {} connection versions, {} failed runs, {} CTS traces\n",
            pruned.runs_abandoned,
            pruned.staged_rows,
            pruned.change_records,
            pruned.versions,
            pruned.failed_runs,
            pruned.traces
        ),
    };
    print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
