//! What can go wrong in the store: the database failed, or what it holds breaks an invariant
//! the store keeps (a hand-edited or corrupt database).

/// An error of the inventory database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Lock(#[from] super::dialect::LockError),
    #[error("the inventory database is inconsistent: {0}")]
    Inconsistent(String),
    #[error(
        "another run kept the database busy applying for longer than {waited:?} \
         (--lock-timeout)"
    )]
    ApplyBusy { waited: std::time::Duration },
    /// The run is no longer this process's to finish: another one marked it.
    #[error(
        "run {run_id} is {status}: another process took over its scope (this one lost its lock) \
         and marked it abandoned, so it applies nothing"
    )]
    NotRunning { run_id: i64, status: String },
    /// Writing some of a page's connections failed: `what` names them, so that a value the
    /// database refuses can be traced to its connection.
    #[error("cannot store {what}")]
    Connections {
        what: String,
        #[source]
        source: sqlx::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether `error` (or one of its causes) is SQLite's "database is locked": a statement gave
/// up waiting for the write lock another process held (see `--lock-timeout`).
pub fn waited_for_write_lock(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        // `StoreError::Database` is transparent: its source is the sqlx error's own source.
        let sqlx = e.downcast_ref::<sqlx::Error>().or(match e.downcast_ref() {
            Some(StoreError::Database(e)) => Some(e),
            _ => None,
        });
        if sqlx.is_some_and(super::dialect::is_busy) {
            return true;
        }
        next = e.source();
    }
    false
}

/// The connections `ids` (one statement's) as an error names them: each id's start, escaped.
pub fn connections_error(ids: &[&str], source: sqlx::Error) -> StoreError {
    let what = match ids {
        [id] => format!("connection {}", crate::text::start(id)),
        [first, .., last] => format!(
            "one of {} connections, from {} to {}",
            ids.len(),
            crate::text::start(first),
            crate::text::start(last)
        ),
        [] => "no connection".to_owned(),
    };
    StoreError::Connections { what, source }
}

/// An error and its causes on one line, each once, database errors in few words
/// (`dialect::worded`) and no secret shown: what a command prints and a failed run records.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    crate::text::causes_shown(error, super::dialect::worded)
}

/// An invariant the stored data breaks.
pub fn inconsistent(what: impl Into<String>) -> StoreError {
    StoreError::Inconsistent(what.into())
}

#[cfg(test)]
mod tests {
    use super::connections_error;

    #[test]
    fn a_failed_write_names_its_connections_by_their_start() {
        let long = "x".repeat(100);
        let error = |ids: &[&str]| connections_error(ids, sqlx::Error::RowNotFound).to_string();
        assert_eq!(error(&["a\nb"]), "cannot store connection a\\nb");
        assert_eq!(
            error(&["a", "b", long.as_str()]),
            format!(
                "cannot store one of 3 connections, from a to {}... (100 characters)",
                &long[..64]
            )
        );
    }
}
