//! A progress bar per run on a terminal: pages, connections of the API's `total_count`, rate
//! and elapsed time, driven by the sweep's `page received` events (`crate::sync`), so the sync
//! itself knows nothing of terminals. Log lines are written with the bars suspended, so a bar
//! never garbles them; a bar is cleared when its run's span closes.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The bars of the runs in progress, drawn together.
#[derive(Clone)]
pub struct Bars {
    multi: MultiProgress,
    /// Every bar made, for the tests to look at.
    #[cfg(test)]
    created: std::sync::Arc<std::sync::Mutex<Vec<ProgressBar>>>,
}

impl Bars {
    /// Bars drawn on stderr (the caller checked it is a terminal).
    pub fn on_stderr() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    pub fn with_target(target: ProgressDrawTarget) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(target),
            #[cfg(test)]
            created: Default::default(),
        }
    }

    /// The layer that moves the bars.
    pub fn layer(&self) -> ProgressLayer {
        ProgressLayer { bars: self.clone() }
    }

    /// A writer for log lines: each write happens with the bars cleared, then redrawn.
    pub fn writer(&self) -> impl Fn() -> SuspendingStderr + Send + Sync + 'static {
        let multi = self.multi.clone();
        move || SuspendingStderr {
            multi: multi.clone(),
        }
    }
}

/// Stderr, written with the bars suspended.
pub struct SuspendingStderr {
    multi: MultiProgress,
}

impl std::io::Write for SuspendingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.multi
            .suspend(|| std::io::stderr().write_all(buf))
            .map(|()| buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// What the bar layer needs to see: `run` spans, and the sweep's events at info.
pub fn wanted(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.name() == "run" && meta.target().starts_with("vpn_inventory")
    } else {
        meta.target() == "vpn_inventory::sync" && *meta.level() <= Level::INFO
    }
}

/// A run's progress as the sweep's events tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The number of the latest page (a resumed sweep starts past 1).
    pub page: u64,
    /// Connections received in this process (a page's overlap with the one before dropped).
    pub connections: u64,
    /// The project's `total_count`, as the latest page gave it.
    pub total: Option<u64>,
}

impl Progress {
    /// Takes one `page received` event in; false for any other event.
    pub fn take(&mut self, event: &Event<'_>) -> bool {
        let mut page = PageFields::default();
        event.record(&mut page);
        if !page.is_page {
            return false;
        }
        self.page = page.page.unwrap_or(self.page + 1);
        self.connections += page.connections.unwrap_or(0);
        self.total = page.total.or(self.total);
        true
    }
}

#[derive(Default)]
struct PageFields {
    is_page: bool,
    page: Option<u64>,
    connections: Option<u64>,
    total: Option<u64>,
}

impl Visit for PageFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "page" => self.page = Some(value),
            "connections" => self.connections = Some(value),
            "total_count" => self.total = Some(value),
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.is_page = format!("{value:?}") == "page received";
        }
    }
}

/// A run's bar and what it shows.
struct RunBar {
    bar: ProgressBar,
    progress: Progress,
}

/// The run's name for its bar: the `target` field of its span.
struct RunName(String);

/// Moves each run's bar as its pages arrive.
pub struct ProgressLayer {
    bars: Bars,
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for ProgressLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut name = NameField(String::new());
        attrs.record(&mut name);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(RunName(name.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(run) = ctx
            .event_scope(event)
            .and_then(|mut scope| scope.find(|s| s.name() == "run"))
        else {
            return;
        };
        let mut extensions = run.extensions_mut();
        let mut progress = extensions
            .get_mut::<RunBar>()
            .map(|b| b.progress.clone())
            .unwrap_or_default();
        if !progress.take(event) {
            return;
        }
        if extensions.get_mut::<RunBar>().is_none() {
            let name = extensions.get_mut::<RunName>().map(|n| n.0.clone());
            let bar = ProgressBar::no_length().with_style(style(None));
            let bar = self.bars.multi.add(bar);
            bar.set_prefix(crate::text::one_line(&name.unwrap_or_default()));
            #[cfg(test)]
            self.bars
                .created
                .lock()
                .expect("not poisoned")
                .push(bar.clone());
            extensions.insert(RunBar {
                bar,
                progress: Progress::default(),
            });
        }
        let run_bar = extensions.get_mut::<RunBar>().expect("inserted above");
        show(&run_bar.bar, &run_bar.progress, &progress);
        run_bar.progress = progress;
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(run_bar) = span.extensions_mut().remove::<RunBar>()
        {
            run_bar.bar.finish_and_clear();
            self.bars.multi.remove(&run_bar.bar);
        }
    }
}

/// Updates `bar` from `before` to `now`.
fn show(bar: &ProgressBar, before: &Progress, now: &Progress) {
    if now.total != before.total {
        bar.set_style(style(now.total));
        if let Some(total) = now.total {
            bar.set_length(total);
        }
    }
    bar.set_position(now.connections);
    let seconds = bar.elapsed().as_secs_f64();
    let rate = match seconds > 0.0 {
        true => format!("{:.0}/s", now.connections as f64 / seconds),
        false => "-".to_owned(),
    };
    bar.set_message(format!("page {}, {rate}", now.page));
}

/// A bar of connections out of `total`, or a spinner when the API gave no total.
fn style(total: Option<u64>) -> ProgressStyle {
    let template = match total {
        Some(_) => "{prefix} {elapsed_precise} [{bar:30}] {pos}/{len} connections, {msg}",
        None => "{prefix} {elapsed_precise} {spinner} {pos} connections, {msg}",
    };
    ProgressStyle::with_template(template).expect("a valid template")
}

/// The `target` field of a span.
struct NameField(String);

impl Visit for NameField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "target" {
            value.clone_into(&mut self.0);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "target" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Bars drawn nowhere, and a subscriber with their layer.
    fn subscriber() -> (Bars, impl Subscriber + Send + Sync) {
        let bars = Bars::with_target(ProgressDrawTarget::hidden());
        let layer = bars
            .layer()
            .with_filter(tracing_subscriber::filter::filter_fn(wanted));
        (bars.clone(), tracing_subscriber::registry().with(layer))
    }

    fn page(page: u64, connections: u64, total: Option<u64>) {
        tracing::info!(
            target: "vpn_inventory::sync",
            page,
            connections,
            overlap = 0,
            total_count = total,
            "page received"
        );
    }

    #[test]
    fn pages_move_the_bar_of_their_run() {
        let (bars, subscriber) = subscriber();
        tracing::subscriber::with_default(subscriber, || {
            let run = crate::logging::run_span("prod-north");
            let _entered = run.enter();
            page(1, 200, Some(450));
            // Another event of the sweep is no page.
            tracing::info!(target: "vpn_inventory::sync", page = 9, "ids repeated");
            page(2, 199, Some(450));
            let bar = bars_of(&bars);
            assert_eq!(bar.position(), 399);
            assert_eq!(bar.length(), Some(450));
            assert!(bar.message().starts_with("page 2, "), "{}", bar.message());
            assert_eq!(bar.prefix(), "prod-north");
        });
    }

    #[test]
    fn a_closed_run_clears_its_bar_and_pages_outside_a_run_draw_none() {
        let (bars, subscriber) = subscriber();
        tracing::subscriber::with_default(subscriber, || {
            page(1, 10, None);
            assert!(last_bar(&bars).is_none(), "no run, no bar");
            let run = crate::logging::run_span("lab");
            run.in_scope(|| page(1, 10, None));
            let bar = bars_of(&bars);
            assert_eq!((bar.position(), bar.length()), (10, None));
            drop(run);
            assert!(bar.is_finished());
        });
    }

    /// The bar the latest page event created.
    fn bars_of(bars: &Bars) -> ProgressBar {
        last_bar(bars).expect("a bar")
    }

    fn last_bar(bars: &Bars) -> Option<ProgressBar> {
        bars.created.lock().expect("not poisoned").last().cloned()
    }
}
