//! Logs on stderr: the filter `-v`/`-q`/`VPN_INVENTORY_LOG` set, text or JSON lines, the run
//! each line belongs to, and on a terminal a progress bar per run.
//!
//! A sync runs inside a `run` span (`run_span`) naming its target. The run id joins that span
//! once the run is recorded: `RunContext` takes it from the first span inside that carries a
//! `run_id` field, whatever its level, so with `--log-format json` every line of a run carries
//! both (`json`). The progress bar (`progress`) follows the sweep's `page received` events,
//! which sit below the default level: each layer has a filter of its own, and the one of the
//! log lines is the level the user chose.

mod json;
pub mod progress;

use crate::cli::{Cli, LogFormat};
use json::RunId;
use std::io::IsTerminal as _;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The target of the one line a run logs at the default level.
pub const SUMMARY: &str = "vpn_inventory::summary";

/// The span a sync of one target runs in: every line logged inside names the target, and the
/// run id once there is one. At error level, so it exists whatever the level (but `off`).
pub fn run_span(target: &str) -> tracing::Span {
    tracing::error_span!("run", target = %target)
}

/// Whether log lines are JSON objects (`init` sets it): what a command writes on stderr
/// itself must then be one too.
pub fn json_lines() -> bool {
    JSON_LINES.get().copied().unwrap_or(false)
}

static JSON_LINES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Installs the global subscriber the command line asks for.
pub fn init(cli: &Cli) {
    let filter = EnvFilter::try_from_env("VPN_INVENTORY_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_filter(cli.quiet, cli.verbose)));
    let _ = JSON_LINES.set(cli.log_format == LogFormat::Json);
    let terminal = std::io::stderr().is_terminal();
    // Colours only for a person at a terminal: cron mail and log files get plain text.
    let colour = terminal && std::env::var_os("NO_COLOR").is_none();
    // A bar only for a person at a terminal who did not ask for quiet or for JSON lines.
    let bars = (terminal && cli.quiet == 0 && cli.log_format == LogFormat::Text)
        .then(progress::Bars::on_stderr);
    // Every line passes `Redacting`: libraries log text of their own (sqlx a connect
    // parameter's value, a URL with its password), which must not show a secret.
    let writer = match &bars {
        Some(bars) => {
            let bars = bars.writer();
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(move || Redacting(bars()))
        }
        None => {
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(|| Redacting(std::io::stderr()))
        }
    };
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(writer);
    let lines = match cli.log_format {
        LogFormat::Json => lines
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::FlatJson)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => lines.with_filter(filter).boxed(),
    };
    let context = RunContext.with_filter(filter_fn(|meta| {
        meta.is_span() && meta.target().starts_with("vpn_inventory") && *meta.level() <= Level::INFO
    }));
    let mut layers = vec![lines, context.boxed()];
    if let Some(bars) = bars {
        layers.push(
            bars.layer()
                .with_filter(filter_fn(progress::wanted))
                .boxed(),
        );
    }
    tracing_subscriber::registry().with(layers).init();
}

/// The filter of log lines for `-q`/`-v` counts. The default shows warnings, errors and the
/// summary line of each run; -v and -vv add this program's detail; the HTTP, TLS and database
/// libraries' own debug output only comes with -vvv (sqlx logs every slow statement at info,
/// PostgreSQL NOTICEs at warn).
fn default_filter(quiet: u8, verbose: u8) -> String {
    match (quiet, verbose) {
        (q, _) if q >= 2 => "off".to_owned(),
        (1, _) => "error".to_owned(),
        (_, 0) => format!("warn,sqlx=error,refinery_core=warn,{SUMMARY}=info"),
        (_, v @ (1 | 2)) => {
            let ours = if v == 1 { "info" } else { "debug" };
            format!("warn,sqlx=error,refinery_core=warn,vpn_inventory={ours},vpn_simulator={ours}")
        }
        _ => "trace".to_owned(),
    }
}

/// A writer of log lines that hides secrets in each (`crate::text::redact_secrets`). The
/// formatter writes a whole line at once, so no secret is split between two writes.
struct Redacting<W>(W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        self.0
            .write_all(crate::text::redact_secrets(&line).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Puts the run id a span carries on the `run` span around it.
struct RunContext;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RunContext {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut found = RunIdField(None);
        attrs.record(&mut found);
        let (Some(run_id), Some(span)) = (found.0, ctx.span(id)) else {
            return;
        };
        if let Some(run) = span.scope().skip(1).find(|s| s.name() == "run") {
            run.extensions_mut().insert(RunId(run_id));
        }
    }
}

/// The `run_id` field of a span, if it has one.
struct RunIdField(Option<i64>);

impl Visit for RunIdField {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "run_id" {
            self.0 = Some(value);
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_i64(field, i64::try_from(value).unwrap_or(i64::MAX));
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_level_shows_the_summary_and_quiet_does_not() {
        assert!(default_filter(0, 0).contains("vpn_inventory::summary=info"));
        assert!(!default_filter(1, 0).contains("summary"));
        assert_eq!(default_filter(2, 0), "off");
        assert!(default_filter(0, 1).contains("vpn_inventory=info"));
    }
}
