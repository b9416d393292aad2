//! `vpn-inventory review`: a change-review digest of a period, one self-contained document
//! (Markdown, or HTML that loads nothing) for a ticket or a mail. `digest` reads what it
//! says from the store (`compliance` judges the policy violations gained and lost);
//! `markdown` and `html` write it, every text from the inventory escaped for its format.

mod compliance;
mod digest;
mod document;
mod html;
mod markdown;

use super::check::{BUILTIN_POLICY, chosen_policy};
use super::print_stdout;
use super::project_target::Only;
use crate::cli::{ReviewArgs, ReviewFormat};
use crate::config::Config;
use crate::store::{DatabaseUrl, Store};
use anyhow::Context as _;
use std::process::ExitCode;

pub async fn run(
    database: &DatabaseUrl,
    config: &Config,
    args: ReviewArgs,
) -> anyhow::Result<ExitCode> {
    if let Some(until) = args.until
        && args.since >= until
    {
        return crate::usage::mistake(format!(
            "--since {} is not before --until {}: the period is empty",
            crate::time::shown(&args.since),
            crate::time::shown(&until)
        ));
    }
    let (policy, file) = chosen_policy(args.policy.as_deref(), config)?;
    let source = match file {
        Some(path) => format!("the policy file {}", path.display()),
        None => BUILTIN_POLICY.to_owned(),
    };
    let params = policy.report_params();
    let scratch = tempfile::Builder::new()
        .prefix("vpn-inventory-review-")
        .tempdir()
        .context("cannot create a temporary directory for the policy evaluation")?;
    let store = Store::open_for_reading(database).await?;
    let read = async {
        let only = Only::resolve(&store, &args.only).await?;
        let period = (args.since, args.until);
        digest::read(&store, period, only, (&params, source), scratch.path()).await
    }
    .await;
    store.close().await;
    let digest = read?;
    let text = match args.format {
        ReviewFormat::Markdown => markdown::render(&digest),
        ReviewFormat::Html => html::render(&digest),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write --output {}", path.display()))?,
        None => print_stdout(&text)?,
    }
    if digest.baseline_left_out > 0 {
        eprintln!(
            "vpn-inventory: {} baseline add(s) left out (a scope's first run adds what was \
             already there)",
            digest.baseline_left_out
        );
    }
    Ok(ExitCode::SUCCESS)
}
