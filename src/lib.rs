//! vpn-inventory: a local SQL inventory of Huawei Cloud site-to-site VPN connections.
//!
//! The binary (`main.rs`) is a thin shell over this library so that integration tests and the
//! built-in simulator use the same code as users do. Concerns are kept apart: `api` talks to
//! the cloud (signing, paging, model), `store` gets and puts the database's rows, `drift` and
//! `reconcile` decide what a run changed and may remove, `sync` sequences a run, `reports`
//! runs the SQL reports of `queries/`, `commands` are the subcommands, `logging` writes the
//! log lines and progress bars of stderr; `usage` marks the mistakes that exit 64. The fake
//! cloud is the `vpn-simulator` crate, built in with the default `simulator` feature (the
//! `simulate` and `demo` subcommands).

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod confirm;
pub mod drift;
pub mod json;
pub mod logging;
pub mod net;
pub mod policy;
pub mod reconcile;
pub mod reports;
pub mod scope;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod text;
pub mod time;
pub mod usage;
