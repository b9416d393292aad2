//! `vpn-inventory migrate`: create or upgrade the schema.

use super::print_stdout;
use crate::cli::MigrateArgs;
use crate::store::{DatabaseUrl, Store};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let store = Store::connect(database).await?;
    let applied = store.migrate_to(args.target_version).await?;
    let version = store.schema_version().await?.unwrap_or(0);
    if applied.is_empty() {
        print_stdout(&format!(
            "{database}: schema version {version}, up to date\n"
        ))?;
    } else {
        let applied = applied.join(", ");
        print_stdout(&format!(
            "{database}: applied {applied}; schema version {version}\n"
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
