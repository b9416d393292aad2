//! `vpn-inventory check`: every stored connection held to the policy (`crate::policy`), its
//! violations printed as the report `policy-violations` prints them; exit 4 when there are any.

use super::project_target::Only;
use super::report::print;
use crate::cli::CheckArgs;
use crate::config::Config;
use crate::policy::{Policy, REPORT};
use crate::reports::Report;
use crate::store::{AsOf, DatabaseUrl, Store};
use crate::time::now_utc;
use crate::usage::UsageError;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The exit code of a check that found violations (1 is an error, 2 drift, 3 unused).
pub const NOT_COMPLIANT: u8 = 4;

pub async fn run(
    database: &DatabaseUrl,
    config: &Config,
    args: CheckArgs,
) -> anyhow::Result<ExitCode> {
    let (policy, file) = chosen_policy(args.policy.as_deref(), config)?;
    match file {
        Some(path) => eprintln!("vpn-inventory: policy {}", path.display()),
        None => eprintln!(
            "vpn-inventory: no policy file, so {BUILTIN_POLICY} (write your own: `check \
             --policy FILE`, or `policy` in the configuration)"
        ),
    }
    let report = Report::builtin(REPORT)?;
    let new_since = match args.new_since.as_deref() {
        Some(text) => Some((
            text,
            AsOf::parse(text, now_utc())
                .map_err(|e| anyhow::Error::new(UsageError(format!("--new-since: {e}"))))?,
        )),
        None => None,
    };
    let store = Store::open_for_reading(database).await?;
    let printed = async {
        let mut params = policy.report_params();
        if let Some((text, point)) = new_since {
            let run = run_before(&store, point)
                .await
                .with_context(|| format!("--new-since {text}"))?;
            let run = run.map_or_else(|| "latest".to_owned(), |run| run.to_string());
            params.push(("new_since".to_owned(), run));
            params.push(("only_new".to_owned(), "true".to_owned()));
        }
        let project = Only::project_of(&store, &args.only, config).await?;
        params.extend(project.map(|p| ("project".to_owned(), p)));
        print(&store, &report, &params, args.format).await
    }
    .await;
    store.close().await;
    let violations = printed?.rows;
    let since = new_since.map_or_else(String::new, |(text, _)| format!(" new since {text}"));
    eprintln!("vpn-inventory: {violations} violation(s){since}");
    Ok(match violations {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(NOT_COMPLIANT),
    })
}

/// What the built-in policy disallows, as messages name it.
pub const BUILTIN_POLICY: &str =
    "the built-in policy: no 3DES or DES, no MD5 or SHA-1, no Diffie-Hellman group below 14";

/// The policy `--policy` names, else the configuration's, else the built-in one; with the
/// file it was read from (`None`: the built-in one).
pub fn chosen_policy(
    flag: Option<&Path>,
    config: &Config,
) -> anyhow::Result<(Policy, Option<PathBuf>)> {
    match flag.or(config.policy.as_deref()) {
        Some(path) => Ok((Policy::load(path)?, Some(path.to_owned()))),
        None => Ok((Policy::builtin(), None)),
    }
}

/// The run changes after `point` came after: the run `point` names, or the last applied by
/// then. A time before any run is before the first run, whose changes are all baselines, so
/// that run stands for it. `None`: no run has completed.
async fn run_before(store: &Store, point: AsOf) -> anyhow::Result<Option<i64>> {
    match point {
        AsOf::Time(_) if store.resolve_as_of(point).await? == 0 => store.first_complete_run().await,
        point => store.complete_run_at(Some(point)).await,
    }
}
