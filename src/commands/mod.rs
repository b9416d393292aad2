//! One module per subcommand, and `run`, which dispatches the parsed command line to it. Each
//! prints data to stdout and returns the exit code; errors bubble up to `main`, which prints
//! them to stderr. What several commands share is in files of its own (`output`, `error`,
//! `database`, `run_setup`, `run_report`, `project_target`), which this module only
//! re-exports, so no command imports the dispatcher that imports it.

pub mod check;
pub mod config;
mod database;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod diff;
pub mod docs;
pub mod drift;
mod error;
pub mod export;
pub mod forget;
pub mod metrics;
pub mod migrate;
mod output;
mod project_target;
pub mod prune;
pub mod report;
pub mod review;
pub mod run_report;
pub mod run_setup;
pub mod runs;
#[cfg(feature = "simulator")]
pub mod simulate;
pub mod status;
pub mod sync;
pub mod targets;

pub use crate::text::one_line;
pub use database::database_url;
pub use error::{CommandError, USAGE_ERROR};
pub use output::{
    SCREEN_COLUMNS, clipped, counted, megabytes, plain_table, print_stdout, screen_table,
    table_text,
};

use crate::cli::{Cli, Command, ConfigCommand};
use crate::config::Config;
use std::process::ExitCode;

/// Runs the command `cli` names against the database it selects.
pub async fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    if let Command::Complete { names } = cli.command {
        return Ok(docs::completed_names(names, cli.config.as_deref())?);
    }
    let (config, config_path) = Config::load(cli.config.as_deref())?;
    if let Command::Config(ConfigCommand::Check { format, probe }) = cli.command {
        let path = config_path.as_deref();
        return Ok(config::check(&config, path, cli.database, format, probe).await?);
    }
    let database = &database_url(cli.database, &config)?;
    match cli.command {
        Command::Sync(args) => sync::run(database, &config, *args).await,
        #[cfg(feature = "simulator")]
        Command::Demo(args) => demo::run(database, args).await,
        Command::Export(args) => Ok(export::run(database, &config, args).await?),
        Command::Runs(args) => Ok(runs::run(database, args).await?),
        Command::Status(args) => Ok(status::run(database, args).await?),
        Command::Config(_) | Command::Complete { .. } => unreachable!("handled above"),
        Command::Prune(args) => Ok(prune::run(database, args).await?),
        Command::ForgetScope(args) => Ok(forget::run(database, args).await?),
        Command::Drift(args) => Ok(drift::run(database, args).await?),
        Command::History(args) => Ok(drift::history(database, args).await?),
        Command::Diff(args) => Ok(diff::run(database, &config, args).await?),
        Command::Report(args) => Ok(report::run(database, &config, args).await?),
        Command::Check(args) => Ok(check::run(database, &config, args).await?),
        Command::Review(args) => Ok(review::run(database, &config, args).await?),
        Command::Migrate(args) => Ok(migrate::run(database, args).await?),
        Command::Completions { shell } => Ok(docs::completions(shell)?),
        Command::Man { subcommand } => Ok(docs::man(subcommand.as_deref())?),
        #[cfg(feature = "simulator")]
        Command::Simulate(args) => Ok(simulate::run(args).await?),
    }
}
