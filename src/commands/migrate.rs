//! `vpn-inventory migrate`: create or upgrade the schema.

use super::print_stdout;
use crate::store::{DatabaseUrl, Store};
use std::process::ExitCode;

pub async fn run(database: &DatabaseUrl) -> anyhow::Result<ExitCode> {
    let store = Store::connect(database).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        print_stdout(&format!("{database}: schema is up to date\n"))?;
    } else {
        print_stdout(&format!("{database}: applied {}\n", applied.join(", ")))?;
    }
    Ok(ExitCode::SUCCESS)
}
