//! vpn-inventory: a local SQL inventory of Huawei Cloud site-to-site VPN connections.
//!
//! The binary (`main.rs`) is a thin shell over this library so that integration tests and the
//! built-in simulator use the same code as users do. Concerns are kept apart: `api` talks to
//! the cloud (signing, paging, model), `store` owns the database, `sync` sequences a run,
//! `simulate` fakes the cloud, `commands` are the subcommands.

pub mod api;
pub mod cli;
pub mod commands;
pub mod drift;
pub mod scope;
pub mod shutdown;
pub mod simulate;
pub mod store;
pub mod sync;
pub mod time;
