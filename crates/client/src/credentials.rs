//! Credentials and their cache (docs/protocol.md, "The client's side").

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Mutex;

use crate::connector::BackendConnector;
use crate::error::SyncError;

/// Where and how to reach the PowerSync service. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Service base URL, without a trailing `/`.
    pub endpoint: String,
    pub token: String,
    pub expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Credentials {
    pub fn new(endpoint: impl Into<String>, token: impl Into<String>) -> Self {
        Credentials {
            endpoint: endpoint.into(),
            token: token.into(),
            expires_at: None,
        }
    }

    fn validate(self) -> Result<Credentials, SyncError> {
        if self.endpoint.is_empty() {
            return Err(SyncError::Endpoint {
                endpoint: self.endpoint,
                reason: "the endpoint is empty",
            });
        }
        if self.endpoint.ends_with('/') {
            return Err(SyncError::Endpoint {
                endpoint: self.endpoint,
                reason: "the endpoint must not end with '/'",
            });
        }
        if self.token.is_empty() {
            return Err(SyncError::Unauthorized {
                path: "(credentials)".into(),
                body: "the token is empty".into(),
            });
        }
        Ok(self)
    }
}

/// Caches the connector's credentials until they are invalidated.
pub(crate) struct CredentialsCache {
    connector: Arc<dyn BackendConnector>,
    cached: Mutex<Option<Credentials>>,
}

impl CredentialsCache {
    pub(crate) fn new(connector: Arc<dyn BackendConnector>) -> Self {
        CredentialsCache {
            connector,
            cached: Mutex::new(None),
        }
    }

    /// Cached credentials, or freshly fetched ones. The lock is held while fetching so that
    /// concurrent callers share one fetch.
    pub(crate) async fn get(&self) -> Result<Credentials, SyncError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let fresh = self.fetch().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Fetches new credentials while the old ones stay usable (docs/protocol.md, "The client's side"); replaces them on
    /// success. The connector is told first, so that one caching tokens itself fetches anew.
    pub(crate) async fn refresh(&self) -> Result<(), SyncError> {
        self.connector.invalidate_credentials();
        let fresh = self.fetch().await?;
        *self.cached.lock().await = Some(fresh);
        Ok(())
    }

    /// Runs one request with the cached credentials; a 401 (or an empty token) invalidates them,
    /// whatever the request (docs/protocol.md, "The client's side").
    pub(crate) async fn call<T, F, Fut>(&self, request: F) -> Result<T, SyncError>
    where
        F: FnOnce(Credentials) -> Fut,
        Fut: std::future::Future<Output = Result<T, SyncError>>,
    {
        let result = match self.get().await {
            Ok(creds) => request(creds).await,
            Err(e) => Err(e),
        };
        if let Err(SyncError::Unauthorized { .. }) = &result {
            self.invalidate().await;
        }
        result
    }

    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
        self.connector.invalidate_credentials();
    }

    async fn fetch(&self) -> Result<Credentials, SyncError> {
        match self.connector.fetch_credentials().await {
            Ok(Some(c)) => c.validate(),
            Ok(None) => Err(SyncError::NoCredentials),
            Err(e) => Err(SyncError::Credentials(e.to_string())),
        }
    }

    pub(crate) fn connector(&self) -> &Arc<dyn BackendConnector> {
        &self.connector
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_token() {
        let c = Credentials::new("http://x", "secret.jwt.value");
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret.jwt.value"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn validation() {
        assert!(Credentials::new("http://x/", "t").validate().is_err());
        assert!(Credentials::new("", "t").validate().is_err());
        assert!(matches!(
            Credentials::new("http://x", "").validate(),
            Err(SyncError::Unauthorized { .. })
        ));
        assert!(Credentials::new("http://x", "t").validate().is_ok());
    }
}
