//! SIGINT/SIGTERM handling that never cuts a database transaction in half.
//!
//! A signal only cancels a token (`Shutdown`); a run checks it at its safe points: while waiting
//! on the network, and between transactions. A page being staged is finished, and an apply that
//! has started commits, so an interrupted run is simply a failed run with nothing half-written.
//! A time limit (`with_time_limit`) stops a run at the same safe points.

use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A run stopped by SIGINT/SIGTERM: exits as a shell reports a process the signal ended
/// ([`Interrupted::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal}; {}nothing was changed", what_became_of(.run))]
pub struct Interrupted {
    /// The signal, or the reason to stop.
    pub signal: &'static str,
    /// The run it stopped, once one was recorded, and whether it was marked failed.
    pub run: Option<(i64, bool)>,
}

fn what_became_of(run: &Option<(i64, bool)>) -> String {
    match run {
        None => "no run was recorded and ".to_owned(),
        Some((id, true)) => format!("run {id} was marked failed and "),
        Some((id, false)) => format!("run {id} could not be marked failed (the next sync does); "),
    }
}

impl Interrupted {
    /// An interruption by `signal`, before any run was recorded.
    pub fn by(signal: &'static str) -> Self {
        Self { signal, run: None }
    }

    /// 128 plus the signal's number: 143 for SIGTERM, 130 for SIGINT (and for any other
    /// reason to stop).
    pub fn exit_code(&self) -> u8 {
        match self.signal {
            "SIGTERM" => 143,
            _ => 130,
        }
    }
}

/// Why work that gives way to a shutdown request did not complete (a run: `sync::RunError`).
/// Callers branch on it: an interruption exits 130, an error 1.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Whether (and by which signal) the process was asked to stop. Clones share one token.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    /// Set once, just before the token is cancelled.
    signal: Arc<OnceLock<&'static str>>,
    /// When this holder's time is up, and what to name as the reason then.
    deadline: Option<(Instant, &'static str)>,
}

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM.
    pub fn listen() -> Self {
        let shutdown = Self::default();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            let signal = signal().await;
            on_signal.request(signal);
        });
        shutdown
    }

    /// A shutdown that never comes (for library callers that handle signals themselves).
    pub fn never() -> Self {
        Self::default()
    }

    /// Asks every holder of this shutdown to stop at its next safe point.
    pub fn request(&self, signal: &'static str) {
        let _ = self.signal.set(signal);
        self.token.cancel();
    }

    /// The same shutdown, which also comes `limit` from now, naming `reason`: work bounded in
    /// time stops at the safe points where it gives way to a signal, and nowhere else.
    pub fn with_time_limit(&self, limit: Duration, reason: &'static str) -> Self {
        // A limit past what an Instant holds is no limit.
        let deadline = Instant::now().checked_add(limit).map(|at| (at, reason));
        Self {
            deadline,
            ..self.clone()
        }
    }

    /// The signal received so far, if any; else the time limit's reason, once it has passed.
    pub fn received(&self) -> Option<&'static str> {
        if self.token.is_cancelled() {
            return Some(self.signal.get().copied().unwrap_or("a shutdown request"));
        }
        self.time_is_up()
    }

    /// The time limit's reason once it has passed (and no signal came first).
    pub fn time_is_up(&self) -> Option<&'static str> {
        let (at, reason) = self.deadline?;
        (!self.token.is_cancelled() && Instant::now() >= at).then_some(reason)
    }

    /// Resolves when a signal arrives or the time limit passes; never, if neither does.
    pub async fn requested(&self) -> Interrupted {
        match self.deadline {
            Some((at, _)) => tokio::select! {
                () = self.token.cancelled() => {}
                () = tokio::time::sleep_until(at) => {}
            },
            None => self.token.cancelled().await,
        }
        Interrupted::by(self.received().unwrap_or("a shutdown request"))
    }
}

/// Resolves on SIGINT or SIGTERM (what cron's timeout and systemd send), naming the signal.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_reaches_every_clone_and_names_the_signal() {
        let shutdown = Shutdown::never();
        let waiter = shutdown.clone();
        assert_eq!(waiter.received(), None);
        let waiting = tokio::spawn(async move { waiter.requested().await.signal });
        shutdown.request("SIGTERM");
        assert_eq!(waiting.await.unwrap(), "SIGTERM");
        assert_eq!(shutdown.received(), Some("SIGTERM"));
    }

    #[tokio::test]
    async fn a_time_limit_stops_its_holder_only_and_a_signal_still_comes_through() {
        let shutdown = Shutdown::never();
        let unlimited = shutdown.with_time_limit(Duration::MAX, "never");
        assert_eq!(unlimited.received(), None);
        let bounded = shutdown.with_time_limit(Duration::ZERO, "the limit");
        assert_eq!(bounded.requested().await.signal, "the limit");
        assert_eq!(bounded.time_is_up(), Some("the limit"));
        assert_eq!(shutdown.received(), None, "the unbounded holder goes on");

        let bounded = shutdown.with_time_limit(Duration::from_secs(3600), "the limit");
        assert_eq!(bounded.received(), None);
        shutdown.request("SIGINT");
        assert_eq!(bounded.requested().await.signal, "SIGINT");
        assert_eq!(bounded.time_is_up(), None, "a signal is no time limit");
    }
}
