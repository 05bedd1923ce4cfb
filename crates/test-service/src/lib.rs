//! powersync-test-service: a small, protocol-faithful PowerSync service backed by SQLite, for
//! tests, demos and app developers' integration tests. See the crate README for the rules file,
//! the endpoints and fault injection.

mod auth;
mod checksum;
mod config;
mod error;
mod faults;
mod framing;
mod http;
mod lines;
mod ops;
mod rules;
mod service;
mod store;
mod stream;

pub use auth::{DEFAULT_AUDIENCE, DEFAULT_KID, DEFAULT_SECRET};
pub use config::ServiceConfig;
pub use error::ServiceError;
pub use faults::Fault;
pub use ops::{OpError, SeedError, ServerOp};
pub use rules::RulesError;
pub use service::{Stats, TestService};
pub use store::StoreError;
