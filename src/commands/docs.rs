//! `vpn-inventory completions SHELL` and `vpn-inventory man`: generated from the command-line
//! definition itself, so they never fall out of step with it.

use super::print_stdout;
use crate::cli::Cli;
use clap::CommandFactory as _;
use std::process::ExitCode;

/// The binary's name, which completions are registered for.
const BIN: &str = "vpn-inventory";

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    let mut script = String::from_utf8(script)?;
    if shell == clap_complete::Shell::Bash {
        script = mend_bash_states(&script);
    }
    print_stdout(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// clap_complete (4.6.12 and before) names the bash script's states two ways for a binary
/// whose name holds a hyphen: the loop that reads the words reaches
/// `vpn__inventory__subcmd__sync`, but the arms that complete each subcommand are labelled
/// `vpn__subcmd__inventory__subcmd__sync`, so no subcommand's flags ever complete
/// (clap-rs/clap#6421). Spell the arms as the loop does.
fn mend_bash_states(script: &str) -> String {
    let as_the_loop_spells_it = BIN.replace('-', "__");
    let as_the_arms_spell_it = BIN.replace('-', "__subcmd__");
    script.replace(
        &format!("{as_the_arms_spell_it}__subcmd__"),
        &format!("{as_the_loop_spells_it}__subcmd__"),
    )
}

pub fn man() -> anyhow::Result<ExitCode> {
    let mut page = Vec::new();
    // The page's footer holds its source: the release alone. The long version (commit, schema)
    // overran the footer's other fields, and the VERSION section still gives it whole.
    clap_mangen::Man::new(Cli::command())
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    print_stdout(&String::from_utf8(page)?)?;
    Ok(ExitCode::SUCCESS)
}
