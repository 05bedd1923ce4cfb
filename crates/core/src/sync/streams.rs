//! Sync streams and subscriptions (docs/protocol.md, "Sync streams and subscriptions"): the `subscriptions` command, TTLs, the
//! subscription part of the stream request, and reconciling `ps_stream_subscriptions` with the
//! streams a checkpoint reports.

use rusqlite::{params, Connection};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{PsError, PsResult};
use crate::sql;
use crate::sync::instruction::{Instruction, Severity, SubscriptionRequest};
use crate::sync::line::{Checkpoint, Priority, StreamErrorSubscription, SubscriptionReason};
use crate::sync::status::{raw_json, BucketProgress, StreamProgress, StreamStatus};

/// Default time a subscription is kept without being used: one day.
const DEFAULT_TTL_SECONDS: i64 = 86_400;
/// Longest TTL we store (~285,000 years): `now + ttl * 1e6` must stay a 64-bit integer, also
/// when SQL recomputes it in `refresh_ttls`.
const MAX_TTL_SECONDS: i64 = 9_000_000_000_000;

/// A stream with its parameters (kept as the raw JSON text the SDK sent).
#[derive(Debug, Clone, Deserialize)]
pub struct StreamKey {
    pub name: String,
    #[serde(default)]
    pub params: Option<Box<RawValue>>,
}

impl StreamKey {
    /// The text stored in `local_params`.
    pub fn params_text(&self) -> &str {
        self.params.as_ref().map_or("null", |p| p.get())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionCommand {
    Subscribe {
        stream: StreamKey,
        #[serde(default)]
        ttl: Option<u64>,
        #[serde(default)]
        priority: Option<Priority>,
    },
    Unsubscribe(StreamKey),
}

pub fn apply_subscription_command(db: &Connection, command: &SubscriptionCommand, now: i64) -> PsResult<()> {
    match command {
        SubscriptionCommand::Subscribe { stream, ttl, priority } => {
            let ttl = ttl.map_or(DEFAULT_TTL_SECONDS, |t| t.min(MAX_TTL_SECONDS as u64) as i64);
            let expires_at = now.saturating_add(ttl.saturating_mul(1_000_000));
            sql::execute(
                db,
                "INSERT INTO ps_stream_subscriptions (stream_name, local_priority, local_params, ttl, expires_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (stream_name, local_params) DO UPDATE SET local_priority = min(coalesce(?2, local_priority), local_priority), ttl = ?4, expires_at = ?5",
                params![stream.name, priority.map(|p| p.0), stream.params_text(), ttl, expires_at],
            )?;
        }
        SubscriptionCommand::Unsubscribe(stream) => {
            sql::execute(
                db,
                "UPDATE ps_stream_subscriptions SET ttl = NULL WHERE stream_name = ? AND local_params = ?",
                params![stream.name, stream.params_text()],
            )?;
        }
    }
    Ok(())
}

/// Extends the expiry of the streams the app is using.
pub fn refresh_ttls(db: &Connection, active: &[StreamKey], now: i64) -> PsResult<()> {
    for stream in active {
        sql::execute(
            db,
            "UPDATE ps_stream_subscriptions SET expires_at = ?1 + ttl * 1000000 WHERE stream_name = ?2 AND local_params = ?3 AND ttl IS NOT NULL",
            params![now, stream.name, stream.params_text()],
        )?;
    }
    Ok(())
}

/// Deletes expired subscriptions and unsubscribed ones the service no longer syncs.
pub fn cleanup(db: &Connection, now: i64) -> PsResult<()> {
    sql::execute(
        db,
        "DELETE FROM ps_stream_subscriptions WHERE expires_at < ?1 OR (ttl IS NULL AND NOT active)",
        [now],
    )?;
    Ok(())
}

/// The explicit subscriptions, in table order (bucket `{"sub": i}` reasons index this list).
pub fn request_subscriptions(db: &Connection) -> PsResult<Vec<SubscriptionRequest>> {
    sql::query_all(
        db,
        "SELECT stream_name, local_params, local_priority FROM ps_stream_subscriptions WHERE ttl IS NOT NULL ORDER BY id",
        [],
        |r| {
            Ok(SubscriptionRequest {
                stream: r.get(0)?,
                parameters: raw_json(r.get::<_, Option<String>>(1)?.as_deref()),
                override_priority: r.get(2)?,
            })
        },
    )
}

/// One row of `ps_stream_subscriptions` as the status shows it.
#[derive(Debug, Clone)]
pub struct TrackedStream {
    pub id: i64,
    pub local_params: String,
    pub status: StreamStatus,
}

/// Every row of `ps_stream_subscriptions`, in table order.
pub fn stored_streams(db: &Connection) -> PsResult<Vec<TrackedStream>> {
    sql::query_all(
        db,
        "SELECT id, stream_name, active, is_default, local_params, ttl, expires_at, last_synced_at FROM ps_stream_subscriptions ORDER BY id",
        [],
        |r| {
            let local_params: String = r.get(4)?;
            Ok(TrackedStream {
                id: r.get(0)?,
                status: StreamStatus {
                    name: r.get(1)?,
                    parameters: raw_json(Some(&local_params)),
                    priority: None,
                    active: r.get(2)?,
                    is_default: r.get(3)?,
                    has_explicit_subscription: r.get::<_, Option<i64>>(5)?.is_some(),
                    expires_at: r.get(6)?,
                    last_synced_at: r.get(7)?,
                    progress: StreamProgress::default(),
                },
                local_params,
            })
        },
    )
}

pub fn stored_stream_statuses(db: &Connection) -> PsResult<Vec<StreamStatus>> {
    Ok(stored_streams(db)?.into_iter().map(|s| s.status).collect())
}

/// Brings `ps_stream_subscriptions` in line with the streams of `checkpoint` and returns the
/// rows (for the status) and warnings for stream errors.
pub fn reconcile(
    db: &Connection,
    checkpoint: &Checkpoint,
    requested: &[SubscriptionRequest],
) -> PsResult<(Vec<TrackedStream>, Vec<Instruction>)> {
    let mut rows = stored_streams(db)?;
    for row in &mut rows {
        row.status.active = false;
        row.status.is_default = false;
    }
    for stream in &checkpoint.streams {
        let mut found = false;
        for row in rows.iter_mut().filter(|r| r.status.name == stream.name) {
            row.status.active = true;
            row.status.is_default = stream.is_default;
            found = true;
        }
        if stream.is_default && !found {
            let sql =
                "INSERT INTO ps_stream_subscriptions (stream_name, active, is_default) VALUES (?, 1, 1) RETURNING id";
            let id: i64 = db
                .query_row(sql, [&stream.name], |r| r.get(0))
                .map_err(|e| PsError::sqlite(Some(sql), e))?;
            rows.push(TrackedStream {
                id,
                local_params: "null".into(),
                status: StreamStatus {
                    name: stream.name.clone(),
                    parameters: None,
                    priority: None,
                    active: true,
                    is_default: true,
                    has_explicit_subscription: false,
                    expires_at: None,
                    last_synced_at: None,
                    progress: StreamProgress::default(),
                },
            });
        }
    }

    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if !row.status.has_explicit_subscription && !row.status.active {
            sql::execute(db, "DELETE FROM ps_stream_subscriptions WHERE id = ?", [row.id])?;
        } else {
            sql::execute(
                db,
                "UPDATE ps_stream_subscriptions SET active = ?2, is_default = ?3 WHERE id = ?1",
                params![row.id, row.status.active, row.status.is_default],
            )?;
            kept.push(row);
        }
    }

    let mut warnings = Vec::new();
    for stream in &checkpoint.streams {
        for error in &stream.errors {
            let line = match &error.subscription {
                StreamErrorSubscription::Default(_) => {
                    format!("Default subscription {} has errors: {}", stream.name, error.message)
                }
                // An index names a subscription of the request (its name, not the entry's);
                // one that does not exist is ignored.
                StreamErrorSubscription::Index(i) => {
                    let Some(subscription) = requested.get(*i as usize) else {
                        continue;
                    };
                    match &subscription.parameters {
                        Some(p) => format!(
                            "Subscription to stream {} (with parameters {}) could not be resolved: {}",
                            subscription.stream,
                            p.get(),
                            error.message
                        ),
                        None => format!(
                            "Subscription to stream {} (without parameters) could not be resolved: {}",
                            subscription.stream, error.message
                        ),
                    }
                }
            };
            warnings.push(Instruction::log(Severity::Warning, line));
        }
    }
    Ok((kept, warnings))
}

/// Which stream rows a bucket belongs to, from its subscription reasons.
pub fn streams_of_bucket(
    reasons: &[SubscriptionReason],
    checkpoint: &Checkpoint,
    requested: &[SubscriptionRequest],
    streams: &[TrackedStream],
) -> Vec<usize> {
    let mut out = Vec::new();
    for reason in reasons {
        let found = match reason {
            SubscriptionReason::Sub(i) => requested.get(*i as usize).and_then(|r| {
                let params = r.parameters.as_ref().map_or("null", |p| p.get());
                streams
                    .iter()
                    .position(|s| s.status.name == r.stream && s.local_params == params)
            }),
            // Only the row a default stream created itself (no explicit subscription) counts.
            SubscriptionReason::Default(j) => checkpoint.streams.get(*j as usize).and_then(|d| {
                streams.iter().position(|s| {
                    s.status.name == d.name && s.local_params == "null" && !s.status.has_explicit_subscription
                })
            }),
        };
        if let Some(index) = found {
            if !out.contains(&index) {
                out.push(index);
            }
        }
    }
    out
}

/// Updates each stream's `priority` and `progress` from the buckets of the checkpoint;
/// `progress[i]` belongs to `checkpoint.buckets[i]`. Returns the streams of each bucket, in the
/// same order, so that a data line can update its streams without searching.
pub fn update_stream_progress(
    streams: &mut [TrackedStream],
    checkpoint: &Checkpoint,
    requested: &[SubscriptionRequest],
    progress: &[(String, BucketProgress)],
    downloading: bool,
) -> Vec<Vec<usize>> {
    for s in streams.iter_mut() {
        s.status.priority = None;
        s.status.progress = StreamProgress::default();
    }
    let mut bucket_streams = Vec::with_capacity(checkpoint.buckets.len());
    for (b, bucket) in checkpoint.buckets.iter().enumerate() {
        let indexes = if streams.is_empty() {
            Vec::new()
        } else {
            streams_of_bucket(&bucket.subscriptions, checkpoint, requested, streams)
        };
        let p = progress.get(b).map(|(_, p)| *p).unwrap_or_default();
        debug_assert!(progress.get(b).is_none_or(|(name, _)| *name == bucket.bucket));
        for &i in &indexes {
            let s = &mut streams[i].status;
            let prio = bucket.priority().0;
            s.priority = Some(s.priority.map_or(prio, |old| old.max(prio)));
            if downloading {
                s.progress.total = s
                    .progress
                    .total
                    .saturating_add(p.target_count.saturating_sub(p.at_last));
                s.progress.downloaded = s.progress.downloaded.saturating_add(p.since_last);
            }
        }
        bucket_streams.push(indexes);
    }
    bucket_streams
}

/// Marks streams covered by a sync at `priority` (all for a complete one) as synced now.
pub fn mark_synced(
    db: &Connection,
    streams: &mut [TrackedStream],
    priority: Option<Priority>,
    now: i64,
) -> PsResult<()> {
    let covered = |s: &TrackedStream| match priority {
        None => true,
        Some(p) => s.status.priority.is_some_and(|sp| sp <= p.0),
    };
    // The table first: a failure must leave the iteration's streams as they were.
    for s in streams.iter().filter(|s| covered(s)) {
        sql::execute(
            db,
            "UPDATE ps_stream_subscriptions SET last_synced_at = ?2 WHERE id = ?1",
            params![s.id, now],
        )?;
    }
    for s in streams.iter_mut().filter(|s| covered(s)) {
        s.status.last_synced_at = Some(now);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
