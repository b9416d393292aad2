//! The Huawei Cloud VPN API: request signing, the list client, paging decisions, the model.

pub mod client;
pub mod credentials;
pub mod error;
pub mod filters;
pub mod model;
pub mod paging;
pub mod signer;
