//! README.md's commands stay true: every `vpn-inventory` command line in its `sh` blocks and
//! systemd units parses with the real command-line definition, and the ones that run offline
//! run: the demo and the look around after it, in a fresh home directory, against the database
//! README says they use, and the crontab line, as cron runs it.

use clap::Parser as _;
use std::path::Path;
use vpn_inventory::cli::Cli;

const README: &str = include_str!("../../README.md");

/// The lines of README's `sh` code blocks, and the commands of its systemd units
/// (`ExecStart=` of its `ini` blocks), which run the same way.
fn shell_lines() -> Vec<&'static str> {
    let mut lines = Vec::new();
    let mut block = "";
    for line in README.lines() {
        match line.trim() {
            fence if fence.starts_with("```") && block.is_empty() => block = &fence[3..],
            fence if fence.starts_with("```") => block = "",
            _ if block == "sh" => lines.push(line),
            _ if block == "ini" => lines.extend(line.strip_prefix("ExecStart=")),
            _ => {}
        }
    }
    lines
}

/// A shell line's words, as sh would split them (quotes, comments, `&&`, `|` and redirections
/// are enough for README), in commands: `a && b | c > f` gives `[a], [b], [c]`.
fn shell_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut redirect = false;
    let end_word = |word: &mut Option<String>, commands: &mut Vec<Vec<String>>, r: &mut bool| {
        if let Some(w) = word.take()
            && !std::mem::take(r)
        {
            commands.last_mut().expect("a command").push(w);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                let text = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    text.push(q);
                }
            }
            '#' if word.is_none() => break,
            ' ' | '\t' => end_word(&mut word, &mut commands, &mut redirect),
            '|' | '&' | ';' => {
                end_word(&mut word, &mut commands, &mut redirect);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                commands.push(Vec::new());
            }
            '>' => {
                end_word(&mut word, &mut commands, &mut redirect);
                redirect = true;
                // `>/dev/null`: the target follows without a space.
                if chars.peek().is_some_and(|n| *n != ' ') {
                    word = Some(String::new());
                }
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    end_word(&mut word, &mut commands, &mut redirect);
    commands.retain(|c| !c.is_empty());
    commands
}

/// The arguments of every `vpn-inventory` invocation in README's shell blocks (with
/// `cargo run --release --` standing for the binary), each with the line it came from.
fn readme_invocations() -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for line in shell_lines() {
        for words in shell_commands(line) {
            let args = match words.first().map(String::as_str) {
                Some(first) if Path::new(first).ends_with("vpn-inventory") => &words[1..],
                Some("cargo") if words.get(1).is_some_and(|w| w == "run") => {
                    match words.iter().position(|w| w == "--") {
                        Some(at) => &words[at + 1..],
                        None => continue,
                    }
                }
                _ => continue,
            };
            found.push((line.trim().to_owned(), args.to_vec()));
        }
    }
    found
}

#[test]
fn the_shell_splitter_reads_what_readme_writes() {
    assert_eq!(
        shell_commands(". f.env && $HOME/bin/x sync -q >/dev/null   # a comment"),
        [vec![".", "f.env"], vec!["$HOME/bin/x", "sync", "-q"]]
    );
    assert_eq!(
        shell_commands("x forget-scope '<p> vgw_id=<id>' | head"),
        [vec!["x", "forget-scope", "<p> vgw_id=<id>"], vec!["head"]]
    );
    assert_eq!(
        shell_commands("x completions bash > ~/.local/c"),
        [vec!["x", "completions", "bash"]]
    );
}

#[test]
fn every_command_readme_shows_parses() {
    let invocations = readme_invocations();
    // Enough to know the extraction found README's examples, not an empty list.
    assert!(invocations.len() >= 40, "{invocations:#?}");
    let mut subcommands = std::collections::BTreeSet::new();
    for (line, args) in &invocations {
        let argv = std::iter::once("vpn-inventory").chain(args.iter().map(String::as_str));
        match Cli::try_parse_from(argv) {
            Ok(_) => {}
            // `--version` and `--help` end parsing on purpose.
            Err(e) if e.exit_code() == 0 => {}
            Err(e) => panic!("README's `{line}` does not parse: {e}"),
        }
        subcommands.extend(args.first().cloned());
    }
    let systemd = invocations
        .iter()
        .find(|(line, _)| line.starts_with("/usr/local/bin/"));
    assert!(
        systemd.is_some(),
        "README's systemd unit runs no vpn-inventory"
    );
    for command in [
        "sync", "drift", "history", "diff", "export", "report", "config", "runs",
    ] {
        assert!(subcommands.contains(command), "README shows no `{command}`");
    }
}

/// The binary with a fresh home directory and nothing from the developer's environment: what
/// a new user who just cloned the repository has.
fn fresh_user(home: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vpn-inventory"));
    for (name, _) in std::env::vars() {
        let ours = ["HUAWEICLOUD_", "VPN_INVENTORY_", "XDG_"];
        if ours.iter().any(|prefix| name.starts_with(prefix)) {
            cmd.env_remove(name);
        }
    }
    cmd.env("HOME", home).args(args);
    cmd.output().expect("the binary runs")
}

#[test]
fn the_demo_and_the_look_around_after_it_run_offline() {
    let home = tempfile::tempdir().expect("a temporary home");
    // README's demo syncs 2,000 connections; a smaller one says the same about its commands.
    let demo = fresh_user(home.path(), &["demo", "--connections", "200"]);
    assert!(demo.status.success(), "{demo:?}");
    let database = home.path().join(".local/share/vpn-inventory/inventory.db");
    assert!(
        database.exists(),
        "README's default database is {database:?}"
    );
    let look_around: Vec<Vec<String>> = readme_invocations()
        .into_iter()
        .filter(|(line, _)| line.starts_with("cargo run --release -- ") && !line.contains("demo"))
        .map(|(_, args)| args)
        .collect();
    assert!(look_around.len() >= 5, "{look_around:?}");
    for args in look_around {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = fresh_user(home.path(), &args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
    }
    let status = fresh_user(home.path(), &["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("inventory.db"), "{status}");
}

/// README's crontab entry: its `MAILTO` line and the command of its one job (the line after
/// the five time fields).
fn readme_crontab() -> (String, String) {
    let lines = shell_lines();
    let mailto = lines.iter().find(|l| l.starts_with("MAILTO="));
    let job = lines.iter().find(|l| l.starts_with("17 * * * *"));
    let (Some(mailto), Some(job)) = (mailto, job) else {
        panic!("README shows no crontab with MAILTO and a job: {lines:?}");
    };
    let command = job
        .splitn(6, ' ')
        .nth(5)
        .expect("a command after the time fields");
    ((*mailto).to_owned(), command.trim().to_owned())
}

/// Runs `command` as cron runs a job: `/bin/sh -c`, an environment of HOME, LOGNAME, SHELL and
/// cron's PATH only, and the home directory as its working directory.
fn as_cron(home: &Path, command: &str) -> std::process::Output {
    std::process::Command::new("env")
        .args([
            "-i",
            &format!("HOME={}", home.display()),
            "LOGNAME=cron",
            "SHELL=/bin/sh",
        ])
        .args(["PATH=/usr/bin:/bin", "/bin/sh", "-c", command])
        .current_dir(home)
        .output()
        .expect("env and sh run")
}

// Two workers: the simulator answers on one while this test waits for the job on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crontab_readme_shows_syncs_every_target_and_is_quiet_on_a_good_day() {
    use crate::support::{Backend, TestEnv};
    let (mailto, command) = readme_crontab();
    assert!(mailto.contains('@'), "{mailto}");
    let env = TestEnv::generated(Backend::Sqlite, 7, 11).await;
    let home = tempfile::tempdir().expect("a home");
    let home = home.path();
    // What README tells the user to set up: the binary in ~/.cargo/bin, a configuration with
    // a target whose credentials are in variables, and an env file exporting them.
    let bin = home.join(".cargo/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_vpn-inventory"),
        bin.join("vpn-inventory"),
    )
    .unwrap();
    let config = home.join(".config/vpn-inventory");
    std::fs::create_dir_all(&config).unwrap();
    let target = format!(
        "[[targets]]\nname = \"prod\"\nproject_id = \"{}\"\nendpoint = \"{}\"\n\
         credentials = {{ ak_env = \"PROD_AK\", sk_env = \"PROD_SK\" }}\n",
        env.config.project_id,
        env.sim.endpoint()
    );
    std::fs::write(config.join("config.toml"), target).unwrap();
    let env_file = home.join(".config/vpn-inventory.env");
    let exports = |sk: &str| {
        format!(
            "export PROD_AK={}\nexport PROD_SK={sk}\n",
            env.config.access_key
        )
    };
    std::fs::write(&env_file, exports(&env.config.secret_key)).unwrap();

    let good = as_cron(home, &command);
    assert!(good.status.success(), "{good:?}");
    assert!(
        good.stdout.is_empty() && good.stderr.is_empty(),
        "cron would mail: {good:?}"
    );
    let database = home.join(".local/share/vpn-inventory/inventory.db");
    assert!(database.exists(), "the job synced into {database:?}");
    let runs = std::process::Command::new(env!("CARGO_BIN_EXE_vpn-inventory"))
        .args(["--database", &format!("sqlite://{}", database.display())])
        .args(["runs", "--format", "json"])
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).expect("runs as JSON");
    assert_eq!(runs[0]["status"], "complete", "{runs}");
    assert_eq!(runs[0]["added"], 7, "{runs}");

    // A bad day reaches the mail: the error on stderr, and a failing exit.
    std::fs::write(&env_file, exports("not-the-secret-key")).unwrap();
    let bad = as_cron(home, &command);
    assert!(!bad.status.success(), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("target prod") && stderr.contains("401"),
        "{stderr}"
    );
}
