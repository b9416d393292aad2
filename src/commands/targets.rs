//! `sync --all` and `sync TARGET...`: one run per configured target, several at a time.
//!
//! Each target is its own scope, run and drift, all under one sync id; one target's failure
//! does not stop the others. A target another process is syncing, or one synced less than
//! `--min-interval` ago, is skipped (`sync::shared`: several hosts may share the work). The
//! summary lists every target's outcome, and the exit code is the worst of them: an
//! interruption (130, 143), a failure (1), then with `--detailed-exitcode` a run that inferred no
//! removals (3), changes (2), nothing (0); a skipped target counts as nothing.

use super::run_report::{
    dry_run_text, exit_code, failure_record, log_summary, print_report, warn_skipped,
};
use super::run_setup::{run_options, target_client, target_traces};
use super::{CommandError, metrics, one_line, print_stdout};
use crate::cli::{ReportFormat, SyncArgs};
use crate::config::{Config, Target};
use crate::shutdown::Shutdown;
use crate::store::{DatabaseUrl, Store};
use crate::sync::{Api, RunOptions, Synced, dry_run, sync_scope_unless_taken};
use std::process::ExitCode;
use std::sync::Arc;
use tracing::Instrument as _;

/// How one target's sync ended.
struct Outcome {
    target: String,
    result: Result<Synced, CommandError>,
    /// The scope's identity and the page retries its client made (for the metrics).
    retries: Option<metrics::Retries>,
}

pub async fn run(
    database: &DatabaseUrl,
    config: &Config,
    args: SyncArgs,
) -> Result<ExitCode, CommandError> {
    let names = (!args.all).then_some(args.targets.as_slice());
    let targets: Vec<Target> = config.targets(names)?.into_iter().cloned().collect();
    if args.dry_run {
        return dry_run_each(database, targets, &args).await;
    }
    let (options, retry) = run_options(&args)?;
    let store = Store::open_waiting(database, options.lock_timeout).await?;
    // One sync, whose runs `runs` groups and `drift` reads back together.
    let sync_id = store.start_sync().await.map_err(anyhow::Error::from)?;
    let options = RunOptions {
        sync_id: Some(sync_id),
        ..options
    };
    let shutdown = Shutdown::listen();
    let slots = Arc::new(tokio::sync::Semaphore::new(usize::from(args.concurrency)));
    let mut running = tokio::task::JoinSet::new();
    let each = Each {
        store: store.clone(),
        options,
        retry,
        max_response_size: args.max_response_size.0,
        min_interval: args.min_interval.0,
        with_traces: args.with_traces,
    };
    for (index, target) in targets.into_iter().enumerate() {
        let (each, shutdown, slots) = (each.clone(), shutdown.clone(), slots.clone());
        let span = crate::logging::run_span(&target.name);
        running.spawn(
            async move {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .expect("the semaphore stays open");
                (index, each.sync(target, &shutdown).await)
            }
            .instrument(span),
        );
    }
    let mut outcomes: Vec<(usize, Outcome)> = running.join_all().await.into_iter().collect();
    outcomes.sort_by_key(|(index, _)| *index);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    if let Err(e) = store.finish_sync(sync_id).await {
        tracing::warn!(sync_id, "cannot record that the sync ended: {e}");
    }
    if let Some(path) = &args.metrics_file {
        let retries: Vec<metrics::Retries> =
            outcomes.iter().filter_map(|o| o.retries.clone()).collect();
        metrics::write(&store, path, &retries).await?;
    }
    store.close().await;
    summarize(&outcomes, args.format)?;
    let worst = outcomes
        .iter()
        .map(|o| match &o.result {
            Err(e) => match e.inner() {
                CommandError::Interrupted(interrupted) => (4, interrupted.exit_code()),
                _ => (3, 1),
            },
            Ok(Synced::Skipped(_)) => (0, 0),
            Ok(Synced::Ran(report)) => match exit_code(report, args.detailed_exitcode) {
                3 => (2, 3),
                2 => (1, 2),
                _ => (0, 0),
            },
        })
        .max()
        .map_or(0, |(_, code)| code);
    Ok(ExitCode::from(worst))
}

/// What every target's run of one `sync` shares.
#[derive(Clone)]
struct Each {
    store: Store,
    options: RunOptions,
    retry: crate::api::retry::RetryPolicy,
    max_response_size: u64,
    min_interval: std::time::Duration,
    with_traces: bool,
}

impl Each {
    /// Syncs one target (unless another process has it), in its run's span.
    async fn sync(self, target: Target, shutdown: &Shutdown) -> Outcome {
        let clients = target_client(&target, self.retry, self.max_response_size).and_then(
            |(client, scope)| {
                let traces = target_traces(&target, &client, self.with_traces)?;
                Ok((client, scope, traces))
            },
        );
        let (result, retries) = match clients {
            Err(e) => (Err(e.into()), None),
            Ok((client, scope, traces)) => {
                let api = Api {
                    vpn: &client,
                    traces: traces.as_ref(),
                };
                let started = std::time::Instant::now();
                let (store, options) = (&self.store, self.options);
                let result = sync_scope_unless_taken(
                    store,
                    api,
                    &scope,
                    options,
                    self.min_interval,
                    shutdown,
                )
                .await;
                match &result {
                    Ok(Synced::Ran(report)) => log_summary(report, started.elapsed()),
                    Ok(Synced::Skipped(skipped)) => {
                        tracing::info!("skipped: {}", skipped.reason);
                    }
                    Err(_) => {}
                }
                let retries = (scope.shown_without_endpoint(), client.retries());
                (result.map_err(CommandError::from), Some(retries))
            }
        };
        Outcome {
            target: target.name,
            result,
            retries,
        }
    }
}

/// `sync --dry-run` of targets: each one's sweep compared with the inventory, one target after
/// another, writing nothing (the database is read if it exists, never created or locked).
/// Prints each target's outcome as a sync would; exits 1 if any failed, 130 or 143 if
/// interrupted.
async fn dry_run_each(
    database: &DatabaseUrl,
    targets: Vec<Target>,
    args: &SyncArgs,
) -> Result<ExitCode, CommandError> {
    let (options, retry) = run_options(args)?;
    let store = Store::open_if_exists(database).await?;
    let shutdown = Shutdown::listen();
    let mut records = Vec::new();
    let mut worst = 0;
    for target in targets {
        let name = one_line(&target.name);
        let span = crate::logging::run_span(&target.name);
        let outcome = async {
            let (client, scope) = target_client(&target, retry, args.max_response_size.0)?;
            let report = dry_run(store.as_ref(), &client, &scope, &options, &shutdown);
            Ok::<_, CommandError>(report.await?)
        }
        .instrument(span)
        .await;
        let mut record = match &outcome {
            Ok(report) => serde_json::to_value(report).map_err(anyhow::Error::from)?,
            Err(error) => failure_record(error),
        };
        record["target"] = target.name.clone().into();
        records.push(record);
        match outcome {
            Ok(report) if args.format == ReportFormat::Text => {
                print_stdout(&format!("target {name}: {}", dry_run_text(&report)))?;
            }
            Ok(_) => {}
            Err(error) => {
                eprintln!("vpn-inventory: error: target {name}: {}", error.message());
                if args.format == ReportFormat::Text {
                    print_stdout(&format!("target {name}: failed\n"))?;
                }
                if let CommandError::Interrupted(interrupted) = error.inner() {
                    worst = worst.max(interrupted.exit_code());
                    break;
                }
                worst = worst.max(1);
            }
        }
    }
    if let Some(store) = store {
        store.close().await;
    }
    if args.format == ReportFormat::Json {
        let records = serde_json::to_string(&records).map_err(anyhow::Error::from)?;
        print_stdout(&format!("{records}\n"))?;
    }
    Ok(ExitCode::from(worst))
}

/// Prints each target's outcome: a line each (text), or one JSON array; failures also on
/// stderr, where cron mail and wrappers look for them.
fn summarize(outcomes: &[Outcome], format: ReportFormat) -> anyhow::Result<()> {
    for o in outcomes {
        if let Err(error) = &o.result {
            let name = one_line(&o.target);
            if crate::logging::json_lines() {
                tracing::error!(
                    target = o.target,
                    run_id = error.run_id(),
                    error = error.message(),
                    "the target's sync failed"
                );
            } else {
                eprintln!("vpn-inventory: error: target {name}: {}", error.message());
            }
        }
    }
    match format {
        ReportFormat::Json => {
            let records: Vec<serde_json::Value> = outcomes
                .iter()
                .map(|o| {
                    let mut record = match &o.result {
                        Ok(Synced::Ran(report)) => {
                            serde_json::to_value(report).expect("a report serializes")
                        }
                        Ok(Synced::Skipped(skipped)) => serde_json::json!({
                            "status": "skipped",
                            "reason": skipped.reason,
                            "run_id": skipped.run_id,
                        }),
                        Err(error) => failure_record(error),
                    };
                    record["target"] = o.target.clone().into();
                    record
                })
                .collect();
            print_stdout(&format!("{}\n", serde_json::to_string(&records)?))
        }
        ReportFormat::Text => {
            for o in outcomes {
                let name = one_line(&o.target);
                match &o.result {
                    Ok(Synced::Ran(report)) => {
                        print_stdout(&format!("target {name}: "))?;
                        print_report(report, format)?;
                        warn_skipped(report, &format!("target {name}: "), &o.target);
                    }
                    Ok(Synced::Skipped(skipped)) => print_stdout(&format!(
                        "target {name}: skipped: {}\n",
                        one_line(&skipped.reason)
                    ))?,
                    Err(_) => print_stdout(&format!("target {name}: failed\n"))?,
                }
            }
            Ok(())
        }
    }
}
