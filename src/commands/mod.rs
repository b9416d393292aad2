//! One module per subcommand. Each prints data to stdout and returns the exit code; errors
//! bubble up to `main`, which prints them to stderr.

#[cfg(feature = "simulator")]
pub mod demo;
pub mod drift;
pub mod export;
pub mod migrate;
pub mod runs;
#[cfg(feature = "simulator")]
pub mod simulate;
pub mod sync;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

pub use crate::shutdown::Interrupted;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sync(args) => sync::run(&cli.database, args).await,
        Command::Export(args) => export::run(&cli.database, args).await,
        Command::Runs(args) => runs::run(&cli.database, args).await,
        Command::Drift(args) => drift::run(&cli.database, args).await,
        Command::History(args) => drift::history(&cli.database, args).await,
        Command::Migrate(args) => migrate::run(&cli.database, args).await,
        #[cfg(feature = "simulator")]
        Command::Simulate(args) => simulate::run(args).await,
        #[cfg(feature = "simulator")]
        Command::Demo(args) => demo::run(&cli.database, args).await,
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
