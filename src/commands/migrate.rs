//! `vpn-inventory migrate`: create or upgrade the schema.

use super::print_stdout;
use crate::cli::MigrateArgs;
use crate::store::{DatabaseUrl, Store};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let store = Store::connect(database).await?;
    let applied = store.migrate_to(args.target_version).await?;
    if applied.is_empty() {
        print_stdout(&format!("{database}: schema is up to date\n"))?;
    } else {
        print_stdout(&format!("{database}: applied {}\n", applied.join(", ")))?;
    }
    Ok(ExitCode::SUCCESS)
}
