//! The sync state machine behind `powersync_control` (docs/protocol.md, "Commands and events"): one iteration from
//! `start` until the stream closes, turning SDK events and service lines into database effects
//! and instructions.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use crate::error::PsResult;
use crate::kv;
use crate::schema::model::Schema;
use crate::state::DatabaseState;
use crate::sync::bulk;
use crate::sync::instruction::{
    BucketChange, BucketRequest, CheckpointRequest, Diagnostics, Instruction, Severity, StreamingSyncRequest,
    StreamsRequest, SubscriptionRequest, ValueType,
};
use crate::sync::line::{Checkpoint, DataLine, OpType, Priority, SyncLine};
use crate::sync::row_targets::RowTargets;
use crate::sync::status::{self, BucketProgress, Downloading, SyncStatus};
use crate::sync::storage::{self, Supersede};
use crate::sync::streams::{self, StreamKey, TrackedStream};
use crate::sync::sync_local::{buckets_in_range, sync_local, SyncLocalResult};
use crate::sync::{checkpoint_requests, now_micros};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointMode {
    #[default]
    Legacy,
    Requests,
}

fn default_true() -> bool {
    true
}

/// An optional field that, when present, must not be `null`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The `start` payload (StartSyncStream).
#[derive(Debug, Deserialize)]
pub struct StartOptions {
    #[serde(default)]
    pub parameters: Option<Map<String, Json>>,
    #[serde(default, deserialize_with = "present")]
    pub schema: Option<Schema>,
    #[serde(default = "default_true")]
    pub include_defaults: bool,
    #[serde(default)]
    pub active_streams: Vec<StreamKey>,
    #[serde(default)]
    pub app_metadata: Option<Box<RawValue>>,
    #[serde(default)]
    pub checkpoint_mode: CheckpointMode,
    #[serde(default)]
    pub diagnostics: Option<Map<String, Json>>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            parameters: None,
            schema: None,
            include_defaults: true,
            active_streams: Vec::new(),
            app_metadata: None,
            checkpoint_mode: CheckpointMode::Legacy,
            diagnostics: None,
        }
    }
}

/// Instructions of an event, and whether the iteration ended with it.
pub struct Outcome {
    pub instructions: Vec<Instruction>,
    pub ended: bool,
}

impl Outcome {
    fn ended(instructions: Vec<Instruction>) -> Outcome {
        Outcome {
            instructions,
            ended: true,
        }
    }
}

pub struct Iteration {
    active_streams: Vec<StreamKey>,
    /// The tables synced rows are written into, from the `start` schema.
    targets: RowTargets,
    status: SyncStatus,
    last_status: Option<String>,
    start_bucket_names: Vec<String>,
    /// The checkpoint being downloaded (buckets sorted by name).
    target: Option<Checkpoint>,
    /// A validated checkpoint the local-write gate held back.
    pending: Option<Checkpoint>,
    downloading: bool,
    /// Per-bucket progress of `target`: `progress[i]` is `target.buckets[i]` (sorted by name).
    progress: Vec<(String, BucketProgress)>,
    /// `progress` grouped per priority, kept up to date line by line (the status reports it).
    download_groups: Downloading,
    /// The streams of each bucket of `target`, in the order of `progress`.
    bucket_streams: Vec<Vec<usize>>,
    /// Bucket progress entries visited so far (what the work-shape test counts).
    progress_visits: u64,
    /// Ops of `target` still to download by its buckets' counts (0 where it has none): the
    /// download is complete, and bulk mode ends, when it reaches 0.
    remaining: i64,
    /// The subscriptions the stream was opened with.
    requested: Vec<SubscriptionRequest>,
    streams: Vec<TrackedStream>,
    /// Column types seen per (table, column), when diagnostics are on.
    diagnostics: Option<HashMap<(String, String), ValueType>>,
}

impl Iteration {
    /// `(bucket, priority)` of the checkpoint being downloaded (for diagnostics).
    pub fn bucket_priorities(&self) -> Vec<(String, i32)> {
        self.target
            .iter()
            .flat_map(|c| c.buckets.iter().map(|b| (b.bucket.clone(), b.priority().0)))
            .collect()
    }

    /// Starts an iteration; returns it with its first instructions.
    pub fn start(db: &Connection, options: StartOptions) -> PsResult<(Iteration, Vec<Instruction>)> {
        let now = now_micros();
        // A bulk download cut off by a crash or a closed app is finished (its indexes built,
        // superseded ops resolved) before a new stream starts; the new checkpoint decides afresh
        // whether what is left is large enough for bulk mode.
        bulk::finish(db)?;
        let mut status = status::offline_status(db)?;
        status.connecting = true;
        // The iteration reports the streams as they were before the refresh and cleanup below,
        // until a checkpoint reconciles them (as the reference does).
        let tracked = streams::stored_streams(db)?;
        let positions = storage::bucket_positions(db)?;
        streams::refresh_ttls(db, &options.active_streams, now)?;
        streams::cleanup(db, now)?;
        let requested = streams::request_subscriptions(db)?;
        let client_id = kv::client_id(db)?;
        // Ours (docs/decisions.md, "Healing a stuck write gate"): before the initial id is
        // chosen, so that a healed target is the id this stream's `checkpoint_request` carries.
        let heal = checkpoint_requests::heal_stuck_gate(db, options.checkpoint_mode == CheckpointMode::Requests, now)?;

        let checkpoint_request = match options.checkpoint_mode {
            CheckpointMode::Legacy => None,
            CheckpointMode::Requests => Some(CheckpointRequest {
                client_id: client_id.clone(),
                checkpoint_request_id: checkpoint_requests::initial_request_id(db)?.to_string(),
            }),
        };
        let request = StreamingSyncRequest {
            buckets: positions
                .iter()
                .map(|(name, after)| BucketRequest {
                    name: name.clone(),
                    after: after.to_string(),
                })
                .collect(),
            include_checksum: true,
            raw_data: true,
            binary_data: true,
            client_id,
            parameters: options.parameters,
            streams: StreamsRequest {
                include_defaults: options.include_defaults,
                subscriptions: requested.clone(),
            },
            app_metadata: options.app_metadata,
        };

        let mut iteration = Iteration {
            active_streams: options.active_streams,
            targets: RowTargets::new(options.schema),
            status,
            last_status: None,
            start_bucket_names: positions.into_iter().map(|(name, _)| name).collect(),
            target: None,
            pending: None,
            downloading: false,
            progress: Vec::new(),
            download_groups: Downloading { groups: Vec::new() },
            bucket_streams: Vec::new(),
            progress_visits: 0,
            remaining: 0,
            requested,
            streams: tracked,
            diagnostics: options.diagnostics.map(|_| HashMap::new()),
        };
        let mut instructions: Vec<Instruction> = heal.map(heal_log).into_iter().collect();
        iteration.emit_status(&mut instructions);
        instructions.push(Instruction::EstablishSyncStream {
            request,
            checkpoint_request,
        });
        Ok((iteration, instructions))
    }

    /// Recomputes the progress aggregates (per priority group and per stream) from scratch.
    /// Called when the target, the progress of many buckets, the streams or `downloading`
    /// change; a data line updates them incrementally instead, so that its cost does not grow
    /// with the number of buckets.
    fn refresh_progress(&mut self) {
        self.progress_visits += self.progress.len() as u64;
        self.download_groups = Downloading::from_buckets(self.progress.iter().map(|(_, p)| p));
        if let Some(target) = &self.target {
            self.bucket_streams = streams::update_stream_progress(
                &mut self.streams,
                target,
                &self.requested,
                &self.progress,
                self.downloading,
            );
        }
    }

    /// What bulk mode does with a data line (`sync::bulk`). Also decides whether the line needs
    /// the call's savepoint: finishing runs DDL and multi-row statements.
    pub(crate) fn bulk_step(&self, db: &Connection, line: &DataLine) -> PsResult<BulkStep> {
        if !bulk::active(db)? {
            return Ok(BulkStep::Off);
        }
        // Tombstones are stored with negative op ids, so real ones must not be. A CLEAR queues
        // the rows of every op stored before it, which must be the per-op path's survivors.
        if line.data.iter().any(|op| op.op_id.0 < 0 || op.op == OpType::CLEAR) {
            return Ok(BulkStep::FinishFirst);
        }
        Ok(match self.remaining_after(line) {
            0 => BulkStep::AppendThenFinish,
            _ => BulkStep::Append,
        })
    }

    /// `remaining` once `line` is counted.
    fn remaining_after(&self, line: &DataLine) -> i64 {
        let i = self.progress.partition_point(|(name, _)| name.as_str() < &*line.bucket);
        match self.progress.get(i) {
            Some((name, progress)) if *name == *line.bucket => {
                let before = bucket_remaining(progress);
                let mut after = *progress;
                after.since_last = after.since_last.saturating_add(line.data.len() as i64);
                self.remaining - (before - bucket_remaining(&after))
            }
            _ => self.remaining,
        }
    }

    /// Counts the ops of a data line for its bucket, its priority group and its streams.
    /// Returns the bucket's index in `progress`, `None` when the bucket is not in the target.
    fn count_downloaded(&mut self, bucket: &str, ops: i64) -> Option<usize> {
        // The first entry with that name, as a linear search would find it.
        let i = self.progress.partition_point(|(name, _)| name.as_str() < bucket);
        self.progress_visits += 1;
        let (name, progress) = self.progress.get_mut(i)?;
        if name != bucket {
            return None;
        }
        progress.since_last = progress.since_last.saturating_add(ops);
        self.download_groups.add_downloaded(progress.priority, ops);
        if self.downloading {
            for &s in self.bucket_streams.get(i).map(Vec::as_slice).unwrap_or_default() {
                let p = &mut self.streams[s].status.progress;
                p.downloaded = p.downloaded.saturating_add(ops);
            }
        }
        Some(i)
    }

    #[cfg(test)]
    pub(crate) fn progress_visits(&self) -> u64 {
        self.progress_visits
    }

    /// Where this iteration's synced rows go (which decides whether a publish needs the call's
    /// savepoint, `sync::atomic`).
    pub(crate) fn targets(&self) -> &RowTargets {
        &self.targets
    }

    #[cfg(test)]
    pub(crate) fn has_pending_checkpoint(&self) -> bool {
        self.pending.is_some()
    }

    #[cfg(test)]
    pub(crate) fn target_last_op(&self) -> Option<i64> {
        self.target.as_ref().map(|t| t.last_op_id.0)
    }

    /// Appends `UpdateSyncStatus` when the status differs from the last one sent.
    fn emit_status(&mut self, out: &mut Vec<Instruction>) {
        self.status.downloading = self.downloading.then(|| self.download_groups.clone());
        self.status.streams = self.streams.iter().map(|s| s.status.clone()).collect();
        let json = serde_json::to_string(&self.status).expect("status always serialises");
        if self.last_status.as_deref() != Some(json.as_str()) {
            self.last_status = Some(json);
            out.push(Instruction::UpdateSyncStatus {
                status: self.status.clone(),
            });
        }
    }

    /// Finishes a normal event: status (if changed) after the event's instructions, then
    /// diagnostics.
    fn finish(&mut self, mut instructions: Vec<Instruction>, diagnostics: Vec<Instruction>) -> Outcome {
        self.emit_status(&mut instructions);
        instructions.extend(diagnostics);
        Outcome {
            instructions,
            ended: false,
        }
    }

    /// The stream delivers: `connected`, no longer `connecting`. Only some events say so
    /// (`connection established`, a tracked checkpoint, a token expiry that keeps the stream, an
    /// unknown line, a refused partial checkpoint); data lines and completions do not.
    fn mark_connected(&mut self) {
        self.status.connected = true;
        self.status.connecting = false;
    }

    pub fn connection_established(&mut self) -> Outcome {
        self.mark_connected();
        self.finish(Vec::new(), Vec::new())
    }

    /// Ends the iteration: after the event's own instructions `out`, the status goes offline
    /// (reported if that changed it) immediately before `CloseSyncStream`, however the
    /// iteration ends.
    fn close(&mut self, mut out: Vec<Instruction>, hide_disconnect: bool) -> Outcome {
        self.status.connected = false;
        self.status.connecting = false;
        self.downloading = false;
        self.status.internal_last_applied_checkpoint_request_id = None;
        self.status.held_rows = None;
        self.refresh_progress();
        self.emit_status(&mut out);
        out.push(Instruction::CloseSyncStream { hide_disconnect });
        Outcome::ended(out)
    }

    /// `connection end` and `stop`.
    pub fn disconnect(&mut self) -> Outcome {
        self.close(Vec::new(), false)
    }

    pub fn refreshed_token(&mut self) -> Outcome {
        self.close(Vec::new(), true)
    }

    pub fn update_subscriptions(&mut self, db: &Connection, active: Vec<StreamKey>) -> PsResult<Outcome> {
        let now = now_micros();
        streams::refresh_ttls(db, &active, now)?;
        streams::cleanup(db, now)?;
        let requested = streams::request_subscriptions(db)?;
        if requested != self.requested {
            return Ok(self.close(Vec::new(), true));
        }
        self.active_streams = active;
        Ok(self.finish(Vec::new(), Vec::new()))
    }

    /// One sync line, deciding a data line's bulk step itself (the tests' entry; `powersync_control`
    /// decides it first, for the savepoint, and calls [`Iteration::line_with_bulk_step`]).
    #[cfg(test)]
    pub fn line(
        &mut self,
        db: &Connection,
        state: &DatabaseState,
        line: SyncLine,
        raw_size: usize,
    ) -> PsResult<Outcome> {
        self.line_with_bulk_step(db, state, line, raw_size, None)
    }

    /// [`Iteration::line`], with the bulk step of a data line already decided in this call
    /// (`None`: decided here).
    pub(crate) fn line_with_bulk_step(
        &mut self,
        db: &Connection,
        state: &DatabaseState,
        line: SyncLine,
        raw_size: usize,
        bulk_step: Option<BulkStep>,
    ) -> PsResult<Outcome> {
        let mut out = Vec::new();
        let mut diagnostics = Vec::new();
        match line {
            SyncLine::Checkpoint(mut checkpoint) => {
                checkpoint.buckets.sort_by(|a, b| a.bucket.cmp(&b.bucket));
                let previous: Vec<String> = match &self.target {
                    Some(t) => t.buckets.iter().map(|b| b.bucket.clone()).collect(),
                    None => self.start_bucket_names.clone(),
                };
                for name in previous {
                    if checkpoint
                        .buckets
                        .binary_search_by(|b| b.bucket.as_str().cmp(name.as_str()))
                        .is_err()
                    {
                        storage::delete_bucket(db, &name)?;
                    }
                }
                self.track(db, checkpoint, &mut out, &mut diagnostics)?;
            }
            SyncLine::CheckpointDiff(diff) => {
                // Patched on a copy: a busy database lets the SDK retry this very line.
                let Some(mut checkpoint) = self.target.clone() else {
                    return Err(crate::error::PsError::sync_protocol(
                        "Received checkpoint_diff without previous checkpoint",
                        None,
                    ));
                };
                let replaced: HashSet<&str> = diff
                    .removed_buckets
                    .iter()
                    .map(String::as_str)
                    .chain(diff.updated_buckets.iter().map(|u| u.bucket.as_str()))
                    .collect();
                checkpoint.buckets.retain(|b| !replaced.contains(b.bucket.as_str()));
                checkpoint.buckets.extend(diff.updated_buckets);
                checkpoint.buckets.sort_by(|a, b| a.bucket.cmp(&b.bucket));
                checkpoint.last_op_id = diff.last_op_id;
                checkpoint.write_checkpoint = diff.write_checkpoint;
                for name in &diff.removed_buckets {
                    storage::delete_bucket(db, name)?;
                }
                self.track(db, checkpoint, &mut out, &mut diagnostics)?;
            }
            SyncLine::Data(data) => {
                let step = match bulk_step {
                    Some(step) => step,
                    None => self.bulk_step(db, &data)?,
                };
                if step == BulkStep::FinishFirst {
                    bulk::finish(db)?;
                }
                let mode = match step {
                    BulkStep::Append | BulkStep::AppendThenFinish => Supersede::Deferred,
                    BulkStep::Off | BulkStep::FinishFirst => Supersede::Probe,
                };
                storage::apply_data_line(db, &data, raw_size, mode)?;
                if step == BulkStep::AppendThenFinish {
                    bulk::finish(db)?;
                }
                self.remaining = self.remaining_after(&data);
                if let Some(i) = self.count_downloaded(&data.bucket, data.data.len() as i64) {
                    self.bucket_state_diagnostics(&mut diagnostics, Some(i));
                }
                self.schema_diagnostics(&mut diagnostics, &data);
            }
            SyncLine::CheckpointComplete => {
                if self.target.is_none() {
                    return Err(crate::error::PsError::sync_protocol(
                        "Received checkpoint complete without previous checkpoint",
                        None,
                    ));
                }
                return self.apply_checkpoint(db, state, None);
            }
            SyncLine::PartialCheckpointComplete(priority) => {
                if self.target.is_none() {
                    return Err(crate::error::PsError::invalid_state(
                        "Received checkpoint complete without previous checkpoint",
                    ));
                }
                return self.apply_checkpoint(db, state, Some(priority));
            }
            SyncLine::TokenExpiresIn(seconds) => {
                let now = now_micros();
                streams::refresh_ttls(db, &self.active_streams, now)?;
                if seconds <= 0 {
                    return Ok(self.close(vec![Instruction::FetchCredentials { did_expire: true }], false));
                } else if seconds <= 30 {
                    out.push(Instruction::FetchCredentials { did_expire: false });
                } else {
                    streams::cleanup(db, now)?;
                    if streams::request_subscriptions(db)? != self.requested {
                        return Ok(self.close(out, true));
                    }
                }
                self.mark_connected();
            }
            SyncLine::Unknown => {
                out.push(Instruction::log(Severity::Debug, "Unknown sync line"));
                self.mark_connected();
            }
        }
        Ok(self.finish(out, diagnostics))
    }

    /// Makes `checkpoint` (new or patched by a diff) the target: streams reconciled, progress
    /// recomputed, any held-back checkpoint dropped, the stream marked connected. Everything
    /// fallible runs before the iteration changes.
    fn track(
        &mut self,
        db: &Connection,
        checkpoint: Checkpoint,
        out: &mut Vec<Instruction>,
        diagnostics: &mut Vec<Instruction>,
    ) -> PsResult<()> {
        let (tracked, warnings) = streams::reconcile(db, &checkpoint, &self.requested)?;
        let progress = load_progress(db, &checkpoint)?;
        let remaining = progress.iter().map(|(_, p)| bucket_remaining(p)).sum();
        bulk::maybe_enter(db, remaining)?;
        self.remaining = remaining;
        self.streams = tracked;
        out.extend(warnings);
        self.progress = progress;
        self.target = Some(checkpoint);
        self.downloading = true;
        self.refresh_progress();
        self.pending = None;
        self.mark_connected();
        self.bucket_state_diagnostics(diagnostics, None);
        Ok(())
    }

    /// Progress of every bucket, or of the one at index `only` of `progress`.
    fn bucket_state_diagnostics(&self, out: &mut Vec<Instruction>, only: Option<usize>) {
        if self.diagnostics.is_none() {
            return;
        }
        let selected = match only {
            Some(i) => &self.progress[i..=i],
            None => &self.progress[..],
        };
        let changes = selected
            .iter()
            .map(|(name, progress)| BucketChange {
                name: name.clone(),
                progress: *progress,
            })
            .collect();
        out.push(Instruction::HandleDiagnostics(Diagnostics::BucketStateChange {
            changes,
            incremental: only.is_some(),
        }));
    }

    fn schema_diagnostics(&mut self, out: &mut Vec<Instruction>, data: &DataLine) {
        let Some(seen) = &mut self.diagnostics else {
            return;
        };
        for op in &data.data {
            let (OpType::PUT, Some(table), Some(text)) = (op.op, &op.object_type, &op.data) else {
                continue;
            };
            let Ok(pairs) = serde_json::from_str::<OrderedObject>(text) else {
                continue;
            };
            for (column, kind) in pairs.0 {
                if column == "id" {
                    continue;
                }
                let value_type = match kind {
                    JsonKind::Null => continue,
                    JsonKind::String => ValueType::String,
                    JsonKind::Integer => ValueType::Integer,
                    JsonKind::Real => ValueType::Real,
                    // Booleans, objects and arrays end the scan of this op.
                    JsonKind::Other => break,
                };
                let key = (table.to_string(), column.clone());
                let changed = match seen.get(&key) {
                    None => true,
                    Some(ValueType::String) => false,
                    Some(old) => *old != value_type,
                };
                if changed {
                    seen.insert(key, value_type);
                    out.push(Instruction::HandleDiagnostics(Diagnostics::SchemaChange {
                        table: table.to_string(),
                        column,
                        value_type,
                    }));
                }
            }
        }
    }

    fn apply_checkpoint(
        &mut self,
        db: &Connection,
        state: &DatabaseState,
        priority: Option<Priority>,
    ) -> PsResult<Outcome> {
        let target = self.target.clone().expect("checked by the caller");
        // Publishing reads the oplog by row: a bulk download's indexes are built first.
        let was_bulk = bulk::finish(db)?;
        let failures = storage::validate_checksums(db, buckets_in_range(&target, priority))?;
        if !failures.is_empty() {
            for failure in &failures {
                storage::delete_bucket(db, &failure.bucket)?;
            }
            // Complete and partial checkpoints report a failure with the same text.
            let list: Vec<String> = failures.iter().map(|f| f.describe()).collect();
            let warning = Instruction::log(
                Severity::Warning,
                format!(
                    "Could not apply checkpoint, Checksums didn't match, failed for: {}",
                    list.join(", ")
                ),
            );
            return Ok(self.close(vec![warning], false));
        }
        let now = now_micros();
        let mut out = Vec::new();
        match priority {
            None => match sync_local(db, state, &target, None, &mut self.targets, now)? {
                SyncLocalResult::Applied => {
                    out.push(Instruction::log(Severity::Debug, "Validated and applied checkpoint"));
                    self.after_complete_apply(db, &target, now, None, &mut out)?;
                }
                SyncLocalResult::AppliedAround { held_rows } => {
                    out.push(applied_around_log("Validated and applied checkpoint", held_rows));
                    self.after_complete_apply(db, &target, now, Some(held_rows), &mut out)?;
                }
                SyncLocalResult::PendingLocalChanges => {
                    out.push(Instruction::CheckpointDelayedDueToLocalData {});
                    out.push(Instruction::log(
                        Severity::Info,
                        "Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint.",
                    ));
                    let fallback = self.publish_priority_zero(db, state, &target, now)?;
                    self.pending = Some(target);
                    self.after_priority_zero(fallback, now);
                }
            },
            Some(p) => match sync_local(db, state, &target, Some(p), &mut self.targets, now)? {
                result @ (SyncLocalResult::Applied | SyncLocalResult::AppliedAround { .. }) => {
                    // The rest of a large download goes on in bulk mode (the savepoint that
                    // finishing it needed is open). Before `mark_synced`, which changes the
                    // iteration: an error here leaves it as it was.
                    if was_bulk {
                        bulk::maybe_enter(db, self.remaining)?;
                    }
                    streams::mark_synced(db, &mut self.streams, Some(p), now)?;
                    status::record_sync(&mut self.status.priority_status, p, now);
                    self.pending = None;
                    if let SyncLocalResult::AppliedAround { held_rows } = result {
                        out.push(applied_around_log(
                            "Validated and applied partial checkpoint",
                            held_rows,
                        ));
                        self.status.held_rows = Some(held_rows);
                    }
                }
                SyncLocalResult::PendingLocalChanges => {
                    out.push(Instruction::CheckpointDelayedDueToLocalData {});
                    self.mark_connected();
                }
            },
        }
        Ok(self.finish(out, Vec::new()))
    }

    /// The priority-0 fallback: when the local-write gate refused a complete checkpoint whose
    /// buckets all have priority 0, they are published as a priority-0 partial checkpoint would
    /// be (the service sends no partial completion when every bucket shares one priority). The
    /// checkpoint itself stays unapplied. Returns whether anything was published; the caller
    /// records that in the status once nothing can fail any more.
    fn publish_priority_zero(
        &mut self,
        db: &Connection,
        state: &DatabaseState,
        target: &Checkpoint,
        now: i64,
    ) -> PsResult<bool> {
        let zero = Priority(0);
        if target.buckets.is_empty() || target.buckets.iter().any(|b| b.priority() != zero) {
            return Ok(false);
        }
        match sync_local(db, state, target, Some(zero), &mut self.targets, now)? {
            // Priority 0 skips the gate, so nothing is held either.
            SyncLocalResult::Applied | SyncLocalResult::AppliedAround { .. } => {
                streams::mark_synced(db, &mut self.streams, Some(zero), now)?;
                Ok(true)
            }
            // A priority-0 sync is never held back by the gate.
            SyncLocalResult::PendingLocalChanges => Ok(false),
        }
    }

    fn after_priority_zero(&mut self, published: bool, now: i64) {
        if published {
            status::record_sync(&mut self.status.priority_status, Priority(0), now);
        }
    }

    /// Status and bookkeeping after a complete checkpoint was published; `held_rows` when it was
    /// applied around pending uploads: its write checkpoint is then not applied, and it stays
    /// pending so that `completed_upload` can publish the held rows once the service covered
    /// them.
    fn after_complete_apply(
        &mut self,
        db: &Connection,
        target: &Checkpoint,
        now: i64,
        held_rows: Option<i64>,
        out: &mut Vec<Instruction>,
    ) -> PsResult<()> {
        // The only fallible step, first: the iteration is unchanged if it fails.
        streams::mark_synced(db, &mut self.streams, None, now)?;
        let applied = target.write_checkpoint.map(|w| w.0).filter(|_| held_rows.is_none());
        if let Some(w) = applied {
            out.push(Instruction::log(
                Severity::Debug,
                format!("Applied checkpoint request id {w}"),
            ));
        }
        out.push(Instruction::DidCompleteSync {
            applied_checkpoint_request_id: applied.map(|w| w.to_string()),
        });
        status::record_sync(&mut self.status.priority_status, Priority::FULL_SYNC, now);
        self.status.internal_last_applied_checkpoint_request_id = applied;
        self.downloading = false;
        let mut counts: HashMap<&str, i64> = HashMap::with_capacity(target.buckets.len());
        for b in target.buckets.iter().rev() {
            // The first bucket of a name wins, as a search from the front would find it.
            if let Some(count) = b.count {
                counts.insert(b.bucket.as_str(), count);
            } else {
                counts.remove(b.bucket.as_str());
            }
        }
        for (name, progress) in &mut self.progress {
            if let Some(&count) = counts.get(name.as_str()) {
                progress.at_last = count;
                progress.since_last = 0;
            }
        }
        self.refresh_progress();
        self.status.held_rows = held_rows;
        self.pending = held_rows.map(|_| target.clone());
        Ok(())
    }

    /// Retries the held-back checkpoint after the SDK uploaded local writes. The checkpoint stays
    /// pending until it is applied (or replaced by a newer one).
    pub fn completed_upload(&mut self, db: &Connection, state: &DatabaseState) -> PsResult<Outcome> {
        let Some(pending) = self.pending.clone() else {
            return Ok(self.finish(Vec::new(), Vec::new()));
        };
        let target = checkpoint_requests::target(db)?;
        if pending.write_checkpoint.map(|w| w.0) < target {
            // It cannot contain the write checkpoint of that upload: no use trying yet.
            return Ok(self.finish(Vec::new(), Vec::new()));
        }
        let not_applied = || {
            Instruction::log(
                Severity::Warning,
                "Could not apply pending checkpoint even after completed upload",
            )
        };
        let failures = storage::validate_checksums(db, buckets_in_range(&pending, None))?;
        if !failures.is_empty() {
            for failure in &failures {
                storage::delete_bucket(db, &failure.bucket)?;
            }
            return Ok(self.finish(vec![not_applied()], Vec::new()));
        }
        let now = now_micros();
        let mut out = Vec::new();
        match sync_local(db, state, &pending, None, &mut self.targets, now)? {
            SyncLocalResult::Applied => {
                out.push(Instruction::log(
                    Severity::Debug,
                    "Applied pending checkpoint after completed upload",
                ));
                self.after_complete_apply(db, &pending, now, None, &mut out)?;
            }
            SyncLocalResult::AppliedAround { held_rows } => {
                out.push(applied_around_log(
                    "Applied pending checkpoint after completed upload",
                    held_rows,
                ));
                self.after_complete_apply(db, &pending, now, Some(held_rows), &mut out)?;
            }
            SyncLocalResult::PendingLocalChanges => {
                out.push(not_applied());
                let fallback = self.publish_priority_zero(db, state, &pending, now)?;
                self.after_priority_zero(fallback, now);
            }
        }
        Ok(self.finish(out, Vec::new()))
    }
}

/// The log line of a healed (or, in legacy mode, detected) stuck write gate.
fn heal_log(heal: checkpoint_requests::GateHeal) -> Instruction {
    const FOUND: &str = "The local-write gate was closed with nothing to upload and no write checkpoint requested (an upload was interrupted before its write checkpoint was stored)";
    match heal {
        checkpoint_requests::GateHeal::Requested(id) => Instruction::log(
            Severity::Info,
            format!("{FOUND}; waiting for checkpoint request {id} instead"),
        ),
        checkpoint_requests::GateHeal::LeftToClient => Instruction::log(
            Severity::Warning,
            format!("{FOUND}; checkpoints wait until the client fetches a write checkpoint"),
        ),
    }
}

/// The DEBUG log of a checkpoint applied around pending uploads (docs/protocol.md, "Applying
/// around pending uploads").
fn applied_around_log(what: &str, held_rows: i64) -> Instruction {
    Instruction::log(
        Severity::Debug,
        format!("{what} around pending uploads; {held_rows} row(s) with local writes keep their local version"),
    )
}

/// Download progress of a new target checkpoint (docs/protocol.md, "Bucket storage"): each bucket continues from its stored
/// counters, except a bucket that now has fewer ops than counted (compaction), which starts from
/// zero, in memory and in the table; the other buckets keep theirs.
fn load_progress(db: &Connection, checkpoint: &Checkpoint) -> PsResult<Vec<(String, BucketProgress)>> {
    let stored = storage::bucket_counters(db)?;
    let mut progress = Vec::with_capacity(checkpoint.buckets.len());
    for bucket in &checkpoint.buckets {
        let target_count = bucket.count.unwrap_or(0);
        let (mut at_last, mut since_last) = (0, 0);
        if let Some(counters) = stored.get(&bucket.bucket) {
            if target_count < counters.at_last.saturating_add(counters.since_last) {
                storage::reset_counts(db, counters.id)?;
            } else {
                (at_last, since_last) = (counters.at_last, counters.since_last);
            }
        }
        progress.push((
            bucket.bucket.clone(),
            BucketProgress {
                priority: bucket.priority().0,
                at_last,
                since_last,
                target_count,
            },
        ));
    }
    Ok(progress)
}

/// Ops a bucket still has to download by its count (0 without one).
fn bucket_remaining(p: &BucketProgress) -> i64 {
    (p.target_count - p.at_last.saturating_add(p.since_last)).max(0)
}

/// What bulk mode does with one data line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BulkStep {
    /// Bulk mode is off: the per-op path.
    Off,
    /// Append without probing.
    Append,
    /// Append, then finish bulk mode: the line completes the download.
    AppendThenFinish,
    /// Finish bulk mode, then the per-op path (a CLEAR, or ops with negative ids).
    FinishFirst,
}

impl BulkStep {
    /// Whether the line finishes bulk mode (DDL and multi-row statements: it needs the call's
    /// savepoint).
    pub(crate) fn finishes(self) -> bool {
        matches!(self, BulkStep::AppendThenFinish | BulkStep::FinishFirst)
    }
}

/// What kind of JSON value each property of an object holds, in document order.
struct OrderedObject(Vec<(String, JsonKind)>);

enum JsonKind {
    Null,
    String,
    Integer,
    Real,
    Other,
}

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: Json = map.next_value()?;
                    let kind = match value {
                        Json::Null => JsonKind::Null,
                        Json::String(_) => JsonKind::String,
                        Json::Number(n) if n.is_f64() => JsonKind::Real,
                        Json::Number(_) => JsonKind::Integer,
                        _ => JsonKind::Other,
                    };
                    out.push((key, kind));
                }
                Ok(OrderedObject(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests;
