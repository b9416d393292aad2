//! `vpn-inventory completions SHELL` and `vpn-inventory man`: generated from the command-line
//! definition itself, so they never fall out of step with it.

use super::print_stdout;
use crate::cli::Cli;
use clap::CommandFactory as _;
use std::process::ExitCode;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "vpn-inventory", &mut script);
    print_stdout(&String::from_utf8(script)?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> anyhow::Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    print_stdout(&String::from_utf8(page)?)?;
    Ok(ExitCode::SUCCESS)
}
