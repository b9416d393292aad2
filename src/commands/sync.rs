//! `vpn-inventory sync`: one run of one scope.

use super::print_stdout;
use crate::api::client::{VpnClient, default_endpoint};
use crate::api::credentials::Credentials;
use crate::cli::{FilterArgs, Output, SyncArgs};
use crate::scope::{Filters, Scope};
use crate::shutdown::{Interrupted, Shutdown};
use crate::store::{DatabaseUrl, Store};
use crate::sync::{Run, SyncReport};
use anyhow::Context as _;
use std::process::ExitCode;
use std::time::Duration;

pub async fn run(database: &DatabaseUrl, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let project_id = args
        .target
        .project_id
        .context("no project id: pass --project-id or set HUAWEICLOUD_SDK_PROJECT_ID")?;
    let endpoint = match (&args.target.endpoint, &args.target.region) {
        (Some(endpoint), _) => endpoint.clone(),
        (None, Some(region)) => default_endpoint(region),
        (None, None) => anyhow::bail!(
            "no endpoint: pass --region (or set HUAWEICLOUD_SDK_REGION), or --endpoint \
             (or set VPN_INVENTORY_ENDPOINT)"
        ),
    };
    let credentials = Credentials::from_env()?;
    let client = VpnClient::new(&endpoint, &project_id, credentials)?;
    let scope = Scope::new(
        &endpoint,
        args.target.region.clone(),
        &project_id,
        filters(args.filters),
    );
    let store = Store::open(database).await?;
    let report = sync_scope(&store, &client, &scope, args.page_size, args.lock_timeout.0).await?;
    print_report(&report, args.output)?;
    store.close().await;
    let changed = report.added + report.removed + report.modified > 0;
    Ok(if args.detailed_exitcode && changed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn filters(args: FilterArgs) -> Filters {
    Filters {
        vgw_id: args.vgw_id,
        vgw_ip: args.vgw_ip,
        vpn_id: args.vpn_id,
        eip_id: args.eip_id,
        enterprise_project_ids: args.enterprise_project_ids,
    }
}

/// Runs one sync under the scope's lock (waiting up to `lock_timeout` for it). SIGINT/SIGTERM
/// stop it at the next safe point, mark it failed and return `Interrupted`.
pub async fn sync_scope(
    store: &Store,
    client: &VpnClient,
    scope: &Scope,
    page_size: u32,
    lock_timeout: Duration,
) -> anyhow::Result<SyncReport> {
    let mut shutdown = Shutdown::listen();
    let lock = tokio::select! {
        lock = store.lock_scope(scope, lock_timeout) => lock?,
        signal = shutdown.requested() => return Err(Interrupted(signal).into()),
    };
    let run = Run::start(store, scope, page_size, &lock).await?;
    let result = run.execute(client, &shutdown).await;
    lock.release().await;
    result
}

pub fn print_report(report: &SyncReport, output: Output) -> anyhow::Result<()> {
    let text = match output {
        Output::Json => serde_json::to_string(report)? + "\n",
        Output::Text => {
            let mut text = format!(
                "run {} {}: {} connections fetched in {} pages; {} added, {} removed, {} modified, {} unchanged\n",
                report.run_id,
                report.status,
                report.fetched,
                report.pages,
                report.added,
                report.removed,
                report.modified,
                report.unchanged
            );
            if report.duplicates > 0 {
                text.push_str(&format!(
                    "note: {} repeated connection ids across pages were ignored\n",
                    report.duplicates
                ));
            }
            text
        }
    };
    print_stdout(&text)
}
