//! What every AWS API flightdeck speaks needs: credentials from the standard chain, SigV4, and the
//! JSON protocol with its errors, retries and endpoints.

pub mod credentials;
mod federated;
pub mod json_rpc;
pub mod logs;
pub mod profile;
pub mod sigv4;
pub mod sts;

pub use credentials::{Credentials, credentials};
