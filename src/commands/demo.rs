//! `vpn-inventory demo`: the main job end to end against the built-in simulator, the way an
//! organisation runs it: a configuration of two projects (each its own simulated cloud),
//! synced together as one `sync --all` would, twice, with the cloud changed in between.

use super::run_report::print_report;
use super::run_setup::{target_client, target_traces};
use super::{CommandError, print_stdout};
use crate::api::client::DEFAULT_MAX_RESPONSE_BYTES;
use crate::api::retry::RetryPolicy;
use crate::cli::{DemoArgs, ReportFormat};
use crate::config::Config;
use crate::shutdown::Shutdown;
use crate::store::{DatabaseUrl, Store};
use crate::sync::{Api, RunOptions, sync_scope};
use anyhow::Context as _;
use std::process::ExitCode;
use std::time::Duration;
use vpn_simulator::RunningSimulator;
use vpn_simulator::server::{SimConfig, generated_inventory};

/// The demo's scopes are on its own random ports: nobody else can hold their locks.
const DEMO_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The simulated projects: the configuration's target name and the project id.
const PROJECTS: [(&str, &str); 2] = [
    ("prod-north", "0123456789abcdef0123456789abcdef"),
    ("prod-south", "fedcba9876543210fedcba9876543210"),
];

pub async fn run(database: &DatabaseUrl, args: DemoArgs) -> Result<ExitCode, CommandError> {
    // Half the connections each (the first takes the odd one).
    let sizes = [args.connections.div_ceil(2), args.connections / 2];
    let mut sims = Vec::new();
    for (((_, project), size), seed) in PROJECTS.iter().zip(sizes).zip(args.seed..) {
        let config = SimConfig {
            project_id: (*project).to_owned(),
            ..SimConfig::default()
        };
        let inventory = generated_inventory(size, seed);
        let sim = vpn_simulator::spawn(([127, 0, 0, 1], 0).into(), config, inventory)
            .await
            .context("cannot start the built-in simulator")?;
        sims.push(sim);
    }
    // The credentials live in a file the configuration names, as they would in production.
    let dir = tempfile::tempdir().context("cannot create the demo's configuration")?;
    let config_text = configuration(&sims, dir.path())?;
    let config = Config::parse(&config_text)?;
    print_stdout(&format!(
        "demo: two simulated projects ({} connections in all), syncing into {database} from \
         this configuration:\n\n{}\n",
        args.connections,
        shown_configuration(&config_text)
    ))?;
    let store = Store::open(database).await?;
    let shutdown = Shutdown::listen();
    let sync_all = || sync_all(&store, &config, args.page_size, &shutdown);
    sync_all().await?;

    // Operators change things between cron runs: the second sync finds exactly that.
    for (sim, seed) in sims.iter().zip(args.seed..) {
        let mut rounds = 0;
        while sim.state.mutate(1, seed).is_empty() && rounds < 10 {
            rounds += 1;
        }
    }
    print_stdout("demo: the simulated clouds changed; syncing again\n")?;
    let sync_id = sync_all().await?;
    let next = format!("vpn-inventory --database {database}");
    print_stdout(&format!(
        "next: {next} drift     # what sync {sync_id} found changed, and who changed it\n      \
         {next} report who-changed\n      \
         {next} runs\n      \
         {next} export | head\n      \
         {next} check           # the built-in policy: weak crypto, exit 4\n      \
         {next} review --since 1h --format html -o review.html   # a change review\n      \
         {next} report --list   # then: report weak-crypto\n",
    ))?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Syncs every target of `config` as one sync, one target after another; its id.
async fn sync_all(
    store: &Store,
    config: &Config,
    page_size: u32,
    shutdown: &Shutdown,
) -> Result<i64, CommandError> {
    let sync_id = store.start_sync().await.map_err(anyhow::Error::from)?;
    let options = RunOptions {
        page_size,
        lock_timeout: DEMO_LOCK_TIMEOUT,
        sync_id: Some(sync_id),
        ..RunOptions::default()
    };
    for target in config.targets(None)? {
        let retry = RetryPolicy::default();
        let (client, scope) = target_client(target, retry, DEFAULT_MAX_RESPONSE_BYTES)?;
        let traces = target_traces(target, &client, false)?;
        let api = Api {
            vpn: &client,
            traces: traces.as_ref(),
        };
        let report = sync_scope(store, api, &scope, options, shutdown).await?;
        print_stdout(&format!("target {}: ", target.name))?;
        print_report(&report, ReportFormat::Text)?;
    }
    store
        .finish_sync(sync_id)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(sync_id)
}

/// The configuration of the two simulated projects, with their shared credentials in a file
/// (mode 600) in `dir`.
fn configuration(sims: &[RunningSimulator], dir: &std::path::Path) -> anyhow::Result<String> {
    let defaults = SimConfig::default();
    let credentials = dir.join("credentials.toml");
    let mut options = std::fs::OpenOptions::new();
    options.create_new(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&credentials)?;
    std::io::Write::write_all(
        &mut file,
        format!(
            "ak = \"{}\"\nsk = \"{}\"\n",
            defaults.access_key, defaults.secret_key
        )
        .as_bytes(),
    )?;
    let mut text = String::new();
    for ((name, project), sim) in PROJECTS.iter().zip(sims) {
        text.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\nproject_id = \"{project}\"\n\
             endpoint = \"{}\"\ntraces = true\ncredentials = {{ file = {:?} }}\n\n",
            sim.endpoint(),
            credentials.display().to_string()
        ));
    }
    Ok(text)
}

/// The configuration as printed: indented, with the demo's temporary credentials file named
/// for what it is.
fn shown_configuration(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| match line.starts_with("credentials") {
            true => "    credentials = { file = \"...\" }   # the simulator's demo keys".to_owned(),
            false => format!("    {line}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
