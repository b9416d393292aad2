//! The `vpn-inventory` binary: parse the command line, set up logging, run, map to an exit code.

use clap::Parser as _;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use vpn_inventory::cli::{Cli, LogFormat};
use vpn_inventory::commands;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap exits 2 on a usage error, the code `--detailed-exitcode` gives to "changes
        // found": a typo in a crontab must not look like drift. 64 is EX_USAGE.
        Err(error) => {
            let code = if error.use_stderr() { USAGE_ERROR } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    init_tracing(&cli);
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
                tracing::error!(error = error.message(), "vpn-inventory failed");
            } else {
                // Server text travels in errors: shown, never obeyed by the terminal.
                eprintln!("vpn-inventory: error: {}", error.message());
            }
            error.exit_code()
        }
    }
}

/// The exit code of a command line that does not parse (sysexits' EX_USAGE).
const USAGE_ERROR: u8 = 64;

fn init_tracing(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    // -v and -vv add this program's detail; the HTTP, TLS and database libraries' own debug
    // output only comes with -vvv (sqlx logs every slow statement at info, PostgreSQL
    // NOTICEs at warn).
    let default = match (cli.quiet, cli.verbose) {
        (q, _) if q >= 2 => "off".to_owned(),
        (1, _) => "error".to_owned(),
        (_, 0) => "warn,sqlx=error,refinery_core=warn".to_owned(),
        (_, v @ (1 | 2)) => {
            let ours = if v == 1 { "info" } else { "debug" };
            format!("warn,sqlx=error,refinery_core=warn,vpn_inventory={ours},vpn_simulator={ours}")
        }
        _ => "trace".to_owned(),
    };
    let filter =
        EnvFilter::try_from_env("VPN_INVENTORY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal: cron mail and log files get plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
