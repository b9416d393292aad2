//! SIGINT/SIGTERM handling that never cuts a database transaction in half.
//!
//! A signal only sets a flag (`Shutdown`); a run checks it at its safe points: while waiting on
//! the network, and between transactions. A page being staged is finished, and an apply that
//! has started commits, so an interrupted run is simply a failed run with nothing half-written.

use tokio::sync::watch;

/// A run stopped by SIGINT/SIGTERM: exits 130 like a shell does.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}; the run was marked failed and nothing was changed")]
pub struct Interrupted(pub &'static str);

/// Whether (and by which signal) the process was asked to stop.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<Option<&'static str>>);

impl Shutdown {
    /// Starts listening for SIGINT and SIGTERM.
    pub fn listen() -> Self {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let signal = signal().await;
            let _ = tx.send(Some(signal));
        });
        Self(rx)
    }

    /// A shutdown that never comes (for library callers that handle signals themselves).
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(None);
        // Kept alive forever so `requested` just waits.
        std::mem::forget(tx);
        Self(rx)
    }

    /// The signal received so far, if any.
    pub fn received(&self) -> Option<&'static str> {
        *self.0.borrow()
    }

    /// Resolves when a signal arrives.
    pub async fn requested(&mut self) -> &'static str {
        loop {
            if let Some(signal) = *self.0.borrow_and_update() {
                return signal;
            }
            if self.0.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
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
