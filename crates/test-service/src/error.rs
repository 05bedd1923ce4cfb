//! Errors of the public API.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Rules(#[from] crate::rules::RulesError),
    #[error(transparent)]
    Seed(#[from] crate::ops::SeedError),
    #[error("invalid op: {0}")]
    Op(#[from] crate::ops::OpError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot read {path}: {source}", path = path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}", path = path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<ServiceError>,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the service runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
