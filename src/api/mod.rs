//! The Huawei Cloud VPN API: request signing, the list client and its page prefetch, paging
//! decisions, retries, the model.
//!
//! The signer is its own crate (`hwcloud-signer`, shared with the simulator); it stays reachable
//! here as `api::signer`.

pub mod client;
pub mod credentials;
pub mod error;
pub mod filters;
pub mod model;
pub mod paging;
pub mod prefetch;
pub mod retry;

pub use hwcloud_signer as signer;
