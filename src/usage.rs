//! A usage mistake found after the command line parsed: an unknown report, target or
//! parameter, a period that ends before it starts. Whatever layer finds one returns a
//! [`UsageError`] (inside an `anyhow::Error`, context and all); `main` exits 64 for it, as it
//! does for what clap refuses, so one mistake gets one exit code however it is found, and
//! never 2, which `--detailed-exitcode` gives to "changes found".

/// The command line asks for something that is not there or cannot be: the message names it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `Err` of a [`UsageError`] saying `message`.
pub fn mistake<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(message.into()).into())
}

/// Whether `error` or one of its causes is a usage mistake.
pub fn is_usage(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<UsageError>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn a_mistake_stays_one_under_context() {
        let error = mistake::<()>("no report \"x\"")
            .context("report x")
            .unwrap_err();
        assert!(is_usage(&error));
        assert_eq!(format!("{error:#}"), "report x: no report \"x\"");
        assert!(!is_usage(&anyhow::anyhow!("the database is down")));
    }
}
