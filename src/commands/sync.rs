//! `vpn-inventory sync`: one run of one scope from flags and the environment, or one run per
//! configured target (`targets`).

use super::{CommandError, metrics, one_line, print_stdout};
use crate::api::client::FetchError;
use crate::api::client::{VpnClient, default_endpoint};
use crate::api::credentials::Credentials;
use crate::api::error::ApiError;
use crate::api::filters::Filters;
use crate::api::retry::RetryPolicy;
use crate::cli::{ExitDetail, FilterArgs, ReportFormat, SyncArgs, TargetArgs};
use crate::config::Config;
use crate::reconcile::RemovalGuard;
use crate::scope::Scope;
use crate::shutdown::Shutdown;
use crate::store::{DatabaseUrl, Store};
use crate::sync::{RunFailed, RunOptions, SyncReport, dry_run, sync_scope};
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
    let format = args.format;
    let result = sync(database, args).await;
    if let (Err(error), ReportFormat::Json) = (&result, format) {
        // Scripts reading the report get one record whatever happened.
        print_stdout(&format!("{}\n", failure_record(error)))?;
    }
    result
}

/// What `sync --format json` prints when the sync did not complete.
pub(super) fn failure_record(error: &CommandError) -> serde_json::Value {
    let (status, chain) = match error.inner() {
        CommandError::Interrupted(_) => ("interrupted", None),
        CommandError::Failed(error) => ("failed", Some(error)),
        CommandError::OfTarget { .. } => ("failed", None),
    };
    let run_id = chain
        .and_then(|e| e.downcast_ref::<RunFailed>())
        .map(|f| f.run_id);
    let api = chain.into_iter().flat_map(|e| e.chain()).find_map(|cause| {
        match cause.downcast_ref::<FetchError>() {
            Some(FetchError::Api(api)) => Some(api),
            _ => cause.downcast_ref::<ApiError>(),
        }
    });
    serde_json::json!({
        "run_id": run_id,
        "target": error.target(),
        "status": status,
        "error": error.message(),
        "error_code": api.and_then(|e| e.code.as_deref()),
        "error_msg": api.and_then(|e| e.message.as_deref()),
        "request_id": api.and_then(|e| e.request_id.as_deref()),
    })
}

async fn sync(database: &DatabaseUrl, args: SyncArgs) -> Result<ExitCode, CommandError> {
    let project_id = args
        .target
        .project_id
        .as_deref()
        .context("no project id: pass --project-id or set HUAWEICLOUD_SDK_PROJECT_ID")?;
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
    let shutdown = Shutdown::listen();
    if args.dry_run {
        let store = Store::open_if_exists(database).await?;
        let report = dry_run(store.as_ref(), &client, &scope, args.page_size, &shutdown).await?;
        if let Some(store) = store {
            store.close().await;
        }
        let text = match args.format {
            ReportFormat::Json => {
                serde_json::to_string(&report).map_err(anyhow::Error::from)? + "\n"
            }
            ReportFormat::Text => format!(
                "dry run: {} connections fetched in {} pages ({}); would add {}, change {}, \
                 remove {}; {} unchanged{}\n",
                report.fetched,
                report.pages,
                super::megabytes(report.bytes),
                report.would_add,
                report.would_change,
                report
                    .would_remove
                    .map_or("? (filtered sweep)".to_owned(), |n| n.to_string()),
                report.unchanged,
                report
                    .removals_skipped
                    .as_deref()
                    .map_or(String::new(), |why| format!(
                        "; a run would infer no removals: {}",
                        one_line(why)
                    )),
            ),
        };
        print_stdout(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(database).await?;
    let target = scope_label(&scope);
    let span = crate::logging::run_span(&target);
    let started = std::time::Instant::now();
    let result = sync_scope(&store, &client, &scope, options, &shutdown)
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
        let retries = [(scope_label(&scope), client.retries())];
        metrics::write(&store, path, &retries).await?;
    }
    let report = result?;
    print_report(&report, args.format)?;
    store.close().await;
    warn_skipped(&report, "", &scope_label(&scope));
    Ok(ExitCode::from(exit_code(&report, args.detailed_exitcode)))
}

/// The run options and retry policy the flags give, checked.
pub(super) fn run_options(args: &SyncArgs) -> anyhow::Result<(RunOptions, RetryPolicy)> {
    if args.request_timeout.0.is_zero() {
        anyhow::bail!("--request-timeout must be longer than 0");
    }
    // PostgreSQL's lock_timeout stops at about 596 hours; nobody means to wait a day.
    if args.lock_timeout.0 > MAX_LOCK_TIMEOUT {
        anyhow::bail!("--lock-timeout must be at most 24h");
    }
    let retry = RetryPolicy {
        max_retries: args.max_retries,
        request_timeout: args.request_timeout.0,
        ..RetryPolicy::default()
    };
    let options = RunOptions {
        page_size: args.page_size,
        lock_timeout: args.lock_timeout.0,
        guard: RemovalGuard {
            max_percent: args.max_removal_percent,
            accept: args.accept_mass_removal,
        },
        resume: args.resume,
    };
    Ok((options, retry))
}

/// A scope as logs and metrics name it: the project and filters.
pub(super) fn scope_label(scope: &Scope) -> String {
    super::runs::scope_summary(&scope.shown_without_endpoint())
}

/// The one line a run logs at the default level (inside its `run` span, which names the
/// target and the run).
pub(super) fn log_summary(report: &SyncReport, took: std::time::Duration) {
    tracing::info!(
        target: crate::logging::SUMMARY,
        run_id = report.run_id,
        fetched = report.fetched,
        added = report.added,
        removed = report.removed,
        modified = report.modified,
        unchanged = report.unchanged,
        pages = report.pages,
        duration_seconds = (took.as_secs_f64() * 1000.0).round() / 1000.0,
        "run {} {}",
        report.run_id,
        report.status
    );
}

/// Says on stderr that a run inferred no removals, and why; `prefix` starts the text line,
/// `target` names the target on a JSON one.
pub(super) fn warn_skipped(report: &SyncReport, prefix: &str, target: &str) {
    let Some(reason) = &report.removals_skipped else {
        return;
    };
    if crate::logging::json_lines() {
        // At error level: like the text line, it still shows under -q (someone should look).
        tracing::error!(
            target = target,
            run_id = report.run_id,
            reason = one_line(reason),
            "the run stored what it saw but inferred no removals"
        );
    } else {
        eprintln!(
            "vpn-inventory: warning: {prefix}run {} stored what it saw but inferred no \
             removals: {}",
            report.run_id,
            one_line(reason)
        );
    }
}

/// The exit code of a complete run: 0, or with `--detailed-exitcode` 2 for changes (of the
/// configuration only, with `=config`) and 3 for a run that inferred no removals.
pub(super) fn exit_code(report: &SyncReport, detail: Option<ExitDetail>) -> u8 {
    let modified = match detail {
        Some(ExitDetail::Config) => report.modified_config,
        _ => report.modified,
    };
    let changed = report.added + report.removed + modified > 0;
    match detail {
        None => 0,
        // Not a clean success: someone should look at why (stderr says).
        Some(_) if report.removals_skipped.is_some() => 3,
        Some(_) if changed => 2,
        Some(_) => 0,
    }
}

/// The longest `--lock-timeout`.
const MAX_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The endpoint named by `--endpoint`, or the default one of `--region`.
fn endpoint(target: &TargetArgs) -> anyhow::Result<String> {
    let endpoint = endpoint_of(target.endpoint.as_deref(), target.region.as_deref())
        .context("--region, HUAWEICLOUD_SDK_REGION")?;
    endpoint.context(
        "no endpoint: pass --region (or set HUAWEICLOUD_SDK_REGION), or --endpoint (or set \
         VPN_INVENTORY_ENDPOINT)",
    )
}

/// The endpoint given, else the default one of a (checked) region; `None` without either.
pub fn endpoint_of(endpoint: Option<&str>, region: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(region) = region {
        check_region(region)?;
    }
    Ok(endpoint
        .map(str::to_owned)
        .or_else(|| region.map(default_endpoint)))
}

/// A region is lower-case letters, digits and '-': it becomes part of a host name.
pub fn check_region(region: &str) -> anyhow::Result<()> {
    let valid = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if region.is_empty() || !region.bytes().all(valid) {
        anyhow::bail!(
            "invalid region {:?}: expected lower-case letters, digits and '-', e.g. cn-north-4",
            region.escape_debug().to_string()
        );
    }
    Ok(())
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

pub fn print_report(report: &SyncReport, format: ReportFormat) -> anyhow::Result<()> {
    let text = match format {
        ReportFormat::Json => serde_json::to_string(report)? + "\n",
        ReportFormat::Text => {
            let mut text = format!(
                "run {} {}: {} connections fetched in {} pages ({}); \
                 {} added, {} removed, {} modified, {} unchanged\n",
                report.run_id,
                report.status,
                report.fetched,
                report.pages,
                super::megabytes(report.bytes),
                report.added,
                report.removed,
                report.modified,
                report.unchanged
            );
            if let Some(from) = report.resumed_from {
                text.push_str(&format!(
                    "note: continued the sweep of failed run {from}; its pages are counted here\n"
                ));
            }
            if let Some(why) = &report.nothing_to_resume {
                text.push_str(&format!(
                    "note: nothing to resume ({}); swept from the first page\n",
                    one_line(why)
                ));
            }
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
