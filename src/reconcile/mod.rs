//! What a run changed in the inventory, and what it may remove: the rules of the apply, above
//! the store and without SQL.
//!
//! There is one inventory per project, and every run observes part of it. Applying a complete
//! sweep compares each staged connection with the inventory's *current* version, whichever
//! run stored it (`classify.rs`):
//! - not held: `added`; held with other content: `modified` field by field (`drift::judge`),
//!   or no record when only what is never a change differs; the same content: nothing;
//! - held with a *newer* observation (another run fetched it after this one did): nothing at
//!   all, so an older sweep never overwrites a newer one.
//!
//! Then the connections the run's scope selects that the sweep lacked are removed, unless
//! the sweep is in doubt, its guard finds them implausible, or (a filtered run) the API did
//! not confirm them gone (`removals.rs`). `apply.rs` sequences the store's calls in the one
//! transaction in which a run changes the inventory; `context.rs` holds what its decisions
//! share. The store only gets and puts the rows these rules name.

mod apply;
mod classify;
mod context;
mod removals;

pub use apply::{Applied, Applying, complete_run};
pub use removals::{Removable, RemovalGuard, Removals, removal_candidates};
