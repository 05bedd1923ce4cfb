//! Sync-stream subscriptions (docs/protocol.md, "Sync streams and subscriptions"). Parameters are kept as JSON text and sent
//! byte-identical in `subscriptions`, `start.active_streams` and `update_subscriptions`.

use std::time::Duration;

use crate::db::pool::{control, ControlPayload};
use crate::error::Result;
use crate::sync::Event;
use crate::PowerSyncDatabase;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamKey {
    pub name: String,
    /// JSON text, or `None` for no parameters.
    pub params: Option<String>,
}

impl StreamKey {
    fn json(&self) -> String {
        format!(
            r#"{{"name":{},"params":{}}}"#,
            serde_json::Value::String(self.name.clone()),
            self.params.as_deref().unwrap_or("null")
        )
    }
}

pub(crate) fn active_streams_json(streams: &[StreamKey]) -> String {
    format!(
        "[{}]",
        streams.iter().map(StreamKey::json).collect::<Vec<_>>().join(",")
    )
}

/// Options of [`PowerSyncDatabase::subscribe`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SubscribeOptions {
    /// How long the subscription is kept after it is no longer used (default: one day).
    pub ttl: Option<Duration>,
    pub priority: Option<i32>,
}

/// An active subscription to a sync stream.
#[derive(Clone)]
pub struct SyncStreamSubscription {
    db: PowerSyncDatabase,
    key: StreamKey,
}

impl std::fmt::Debug for SyncStreamSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncStreamSubscription")
            .field("name", &self.key.name)
            .field("params", &self.key.params)
            .finish()
    }
}

impl SyncStreamSubscription {
    pub fn name(&self) -> &str {
        &self.key.name
    }

    pub fn parameters(&self) -> Option<&str> {
        self.key.params.as_deref()
    }

    /// Waits until the stream's data was synced at least once.
    pub async fn wait_for_first_sync(&self) -> Result<()> {
        let mut rx = self.db.inner.status.subscribe();
        let key = self.key.clone();
        rx.wait_for(|s| {
            s.streams
                .iter()
                .any(|st| st.name == key.name && st.parameters == key.params && st.last_synced_at_ms.is_some())
        })
        .await
        .map_err(|_| crate::Error::NotConnected)?;
        Ok(())
    }

    /// Removes the explicit subscription.
    pub async fn unsubscribe(self) -> Result<()> {
        let payload = format!(r#"{{"unsubscribe":{}}}"#, self.key.json());
        self.db
            .inner
            .pool
            .write(move |c| control(c, "subscriptions", ControlPayload::Text(payload)).map(|_| ()))
            .await?;
        let list = {
            let mut active = self.db.inner.streams.lock().unwrap_or_else(|e| e.into_inner());
            active.retain(|k| k != &self.key);
            active_streams_json(&active)
        };
        self.db.send_event(Event::UpdateSubscriptions(list)).await;
        Ok(())
    }
}

pub(crate) async fn subscribe(
    db: &PowerSyncDatabase,
    name: &str,
    params: Option<&serde_json::Value>,
    options: SubscribeOptions,
) -> Result<SyncStreamSubscription> {
    let key = StreamKey {
        name: name.to_string(),
        params: params.filter(|p| !p.is_null()).map(|p| p.to_string()),
    };
    let mut sub = format!(r#"{{"subscribe":{{"stream":{}"#, key.json());
    if let Some(ttl) = options.ttl {
        sub.push_str(&format!(r#","ttl":{}"#, ttl.as_secs()));
    }
    if let Some(p) = options.priority {
        sub.push_str(&format!(r#","priority":{p}"#));
    }
    sub.push_str("}}");
    db.inner
        .pool
        .write(move |c| control(c, "subscriptions", ControlPayload::Text(sub)).map(|_| ()))
        .await?;
    let list = {
        let mut active = db.inner.streams.lock().unwrap_or_else(|e| e.into_inner());
        if !active.contains(&key) {
            active.push(key.clone());
        }
        active_streams_json(&active)
    };
    db.send_event(Event::UpdateSubscriptions(list)).await;
    Ok(SyncStreamSubscription { db: db.clone(), key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_stream_json_keeps_param_text() {
        let s = vec![
            StreamKey {
                name: "todos".into(),
                params: Some(r#"{"list":"L1"}"#.into()),
            },
            StreamKey {
                name: "g\"x".into(),
                params: None,
            },
        ];
        assert_eq!(
            active_streams_json(&s),
            r#"[{"name":"todos","params":{"list":"L1"}},{"name":"g\"x","params":null}]"#
        );
        assert_eq!(active_streams_json(&[]), "[]");
    }
}
