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

/// The manual: the whole tool's page, or one subcommand's (`man sync`). Both end with what
/// clap does not know: exit status, environment and files.
pub fn man(subcommand: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut cli = Cli::command();
    cli.build();
    let (page, title) = match subcommand {
        None => (cli, BIN.to_owned()),
        Some(name) => {
            let found = cli
                .find_subcommand(name)
                .filter(|c| !c.is_hide_set())
                .cloned();
            let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
            let Some(found) = found else {
                anyhow::bail!("there is no subcommand {name:?}: {}", names.join(", "));
            };
            let title = format!("{BIN}-{}", found.get_name());
            (found.bin_name(format!("{BIN} {name}")), title)
        }
    };
    let mut text = Vec::new();
    // The page's footer holds its source: the release alone. The long version (commit, schema)
    // overran the footer's other fields, and the VERSION section still gives it whole.
    clap_mangen::Man::new(page)
        .title(title)
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .render(&mut text)?;
    text.extend_from_slice(MAN_SECTIONS.as_bytes());
    print_stdout(&String::from_utf8(text)?)?;
    Ok(ExitCode::SUCCESS)
}

/// The sections every page ends with, in roff.
const MAN_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
0
Success (with --detailed-exitcode: and nothing changed).
.TP
1
An error; a failed run changes nothing stored.
.TP
2
Changes found (sync --detailed-exitcode only).
.TP
3
The run stored what it saw but inferred no removals (sync --detailed-exitcode only).
.TP
64
The command line does not parse.
.TP
130
Interrupted by SIGINT or SIGTERM; the run is marked failed and sync --resume continues it.
.SH ENVIRONMENT
.TP
HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_SECURITY_TOKEN
AK/SK credentials (and a temporary credential's token).
.TP
HUAWEICLOUD_AUTH_TOKEN
An IAM token, used when no AK/SK is set.
.TP
HUAWEICLOUD_SDK_PROJECT_ID, HUAWEICLOUD_SDK_REGION
The project and region to sync (--project-id, --region).
.TP
VPN_INVENTORY_ENDPOINT
The API endpoint (--endpoint).
.TP
VPN_INVENTORY_DATABASE
The inventory database (--database).
.TP
VPN_INVENTORY_CONFIG
The configuration file (--config).
.TP
VPN_INVENTORY_LOG
A log filter; NO_COLOR turns colours off.
.SH FILES
.TP
~/.config/vpn-inventory/config.toml
The configuration file read when it exists: the database and the targets.
.TP
~/.local/share/vpn-inventory/inventory.db
The default inventory database (the user's data directory).
.SH "SEE ALSO"
vpn-inventory man SUBCOMMAND prints each subcommand's page; README.md is the guide.
"#;
