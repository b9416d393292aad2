//! `vpn-inventory sync`: one run of one scope from flags and the environment, or one run per
//! configured target (`targets`).

use super::run_report::{
    dry_run_text, exit_code, failure_record, log_summary, print_report, scope_label, warn_skipped,
};
use super::run_setup::{endpoint_of, run_options, traces_client};
use super::{CommandError, metrics, one_line, print_stdout};
use crate::api::client::VpnClient;
use crate::api::credentials::Credentials;
use crate::api::filters::Filters;
use crate::cli::{FilterArgs, ReportFormat, SyncArgs, TargetArgs};
use crate::config::Config;
use crate::scope::Scope;
use crate::shutdown::Shutdown;
use crate::store::{DatabaseUrl, Store};
use crate::sync::{Api, dry_run, sync_scope};
use anyhow::Context as _;
use std::process::ExitCode;
use tracing::Instrument as _;

pub async fn run(
    database: &DatabaseUrl,
    config: &Config,
    args: SyncArgs,
) -> Result<ExitCode, CommandError> {
    if args.all || !args.targets.is_empty() {
        return super::targets::run(database, config, args).await;
    }
    if !args.min_interval.0.is_zero() {
        let mistake = crate::usage::mistake::<ExitCode>(
            "--min-interval applies to configured targets: use it with --all or TARGET names",
        );
        return Ok(mistake?);
    }
    let format = args.format;
    let result = sync(database, config, args).await;
    if let (Err(error), ReportFormat::Json) = (&result, format) {
        // Scripts reading the report get one record whatever happened.
        print_stdout(&format!("{}\n", failure_record(error)))?;
    }
    result
}

async fn sync(
    database: &DatabaseUrl,
    config: &Config,
    args: SyncArgs,
) -> Result<ExitCode, CommandError> {
    let project_id = args
        .target
        .project_id
        .as_deref()
        .with_context(|| no_project_id(config))?;
    let endpoint = endpoint(&args.target)?;
    let credentials = Credentials::from_env()?;
    let (options, retry) = run_options(&args)?;
    let client = VpnClient::with_retries(&endpoint, project_id, credentials, retry)?
        .with_max_response_size(args.max_response_size.0);
    let scope = Scope::new(
        &endpoint,
        args.target.region.clone(),
        project_id,
        filters(args.filters.clone()),
    );
    let at = (
        args.target.endpoint.as_deref(),
        args.target.region.as_deref(),
    );
    let traces = traces_client(&client, args.with_traces, args.cts_endpoint.as_deref(), at)?;
    let shutdown = Shutdown::listen();
    if args.dry_run {
        let store = Store::open_if_exists(database).await?;
        let report = dry_run(store.as_ref(), &client, &scope, &options, &shutdown).await?;
        if let Some(store) = store {
            store.close().await;
        }
        let text = match args.format {
            ReportFormat::Json => {
                serde_json::to_string(&report).map_err(anyhow::Error::from)? + "\n"
            }
            ReportFormat::Text => dry_run_text(&report),
        };
        print_stdout(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Opening waits for nothing but a migration by another process (and that gives way).
    let store = tokio::select! {
        store = Store::open_waiting(database, options.lock_timeout) => store?,
        interrupted = shutdown.requested() => return Err(interrupted.into()),
    };
    let target = scope_label(&scope);
    let span = crate::logging::run_span(&target);
    let started = std::time::Instant::now();
    let api = Api {
        vpn: &client,
        traces: traces.as_ref(),
    };
    let result = sync_scope(&store, api, &scope, options, &shutdown)
        .instrument(span.clone())
        .await
        .map_err(|e| CommandError::OfTarget {
            target,
            error: Box::new(e.into()),
        });
    if let Ok(report) = &result {
        span.in_scope(|| log_summary(report, started.elapsed()));
    }
    // The run's span closes: its progress bar goes before anything else is printed.
    drop(span);
    if let Some(path) = &args.metrics_file {
        let retries = [(scope.shown_without_endpoint(), client.retries())];
        metrics::write(&store, path, &retries).await?;
    }
    let report = result?;
    print_report(&report, args.format)?;
    store.close().await;
    warn_skipped(&report, "", &scope_label(&scope));
    Ok(ExitCode::from(exit_code(&report, args.detailed_exitcode)))
}

/// The endpoint named by `--endpoint`, or the default one of `--region`.
fn endpoint(target: &TargetArgs) -> anyhow::Result<String> {
    let endpoint = endpoint_of(target.endpoint.as_deref(), target.region.as_deref())
        .context("--region, HUAWEICLOUD_SDK_REGION")?;
    endpoint.context(
        "no endpoint: pass --region (or set HUAWEICLOUD_SDK_REGION), or --endpoint (or set \
         VPN_INVENTORY_ENDPOINT)",
    )
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

/// Why a sync without a target has no project, and what would give it one: the configuration's
/// targets, when it has some, are what a user who set one up meant to sync.
fn no_project_id(config: &Config) -> String {
    let flags = "pass --project-id or set HUAWEICLOUD_SDK_PROJECT_ID";
    if config.targets.is_empty() {
        return format!("no project id: {flags}");
    }
    let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    format!(
        "no project id: `sync --all` syncs the configuration's targets ({}), `sync NAME` one of \
         them; or {flags}",
        one_line(&names.join(", "))
    )
}
