//! How a sync run's outcome is told: the report on stdout (text or JSON), the record of a
//! failure, the one summary line a run logs, the warning for removals withheld, and the exit
//! code. `sync` of one scope, `sync --all`/`sync TARGET...` and `demo` all tell it this way.

use super::{CommandError, one_line, print_stdout};
use crate::api::error::{ApiError, FetchError};
use crate::cli::{ExitDetail, ReportFormat};
use crate::scope::Scope;
use crate::sync::{DryRunReport, RunFailed, SyncReport};

/// What `sync --format json` prints when the sync did not complete.
pub fn failure_record(error: &CommandError) -> serde_json::Value {
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

/// A scope as logs name it: the project and filters.
pub fn scope_label(scope: &Scope) -> String {
    super::runs::scope_summary(&scope.shown_without_endpoint())
}

/// The one line a run logs at the default level (inside its `run` span, which names the
/// target and the run).
pub fn log_summary(report: &SyncReport, took: std::time::Duration) {
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
pub fn warn_skipped(report: &SyncReport, prefix: &str, target: &str) {
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
pub fn exit_code(report: &SyncReport, detail: Option<ExitDetail>) -> u8 {
    let modified = match detail {
        Some(ExitDetail::Config) => report.modified_config,
        _ => report.modified,
    };
    // A baseline's adds were there already: no change to page anyone about (as `drift`).
    let added = if report.baseline { 0 } else { report.added };
    let changed = added + report.removed + modified > 0;
    match detail {
        None => 0,
        // Not a clean success: someone should look at why (stderr says).
        Some(_) if report.removals_skipped.is_some() => 3,
        Some(_) if changed => 2,
        Some(_) => 0,
    }
}

pub fn print_report(report: &SyncReport, format: ReportFormat) -> anyhow::Result<()> {
    let text = match format {
        ReportFormat::Json => serde_json::to_string(report)? + "\n",
        ReportFormat::Text => {
            let mut text = format!(
                "run {} {}: {} fetched in {} ({}); \
                 {} added{}, {} removed, {} modified, {} unchanged\n",
                report.run_id,
                report.status,
                super::counted(report.fetched, "connection"),
                super::counted(report.pages, "page"),
                super::megabytes(report.bytes),
                report.added,
                if report.baseline {
                    " (the scope's baseline)"
                } else {
                    ""
                },
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
            if let Some(traces) = &report.traces {
                let count = i64::try_from(traces.traces).unwrap_or(i64::MAX);
                text.push_str(&format!(
                    "who changed it: {} from CTS ({}); `drift` names each change's authors\n",
                    super::counted(count, "trace"),
                    traces.outcome
                ));
            }
            text
        }
    };
    print_stdout(&text)
}

/// A dry run's summary line.
pub fn dry_run_text(report: &DryRunReport) -> String {
    format!(
        "dry run: {} fetched in {} ({}); would add {}, change {}, remove {}; \
         {} unchanged{}\n",
        super::counted(report.fetched, "connection"),
        super::counted(report.pages, "page"),
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
    )
}
