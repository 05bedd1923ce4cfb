//! One `/sync/stream` session: the first checkpoint with its data, then a checkpoint_diff with
//! data whenever something the user syncs changes, `token_expires_in` keepalives, and the end of
//! the stream when the token expires.

use crate::auth::Identity;
use crate::framing::Framing;
use crate::lines::{
    BucketChecksum, Checkpoint, CheckpointDiff, DataLine, Line, OplogEntry, StreamDescription, StreamError,
    SubscriptionReason,
};
use crate::rules::{Reason, ResolvedBucket, StreamInfo, Subscription};
use crate::service::Shared;
use crate::store::{BucketState, StoreError};
use axum::body::Bytes;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

const STREAM_PATH: &str = "/sync/stream";

pub(crate) type Chunk = Result<Bytes, std::io::Error>;

/// A decoded StreamingSyncRequest (docs/protocol.md, "Sync lines"), reduced to what the service uses.
#[derive(Debug, Clone)]
pub(crate) struct StreamRequest {
    /// Buckets the client already has, with the last op id it holds for each.
    pub buckets: Vec<(String, i64)>,
    pub client_id: Option<String>,
    pub include_defaults: bool,
    pub subscriptions: Vec<Subscription>,
}

/// What one checkpoint reports, read in one go under the store lock.
struct Snapshot {
    last_op_id: i64,
    write_checkpoint: Option<i64>,
    buckets: Vec<(ResolvedBucket, BucketState)>,
    streams: Vec<StreamInfo>,
}

/// What the client is tracking for a bucket after our last checkpoint line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tracked {
    checksum: u32,
    count: i64,
    priority: i32,
}

enum End {
    ClientGone,
    Cut,
    Failed(String),
}

pub(crate) struct Session {
    shared: Arc<Shared>,
    identity: Identity,
    request: StreamRequest,
    sink: LineSink,
    changes: watch::Receiver<u64>,
    drops: watch::Receiver<u64>,
    first: Option<Snapshot>,
    tracked: HashMap<String, Tracked>,
    /// Every op up to this id has been sent for the bucket.
    position: HashMap<String, i64>,
    write_checkpoint: Option<i64>,
}

struct LineSink {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Chunk>,
    framing: Framing,
    lines: usize,
    cut_after: Option<usize>,
}

/// Counts the session in `Stats::active_streams` for as long as it runs.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let mut stats = self.0.stats();
        stats.active_streams = stats.active_streams.saturating_sub(1);
    }
}

fn snapshot(shared: &Shared, identity: &Identity, request: &StreamRequest) -> Result<Snapshot, StoreError> {
    let resolved = shared
        .rules
        .resolve(&identity.sub, request.include_defaults, &request.subscriptions);
    let store = shared.store();
    let last_op_id = store.last_op_id()?;
    let ids: Vec<&str> = resolved.buckets.iter().map(|b| b.id.as_str()).collect();
    let mut states = store.bucket_states(&ids, last_op_id)?;
    let write_checkpoint = match &request.client_id {
        Some(client) => store.write_checkpoint(&identity.sub, client)?,
        None => None,
    };
    drop(store);
    let mut buckets: Vec<_> = resolved
        .buckets
        .into_iter()
        .map(|b| {
            let state = states.remove(&b.id).unwrap_or_default();
            (b, state)
        })
        .collect();
    buckets.sort_by(|(a, _), (b, _)| (a.priority, &a.id).cmp(&(b.priority, &b.id)));
    Ok(Snapshot {
        last_op_id,
        write_checkpoint,
        buckets,
        streams: resolved.streams,
    })
}

fn stream_descriptions(streams: &[StreamInfo]) -> Vec<StreamDescription> {
    streams
        .iter()
        .map(|s| StreamDescription {
            name: s.name.clone(),
            is_default: s.is_default,
            errors: s
                .errors
                .iter()
                .map(|(i, message)| StreamError {
                    subscription: index_i32(*i),
                    message: message.clone(),
                })
                .collect(),
        })
        .collect()
}

fn index_i32(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

impl Session {
    /// Reads the first checkpoint before the response starts, so that a database error becomes
    /// an HTTP error instead of a broken stream. Returns the session and the body's receiver.
    pub(crate) fn open(
        shared: Arc<Shared>,
        identity: Identity,
        request: StreamRequest,
        framing: Framing,
    ) -> Result<(Session, mpsc::Receiver<Chunk>), StoreError> {
        // Subscribe before reading, so a change between the read and the loop is not missed.
        let mut changes = shared.subscribe_changes();
        changes.borrow_and_update();
        let mut drops = shared.subscribe_drops();
        drops.borrow_and_update();
        let first = snapshot(&shared, &identity, &request)?;
        let (tx, rx) = mpsc::channel(16);
        let cut_after = shared.faults.take_drop_after();
        let sink = LineSink {
            shared: shared.clone(),
            tx,
            framing,
            lines: 0,
            cut_after,
        };
        let position = request.buckets.iter().cloned().collect();
        let session = Session {
            shared,
            identity,
            request,
            sink,
            changes,
            drops,
            first: Some(first),
            tracked: HashMap::new(),
            position,
            write_checkpoint: None,
        };
        Ok((session, rx))
    }

    pub(crate) async fn run(mut self) {
        self.shared.stats().active_streams += 1;
        let _active = ActiveGuard(self.shared.clone());
        match self.serve().await {
            Ok(()) | Err(End::ClientGone) => {}
            Err(End::Cut) => {
                self.shared.stats().faults_triggered += 1;
                self.sink.abort("fault injection: stream dropped").await;
            }
            Err(End::Failed(message)) => {
                tracing::error!(sub = %self.identity.sub, "sync stream failed: {message}");
                self.sink.abort(&message).await;
            }
        }
    }

    async fn serve(&mut self) -> Result<(), End> {
        if self.sink.cut_after == Some(0) {
            return Err(End::Cut);
        }
        let left = self.identity.expires_in(SystemTime::now());
        self.sink.send(&Line::TokenExpiresIn(left)).await?;
        if left <= 0 {
            return Ok(());
        }
        let first = self
            .first
            .take()
            .ok_or_else(|| End::Failed("session started twice".into()))?;
        self.send_checkpoint(first).await?;

        let keepalive = self.shared.keepalive;
        let mut ticks = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let until_expiry = self
            .identity
            .expires_at()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let expiry = tokio::time::sleep(until_expiry);
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        return Ok(()); // the service is shutting down
                    }
                    let snap = snapshot(&self.shared, &self.identity, &self.request).map_err(|e| End::Failed(e.to_string()))?;
                    self.send_diff(snap).await?;
                }
                _ = ticks.tick() => {
                    let left = self.identity.expires_in(SystemTime::now());
                    self.sink.send(&Line::TokenExpiresIn(left)).await?;
                    if left <= 0 {
                        return Ok(());
                    }
                }
                _ = &mut expiry => {
                    // The token has expired: tell the client, then end the stream normally.
                    self.sink.send(&Line::TokenExpiresIn(0)).await?;
                    return Ok(());
                }
                _ = self.drops.changed() => {
                    return Err(End::Cut);
                }
                _ = self.sink.tx.closed() => {
                    return Err(End::ClientGone);
                }
            }
        }
    }

    fn bucket_checksum(&mut self, bucket: &ResolvedBucket, state: BucketState) -> BucketChecksum {
        let mut checksum = state.checksum;
        if self.shared.faults.take_corrupt(&bucket.id) {
            checksum = checksum.wrapping_add(0x5eed);
            self.shared.stats().faults_triggered += 1;
        }
        self.tracked.insert(
            bucket.id.clone(),
            Tracked {
                checksum,
                count: state.count,
                priority: bucket.priority,
            },
        );
        let subscriptions = (!bucket.reasons.is_empty()).then(|| {
            bucket
                .reasons
                .iter()
                .map(|r| match r {
                    Reason::Default(i) => SubscriptionReason::Default(index_i32(*i)),
                    Reason::Sub(i) => SubscriptionReason::Sub(index_i32(*i)),
                })
                .collect()
        });
        BucketChecksum {
            bucket: bucket.id.clone(),
            checksum: i64::from(checksum),
            priority: bucket.priority,
            count: state.count,
            subscriptions,
        }
    }

    async fn send_checkpoint(&mut self, snap: Snapshot) -> Result<(), End> {
        // Buckets the client listed but no longer gets are left out; it deletes them itself.
        let listed: HashMap<String, i64> = std::mem::take(&mut self.position);
        let mut buckets = Vec::new();
        for (bucket, state) in &snap.buckets {
            self.position
                .insert(bucket.id.clone(), listed.get(&bucket.id).copied().unwrap_or(0));
            buckets.push(self.bucket_checksum(bucket, *state));
        }
        self.write_checkpoint = snap.write_checkpoint;
        let line = Line::Checkpoint(Checkpoint {
            last_op_id: snap.last_op_id.to_string(),
            write_checkpoint: snap.write_checkpoint.map(|w| w.to_string()),
            buckets,
            streams: stream_descriptions(&snap.streams),
        });
        self.sink.send(&line).await?;
        self.shared.stats().checkpoints_sent += 1;
        let all: Vec<&ResolvedBucket> = snap.buckets.iter().map(|(b, _)| b).collect();
        self.send_data(&all, snap.last_op_id).await
    }

    async fn send_diff(&mut self, snap: Snapshot) -> Result<(), End> {
        let mut updated = Vec::new();
        let mut updated_buckets = Vec::new();
        for (bucket, state) in &snap.buckets {
            let now = Tracked {
                checksum: state.checksum,
                count: state.count,
                priority: bucket.priority,
            };
            if self.tracked.get(&bucket.id) != Some(&now) {
                updated.push(bucket);
            }
        }
        let removed: Vec<String> = self
            .tracked
            .keys()
            .filter(|id| !snap.buckets.iter().any(|(b, _)| &b.id == *id))
            .cloned()
            .collect();
        if updated.is_empty() && removed.is_empty() && snap.write_checkpoint == self.write_checkpoint {
            return Ok(());
        }
        for bucket in &updated {
            let state = snap
                .buckets
                .iter()
                .find(|(b, _)| b.id == bucket.id)
                .map(|(_, s)| *s)
                .unwrap_or_default();
            updated_buckets.push(self.bucket_checksum(bucket, state));
        }
        for id in &removed {
            self.tracked.remove(id);
            self.position.remove(id);
        }
        self.write_checkpoint = snap.write_checkpoint;
        let line = Line::CheckpointDiff(CheckpointDiff {
            last_op_id: snap.last_op_id.to_string(),
            write_checkpoint: snap.write_checkpoint.map(|w| w.to_string()),
            updated_buckets,
            removed_buckets: removed,
        });
        self.sink.send(&line).await?;
        self.shared.stats().checkpoints_sent += 1;
        self.send_data(&updated, snap.last_op_id).await
    }

    /// Data lines for `buckets` (sorted by priority) up to `last_op_id`, a
    /// `partial_checkpoint_complete` after each priority group but the last, then
    /// `checkpoint_complete`.
    async fn send_data(&mut self, buckets: &[&ResolvedBucket], last_op_id: i64) -> Result<(), End> {
        let priorities: BTreeSet<i32> = buckets.iter().map(|b| b.priority).collect();
        let lowest_urgency = priorities.last().copied();
        for priority in &priorities {
            for bucket in buckets.iter().filter(|b| b.priority == *priority) {
                self.send_bucket_ops(&bucket.id, last_op_id).await?;
            }
            if Some(*priority) != lowest_urgency {
                let line = Line::PartialCheckpointComplete {
                    last_op_id: last_op_id.to_string(),
                    priority: *priority,
                };
                self.sink.send(&line).await?;
            }
        }
        self.sink
            .send(&Line::CheckpointComplete {
                last_op_id: last_op_id.to_string(),
            })
            .await
    }

    async fn send_bucket_ops(&mut self, bucket: &str, last_op_id: i64) -> Result<(), End> {
        let batch = self.shared.data_batch_size;
        let mut after = self.position.get(bucket).copied().unwrap_or(0);
        loop {
            let mut ops = self
                .shared
                .store()
                .ops_after(bucket, after, last_op_id, batch + 1)
                .map_err(|e| End::Failed(e.to_string()))?;
            let has_more = ops.len() > batch;
            ops.truncate(batch);
            let Some(last) = ops.last().map(|o| o.op_id) else { break };
            let line = Line::Data(DataLine {
                bucket: bucket.to_owned(),
                after: after.to_string(),
                next_after: last.to_string(),
                has_more,
                data: ops
                    .into_iter()
                    .map(|o| OplogEntry {
                        op_id: o.op_id.to_string(),
                        op: o.op,
                        object_type: o.object_type,
                        object_id: o.object_id,
                        checksum: i64::from(o.checksum),
                        data: o.data,
                    })
                    .collect(),
            });
            self.sink.send(&line).await?;
            after = last;
            if !has_more {
                break;
            }
        }
        self.position.insert(bucket.to_owned(), last_op_id);
        Ok(())
    }
}

impl LineSink {
    async fn send(&mut self, line: &Line) -> Result<(), End> {
        while let Some(until) = self.shared.faults.stalled_until(STREAM_PATH) {
            tokio::select! {
                _ = tokio::time::sleep_until(Instant::from_std(until)) => {}
                _ = self.tx.closed() => return Err(End::ClientGone),
            }
        }
        let bytes = self.framing.encode(line).map_err(|e| End::Failed(e.to_string()))?;
        self.tx
            .send(Ok(Bytes::from(bytes)))
            .await
            .map_err(|_| End::ClientGone)?;
        self.lines += 1;
        self.shared.stats().lines_sent += 1;
        if self.cut_after == Some(self.lines) {
            return Err(End::Cut);
        }
        Ok(())
    }

    /// Ends the body with an error: the server aborts the connection without a clean end.
    /// Lines already sent must reach the client first (a cut "after N lines" delivers N lines), but
    /// an aborted connection discards whatever the server has not written out yet: so wait until
    /// the body has taken every queued line, and give the server a moment to flush them.
    async fn abort(&self, why: &str) {
        let deadline = Instant::now() + std::time::Duration::from_secs(2);
        while self.tx.capacity() < self.tx.max_capacity() && !self.tx.is_closed() && Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let _ = self.tx.send(Err(std::io::Error::other(why.to_owned()))).await;
    }
}
