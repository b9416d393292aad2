//! vpn-simulator: a local fake of the Huawei Cloud VPN connection list API, for demos and tests.
//!
//! It owns generated data (`data`), the mutations that make it drift (`mutate`), the seeded
//! randomness and value tables both draw from (`random`), the HTTP server (`server`) and the
//! compact form it holds the inventory in (`held`); `wire` reads the API's timestamps and
//! compares its JSON. Signatures are checked with the client's own signer (`hwcloud-signer`).
//! It does not depend on `vpn-inventory`: the product depends on it, behind its default
//! `simulator` feature, and its tests use it as a dev-dependency.

pub mod data;
mod held;
pub mod mutate;
pub mod random;
pub mod server;
pub mod traces;
pub mod wire;

pub use server::{
    Faults, RunningSimulator, SimConfig, SimState, Transient, TransientAnswer, spawn,
};
