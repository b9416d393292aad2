//! `vpn-inventory completions SHELL` and `vpn-inventory man`: generated from the command-line
//! definition itself, so they never fall out of step with it. Names that change after a script
//! is installed (the configuration's targets, the reports) the scripts ask the binary for
//! (`vpn-inventory __complete targets|reports`) each time they complete one.

use super::print_stdout;
use crate::cli::{Cli, CompletedNames};
use crate::config::Config;
use crate::reports::Report;
use clap::CommandFactory as _;
use clap_complete::Shell;
use std::process::ExitCode;

/// The binary's name, which completions are registered for.
const BIN: &str = "vpn-inventory";

pub fn completions(shell: Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut visible_command(), BIN, &mut script);
    let script = String::from_utf8(script)?;
    let script = match shell {
        Shell::Bash => with_bash_names(&mend_bash_states(&script)),
        Shell::Zsh => with_zsh_names(&script),
        Shell::Fish => script + &fish_names(),
        _ => script,
    };
    print_stdout(&script)?;
    Ok(ExitCode::SUCCESS)
}

/// The command line without its hidden subcommands (`__complete`), which clap_complete's bash
/// script would offer as it offers any other.
fn visible_command() -> clap::Command {
    let cli = Cli::command();
    let visible: Vec<clap::Command> = cli
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new(BIN)
        .version(crate::cli::VERSION)
        .args(cli.get_arguments().cloned())
        .subcommands(visible)
}

/// `__complete`: the names asked for, one a line. A configuration that does not load
/// completes no target: the completion is no place to report it.
pub fn completed_names(
    names: CompletedNames,
    config: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = match names {
        CompletedNames::Targets => Config::load(config)
            .map(|(config, _)| config.targets.into_iter().map(|t| t.name).collect())
            .unwrap_or_default(),
        CompletedNames::Reports => Report::builtin_all().into_iter().map(|r| r.name).collect(),
    };
    let lines: String = names
        .iter()
        .filter(|name| !name.contains(char::is_whitespace) && !name.is_empty())
        .map(|name| format!("{name}\n"))
        .collect();
    print_stdout(&lines)?;
    Ok(ExitCode::SUCCESS)
}

/// The bash script completes `sync TARGET` and `report NAME` through a function around the
/// generated one: it adds the names the binary gives, unless the word is a flag or the value
/// of one.
fn with_bash_names(script: &str) -> String {
    let generated = format!("_{}", BIN.replace('-', "__"));
    let wrapper = format!("{generated}__names");
    let script = script.replace(
        &format!("complete -F {generated} "),
        &format!("complete -F {wrapper} "),
    );
    let value_flags = value_flags(&["sync", "report"]).join("|");
    let function = BASH_NAMES
        .replace("WRAPPER", &wrapper)
        .replace("GENERATED", &generated)
        .replace("VALUE_FLAGS", &value_flags);
    format!("{script}\n{function}")
}

const BASH_NAMES: &str = r#"# Target and report names, asked of vpn-inventory itself: they change
# after this script is installed.
WRAPPER() {
    local i sub= cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local -a config=() names=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --config) config=(--config "${COMP_WORDS[i+1]}") ;;
            sync|report) [[ -z $sub ]] && sub="${COMP_WORDS[i]}" ;;
        esac
    done
    GENERATED "$@"
    [[ -n $sub && $cur != -* ]] || return 0
    case "$prev" in
        VALUE_FLAGS) return 0 ;;
    esac
    local kind=targets
    [[ $sub == report ]] && kind=reports
    names=($(compgen -W "$("${COMP_WORDS[0]}" "${config[@]}" __complete "$kind" 2>/dev/null)" \
        -- "$cur"))
    COMPREPLY=("${names[@]}" "${COMPREPLY[@]}")
}
"#;

/// The flags of these subcommands (globals included) that take a value in the next word.
fn value_flags(subcommands: &[&str]) -> Vec<String> {
    let mut cli = Cli::command();
    cli.build();
    let mut flags: Vec<String> = subcommands
        .iter()
        .filter_map(|name| cli.find_subcommand(name))
        .flat_map(|sub| sub.get_arguments())
        .filter(|arg| !arg.is_positional() && !arg.is_require_equals_set())
        .filter(|arg| arg.get_action().takes_values())
        .flat_map(|arg| {
            let long = arg.get_long().map(|l| format!("--{l}"));
            let short = arg.get_short().map(|s| format!("-{s}"));
            long.into_iter().chain(short)
        })
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

/// The zsh script completes `sync TARGET` and `report NAME` with the binary's names.
fn with_zsh_names(script: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in script.lines() {
        let kind = match line {
            l if l.starts_with("'*::targets -- ") => Some("targets"),
            l if l.starts_with("'::name -- The built-in report") => Some("reports"),
            _ => None,
        };
        let line = match kind {
            Some(kind) => line.replace(":_default'", &format!(":_vpn-inventory__names {kind}'")),
            None => line.to_owned(),
        };
        lines.push(line);
        if lines.len() == 1 {
            lines.push(ZSH_NAMES.to_owned());
        }
    }
    lines.join("\n") + "\n"
}

const ZSH_NAMES: &str = r#"
# Target and report names, asked of vpn-inventory itself: they change after this script is
# installed.
_vpn-inventory__names() {
    local -a names
    names=(${(f)"$(vpn-inventory __complete $1 2>/dev/null)"})
    compadd -a names
}"#;

/// The fish script completes `sync TARGET` and `report NAME` with the binary's names.
fn fish_names() -> String {
    let mut lines = String::from(
        "\n# Target and report names, asked of vpn-inventory itself: they change after this \
         script\n# is installed.\n",
    );
    for (subcommand, kind) in [("sync", "targets"), ("report", "reports")] {
        lines += &format!(
            "complete -c {BIN} -n \"__fish_vpn_inventory_using_subcommand {subcommand}\" -f \
             -a \"({BIN} __complete {kind} 2>/dev/null)\"\n"
        );
    }
    lines
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
4
A connection breaks the policy (check only).
.TP
64
The command line does not parse.
.TP
130, 143
Interrupted by SIGINT (130) or SIGTERM (143); the run is marked failed and sync --resume
continues it.
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
VPN_INVENTORY_CTS_ENDPOINT
The Cloud Trace Service endpoint (--cts-endpoint, with --with-traces).
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
