//! How a service is set up: address, database, rules, JWT key, timings, seed data.

use crate::auth::JwtKey;
use crate::error::ServiceError;
use crate::ops::{self, ServerOp};
use crate::rules::Rules;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything a [`crate::TestService`] needs. Build it with [`ServiceConfig::from_rules_json`]
/// (or `default()` for a service without buckets) and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) db_path: Option<PathBuf>,
    pub(crate) rules: Rules,
    pub(crate) jwt: JwtKey,
    pub(crate) keepalive: Duration,
    pub(crate) data_batch_size: usize,
    pub(crate) seed: Vec<ServerOp>,
}

impl Default for ServiceConfig {
    /// 127.0.0.1 on a free port, in-memory data, no buckets, the default JWT key
    /// (`crate::DEFAULT_SECRET` / `DEFAULT_KID` / `DEFAULT_AUDIENCE`), keepalive every 20 s.
    fn default() -> Self {
        ServiceConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            db_path: None,
            rules: Rules::default(),
            jwt: JwtKey::default(),
            keepalive: Duration::from_secs(20),
            data_batch_size: 1000,
            seed: Vec::new(),
        }
    }
}

impl ServiceConfig {
    /// Defaults plus the rules in `json` (format in the README).
    pub fn from_rules_json(json: &str) -> Result<Self, ServiceError> {
        Ok(ServiceConfig {
            rules: Rules::from_json(json)?,
            ..ServiceConfig::default()
        })
    }

    pub fn from_rules_file(path: impl AsRef<Path>) -> Result<Self, ServiceError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| ServiceError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        Self::from_rules_json(&json).map_err(|e| ServiceError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Address to listen on (default `127.0.0.1:0`, a free port).
    pub fn with_listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Keep the data in this SQLite file (created if missing) instead of in memory.
    pub fn with_db_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.db_path = Some(path.into());
        self
    }

    pub fn with_jwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.jwt.secret = secret.into();
        self
    }

    pub fn with_jwt_kid(mut self, kid: impl Into<String>) -> Self {
        self.jwt.kid = kid.into();
        self
    }

    pub fn with_jwt_audience(mut self, audience: impl Into<String>) -> Self {
        self.jwt.audience = audience.into();
        self
    }

    /// How often a connected stream gets a `token_expires_in` line (default 20 s).
    pub fn with_keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive = interval.max(Duration::from_millis(1));
        self
    }

    /// Maximum ops per `data` line (default 1000).
    pub fn with_data_batch_size(mut self, ops: usize) -> Self {
        self.data_batch_size = ops.max(1);
        self
    }

    /// Rows to PUT at start-up when the database is empty (format in the README).
    pub fn with_seed_json(mut self, json: &str) -> Result<Self, ServiceError> {
        self.seed = ops::from_seed_json(json)?;
        Ok(self)
    }

    pub fn with_seed_file(self, path: impl AsRef<Path>) -> Result<Self, ServiceError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| ServiceError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        self.with_seed_json(&json).map_err(|e| ServiceError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// A valid token for user `sub` signed with this configuration's key (no service needed).
    pub fn token(&self, sub: &str, expires_in: Duration) -> String {
        self.jwt.issue(sub, expires_in)
    }
}
