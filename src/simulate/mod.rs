//! The built-in API simulator: generated data (`data`) served over HTTP (`server`).

pub mod data;
pub mod mutate;
pub mod server;

pub use server::{Faults, RunningSimulator, SimConfig, SimState, spawn};
