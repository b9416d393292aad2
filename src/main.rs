//! The `vpn-inventory` binary: parse the command line, set up logging, run, map to an exit code.

use clap::Parser as _;
use std::process::ExitCode;
use vpn_inventory::cli::{Cli, LogFormat};
use vpn_inventory::commands::{self, USAGE_ERROR};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap would exit 2, the code `--detailed-exitcode` gives to "changes found".
        Err(error) => {
            let code = if error.use_stderr() { USAGE_ERROR } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    vpn_inventory::logging::init(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vpn-inventory: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json_logs = cli.log_format == LogFormat::Json;
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            if json_logs {
                // Log collectors expect every stderr line to be one JSON object.
                tracing::error!(
                    error = error.message(),
                    run_id = error.run_id(),
                    target = error.target(),
                    "vpn-inventory failed"
                );
            } else {
                // Server text travels in errors: shown, never obeyed by the terminal.
                eprintln!("vpn-inventory: error: {}", error.message());
            }
            error.exit_code()
        }
    }
}
