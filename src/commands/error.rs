//! How a command ends when it does not succeed: the error `main` prints, and its exit code.

use crate::config::InvalidConfig;
use crate::shutdown::Interrupted;
use crate::sync::{RunError, RunFailed};
use crate::text::one_line;
use std::process::ExitCode;

/// The exit code of a usage mistake, whether clap or a command finds it (sysexits' EX_USAGE):
/// clap's own 2 is what `--detailed-exitcode` gives to "changes found", and a typo in a
/// crontab must not look like drift.
pub const USAGE_ERROR: u8 = 64;

/// How a command ended when it did not succeed; `main` prints it and exits with `exit_code`.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// SIGINT/SIGTERM stopped a run at a safe point.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
    /// The failure of a sync of one target, which `main`'s JSON log line names.
    #[error("{error}")]
    OfTarget {
        target: String,
        error: Box<CommandError>,
    },
}

impl CommandError {
    /// The error and its causes on one line, each once, safe for a terminal.
    pub fn message(&self) -> String {
        match self {
            CommandError::Interrupted(interrupted) => one_line(&interrupted.to_string()),
            CommandError::Failed(error) => match error.downcast_ref::<InvalidConfig>() {
                // Line for line, each line still escaped: TOML points at the column below.
                Some(invalid) => {
                    let lines: Vec<String> = invalid.message.lines().map(one_line).collect();
                    let path = one_line(&invalid.path.display().to_string());
                    format!("invalid configuration {path}:\n{}", lines.join("\n"))
                }
                None => one_line(&crate::store::error_text(error.as_ref())),
            },
            CommandError::OfTarget { error, .. } => error.message(),
        }
    }

    /// The target whose sync failed, when the error names one.
    pub fn target(&self) -> Option<&str> {
        match self {
            CommandError::OfTarget { target, .. } => Some(target),
            _ => None,
        }
    }

    /// The error without the target it names.
    pub fn inner(&self) -> &CommandError {
        match self {
            CommandError::OfTarget { error, .. } => error.inner(),
            other => other,
        }
    }

    /// The run that failed, when the error names one.
    pub fn run_id(&self) -> Option<i64> {
        match self {
            CommandError::Interrupted(_) => None,
            CommandError::Failed(error) => error.downcast_ref::<RunFailed>().map(|f| f.run_id),
            CommandError::OfTarget { error, .. } => error.run_id(),
        }
    }

    /// 130 or 143 for an interruption, as a shell reports SIGINT or SIGTERM; [`USAGE_ERROR`]
    /// for a usage mistake ([`crate::usage::UsageError`]); 1 for any other failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CommandError::Interrupted(interrupted) => ExitCode::from(interrupted.exit_code()),
            CommandError::Failed(error) if crate::usage::is_usage(error) => {
                ExitCode::from(USAGE_ERROR)
            }
            CommandError::Failed(_) => ExitCode::FAILURE,
            CommandError::OfTarget { error, .. } => error.exit_code(),
        }
    }
}

impl From<RunError> for CommandError {
    fn from(error: RunError) -> Self {
        match error {
            RunError::Interrupted(interrupted) => interrupted.into(),
            RunError::Failed(error) => error.into(),
        }
    }
}
