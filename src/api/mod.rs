//! The Huawei Cloud APIs: request signing and the signed HTTP path, the VPN list client and its
//! page prefetch, paging decisions, retries, the model, and the CTS traces client.
//!
//! The signer is its own crate (`hwcloud-signer`, shared with the simulator); it stays reachable
//! here as `api::signer`.

pub mod client;
pub mod credentials;
pub mod error;
pub mod filters;
pub mod model;
pub mod page;
pub mod paging;
pub mod prefetch;
pub mod retry;
pub mod signed;
pub mod traces;

pub use hwcloud_signer as signer;
