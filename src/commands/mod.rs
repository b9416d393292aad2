//! One module per subcommand. Each prints data to stdout and returns the exit code; errors
//! bubble up to `main`, which prints them to stderr.

pub mod config;
#[cfg(feature = "simulator")]
pub mod demo;
pub mod diff;
pub mod docs;
pub mod drift;
pub mod export;
pub mod forget;
pub mod metrics;
pub mod migrate;
pub mod prune;
pub mod report;
pub mod run_report;
pub mod run_setup;
pub mod runs;
#[cfg(feature = "simulator")]
pub mod simulate;
pub mod status;
pub mod sync;
pub mod targets;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::config::Config;
use crate::shutdown::Interrupted;
use crate::store::DatabaseUrl;
use crate::sync::{RunError, RunFailed};
use anyhow::Context as _;
use std::process::ExitCode;

/// How a command ended when it did not succeed; `main` prints it and exits with `exit_code`.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// SIGINT/SIGTERM stopped a run at a safe point.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
    /// The failure of a sync of one target, which `main`'s JSON log line names.
    #[error("{error}")]
    OfTarget {
        target: String,
        error: Box<CommandError>,
    },
}

impl CommandError {
    /// The error and its causes on one line, each once, safe for a terminal.
    pub fn message(&self) -> String {
        match self {
            CommandError::Interrupted(interrupted) => one_line(&interrupted.to_string()),
            CommandError::Failed(error) => one_line(&crate::text::causes(error.as_ref())),
            CommandError::OfTarget { error, .. } => error.message(),
        }
    }

    /// The target whose sync failed, when the error names one.
    pub fn target(&self) -> Option<&str> {
        match self {
            CommandError::OfTarget { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The error without the target it names.
    pub fn inner(&self) -> &CommandError {
        match self {
            CommandError::OfTarget { error, .. } => error.inner(),
            other => other,
        }
    }

    /// The run that failed, when the error names one.
    pub fn run_id(&self) -> Option<i64> {
        match self {
            CommandError::Interrupted(_) => None,
            CommandError::Failed(error) => error.downcast_ref::<RunFailed>().map(|f| f.run_id),
            CommandError::OfTarget { error, .. } => error.run_id(),
        }
    }

    /// 130 for an interruption, as a shell reports SIGINT; 1 for any other failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CommandError::Interrupted(_) => ExitCode::from(130),
            CommandError::Failed(_) => ExitCode::FAILURE,
            CommandError::OfTarget { error, .. } => error.exit_code(),
        }
    }
}

impl From<RunError> for CommandError {
    fn from(error: RunError) -> Self {
        match error {
            RunError::Interrupted(interrupted) => interrupted.into(),
            RunError::Failed(error) => error.into(),
        }
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode, CommandError> {
    let (config, config_path) = Config::load(cli.config.as_deref())?;
    if let Command::Config(ConfigCommand::Check { format }) = cli.command {
        return Ok(config::check(
            &config,
            config_path.as_deref(),
            cli.database,
            format,
        )?);
    }
    let database = &database_url(cli.database, &config)?;
    match cli.command {
        Command::Sync(args) => sync::run(database, &config, *args).await,
        #[cfg(feature = "simulator")]
        Command::Demo(args) => demo::run(database, args).await,
        Command::Export(args) => Ok(export::run(database, args).await?),
        Command::Runs(args) => Ok(runs::run(database, args).await?),
        Command::Status(args) => Ok(status::run(database, args).await?),
        Command::Config(_) => unreachable!("handled above"),
        Command::Prune(args) => Ok(prune::run(database, args).await?),
        Command::ForgetScope(args) => Ok(forget::run(database, args).await?),
        Command::Drift(args) => Ok(drift::run(database, args).await?),
        Command::History(args) => Ok(drift::history(database, args).await?),
        Command::Diff(args) => Ok(diff::run(database, args).await?),
        Command::Report(args) => Ok(report::run(database, args).await?),
        Command::Migrate(args) => Ok(migrate::run(database, args).await?),
        Command::Completions { shell } => Ok(docs::completions(shell)?),
        Command::Man => Ok(docs::man()?),
        #[cfg(feature = "simulator")]
        Command::Simulate(args) => Ok(simulate::run(args).await?),
    }
}

/// A size as the summaries print it: decimal megabytes, one decimal.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A table for stdout, which is often piped: no borders, no colours, no wrapping to a
/// terminal's width; columns two spaces apart, the given ones right-aligned (numbers).
pub fn plain_table(header: &[&str], right_aligned: &[usize]) -> comfy_table::Table {
    use comfy_table::{CellAlignment, Table, presets};
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(header.to_vec());
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if right_aligned.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// The table's text, one line per row, without trailing spaces.
pub fn table_text(table: &comfy_table::Table) -> String {
    table.trim_fmt() + "\n"
}

pub use crate::text::one_line;

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The database to use: `--database` (or `VPN_INVENTORY_DATABASE`), else the configuration's,
/// else the default in the user's data directory, whose directory is created (owner only).
pub fn database_url(flag: Option<String>, config: &Config) -> anyhow::Result<DatabaseUrl> {
    if let Some(url) = flag.or_else(|| config.database.clone()) {
        return DatabaseUrl::parse(&url);
    }
    let url = crate::config::default_database();
    if let Some(dir) = url
        .strip_prefix("sqlite://")
        .and_then(|file| std::path::Path::new(file).parent())
        .filter(|dir| !dir.as_os_str().is_empty())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    DatabaseUrl::parse(&url)
}
