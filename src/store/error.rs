//! What can go wrong in the store: the database failed, or what it holds breaks an invariant
//! the store keeps (a hand-edited or corrupt database).

/// An error of the inventory database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Lock(#[from] super::lock::LockError),
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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An invariant the stored data breaks.
pub fn inconsistent(what: impl Into<String>) -> StoreError {
    StoreError::Inconsistent(what.into())
}
