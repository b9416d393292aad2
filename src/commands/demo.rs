//! `vpn-inventory demo`: the main job end to end against the built-in simulator.

use super::run_report::print_report;
use super::{CommandError, print_stdout};
use crate::api::client::VpnClient;
use crate::api::credentials::{Credentials, Secret};
use crate::api::filters::Filters;
use crate::cli::{DemoArgs, ReportFormat};
use crate::scope::Scope;
use crate::shutdown::Shutdown;
use crate::store::{DatabaseUrl, Store};
use crate::sync::{RunOptions, sync_scope};
use anyhow::Context as _;
use std::process::ExitCode;
use std::time::Duration;
use vpn_simulator::server::{SimConfig, generated_inventory};

/// The demo's scope is its own random port: nobody else can hold its lock.
const DEMO_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(database: &DatabaseUrl, args: DemoArgs) -> Result<ExitCode, CommandError> {
    let config = SimConfig::default();
    let inventory = generated_inventory(args.connections, args.seed);
    let sim = vpn_simulator::spawn(([127, 0, 0, 1], 0).into(), config.clone(), inventory)
        .await
        .context("cannot start the built-in simulator")?;
    let endpoint = sim.endpoint();
    print_stdout(&format!(
        "demo: simulated project {} with {} connections at {endpoint}, syncing into {database}\n",
        config.project_id, args.connections
    ))?;
    let credentials = Credentials::AkSk {
        access_key: config.access_key.clone(),
        secret_key: Secret::new(config.secret_key.clone()),
        security_token: None,
    };
    let client = VpnClient::new(&endpoint, &config.project_id, credentials)?;
    let scope = Scope::new(&endpoint, None, &config.project_id, Filters::default());
    let store = Store::open(database).await?;
    let shutdown = Shutdown::listen();
    let sync = || {
        sync_scope(
            &store,
            &client,
            &scope,
            RunOptions {
                page_size: args.page_size,
                lock_timeout: DEMO_LOCK_TIMEOUT,
                ..RunOptions::default()
            },
            &shutdown,
        )
    };
    let report = sync().await?;
    print_report(&report, ReportFormat::Text)?;

    // Operators change things between cron runs: the second sync finds exactly that.
    let mut rounds = 0;
    while sim.state.mutate(1, args.seed).is_empty() && rounds < 10 {
        rounds += 1;
    }
    print_stdout("demo: the simulated cloud changed; syncing again\n")?;
    let report = sync().await?;
    print_report(&report, ReportFormat::Text)?;
    print_stdout(&format!(
        "next: vpn-inventory --database {database} drift     # what run {} found changed\n      \
         vpn-inventory --database {database} runs\n      \
         vpn-inventory --database {database} export | head\n      \
         vpn-inventory --database {database} report --list   # then: report weak-crypto\n",
        report.run_id
    ))?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
