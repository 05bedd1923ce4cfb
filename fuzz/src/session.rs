//! `session`: the input decodes (`arbitrary`) into a sync session: `powersync_control` commands,
//! sync lines built from a model of the service (so most are valid), local writes through the
//! `items` view, uploads, commits and rollbacks.
//!
//! The harness plays the service honestly: it keeps every bucket's ops, sends checkpoints with
//! true checksums, resumes data from the positions the `start` request reports, and applies
//! uploaded `ps_crud` entries as new ops. Against that model it checks, after every step:
//! - a failed `powersync_control` call changed nothing (`common::control`);
//! - no committed `ps_crud` entry is lost unless the harness completed it (`CrudModel`);
//! - `ps_data__items` (what the `items` view shows) is the last published state or the state
//!   the call may publish: the service's rows at the tracked checkpoint for a complete
//!   checkpoint, those rows' new ops within the priority range for a partial one, and nothing
//!   new while local writes are queued (the gate);
//! - after a successful `start` or `checkpoint_complete` (each finishes a bulk download,
//!   `sync::bulk`), both oplog indexes exist with the reference's SQL;
//! - at the end, `PRAGMA integrity_check` is ok.
//!
//! Fuzzing builds (`--cfg fuzzing`) take bulk mode from 4 ops on, so a checkpoint announcing a
//! few ops by its buckets' counts reaches it. `PS_FUZZ_BULK_STATS=1` prints, at every power of two
//! of inputs run, how many reached bulk mode.
//!
//! Raw lines and rolled-back control calls make the client's storage unknowable to the model;
//! from then on only the first two checks and integrity apply.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use rusqlite::types::Value;
use rusqlite::Connection;
use serde_json::json;

use super::common;
use super::crud_insert::CrudModel;

/// Bucket names and priorities; row `r<i>` lives in bucket `i % 3`.
const BUCKETS: [(&str, i64); 3] = [("b0", 0), ("b1", 1), ("b2", 3)];
const ROWS: usize = 8;

#[derive(Arbitrary, Debug)]
enum Step {
    Control { cmd: Cmd, rollback: bool },
    ServerPut { row: u8, v: u8, n: u8 },
    ServerRemove { row: u8 },
    ServerClear { bucket: u8 },
    Local { writes: Vec<Write>, commit: bool },
    Upload { transactions: u8 },
}

#[derive(Arbitrary, Debug)]
enum Cmd {
    Start {
        requests_mode: bool,
        streams: bool,
    },
    Stop,
    Established,
    End,
    RefreshedToken,
    CompletedUpload,
    TokenExpiresIn(i8),
    Checkpoint {
        binary: bool,
        write_checkpoint: bool,
        streams: bool,
    },
    Diff {
        binary: bool,
        write_checkpoint: bool,
    },
    Data {
        binary: bool,
        bucket: u8,
        max_ops: u8,
    },
    Complete {
        binary: bool,
    },
    Partial {
        binary: bool,
        priority: u8,
    },
    RawText(String),
    RawBinary(Vec<u8>),
    Subscribe {
        stream: u8,
        ttl: Option<u16>,
        priority: Option<u8>,
    },
    Unsubscribe {
        stream: u8,
    },
    UpdateSubscriptions {
        mask: u8,
    },
    SeedRequestId(u8),
    NextRequestId,
    TargetRequestId(Option<u8>),
}

#[derive(Arbitrary, Debug)]
enum Write {
    Insert { row: u8, v: u8, n: u8 },
    Update { row: u8, v: u8 },
    Delete { row: u8 },
    SavepointRolledBack { row: u8 },
}

#[derive(Clone, Debug)]
enum OpKind {
    Put { row: usize, data: String },
    Remove { row: usize },
    Clear,
}

#[derive(Clone, Debug)]
struct Op {
    id: i64,
    bucket: usize,
    kind: OpKind,
    checksum: u32,
}

/// The service: every op ever, and the write checkpoint it reports.
#[derive(Default)]
struct Service {
    ops: Vec<Op>,
    write_checkpoint: Option<i64>,
    issued: i64,
}

impl Service {
    fn last_op(&self) -> i64 {
        self.ops.last().map_or(0, |o| o.id)
    }

    fn push(&mut self, bucket: usize, kind: OpKind) {
        let id = self.last_op() + 1;
        // Derived from the id so that the fuzzer cannot make a missing op's checksum cancel out.
        let checksum = (id as u32).wrapping_mul(0x9e37_79b1) ^ 0x5bd1_e995;
        self.ops.push(Op {
            id,
            bucket,
            kind,
            checksum,
        });
    }

    /// Bucket checksum and op count at checkpoint `at` (a CLEAR stands for everything before it).
    fn bucket_state(&self, bucket: usize, at: i64) -> (u32, i64) {
        let mut sum = 0u32;
        let mut count = 0i64;
        for op in self.ops.iter().filter(|o| o.bucket == bucket && o.id <= at) {
            if matches!(op.kind, OpKind::Clear) {
                sum = 0;
                count = 0;
            }
            sum = sum.wrapping_add(op.checksum);
            count += 1;
        }
        (sum, count)
    }

    /// Each row's latest op up to `at`: `Some((op id, data))` for a PUT, `None` otherwise.
    fn rows(&self, at: i64) -> BTreeMap<usize, Option<(i64, String)>> {
        let mut rows = BTreeMap::new();
        for op in self.ops.iter().filter(|o| o.id <= at) {
            match &op.kind {
                OpKind::Put { row, data } => {
                    rows.insert(*row, Some((op.id, data.clone())));
                }
                OpKind::Remove { row } => {
                    rows.insert(*row, None);
                }
                OpKind::Clear => {
                    for row in (0..ROWS).filter(|r| r % 3 == op.bucket) {
                        rows.insert(row, None);
                    }
                }
            }
        }
        rows
    }

    /// `default_stream`: the buckets belong to the checkpoint's first (default) stream.
    fn bucket_checksums(&self, at: i64, default_stream: bool) -> Vec<serde_json::Value> {
        (0..BUCKETS.len())
            .map(|b| {
                let (checksum, count) = self.bucket_state(b, at);
                let mut bucket = json!({"bucket": BUCKETS[b].0, "checksum": checksum,
                    "priority": BUCKETS[b].1, "count": count});
                if default_stream {
                    bucket["subscriptions"] = json!([{"default": 0}]);
                }
                bucket
            })
            .collect()
    }
}

/// One sync stream as the service sees it.
struct Stream {
    /// Per bucket: ops up to this id have been delivered (from the request's `after`).
    sent: [i64; 3],
    /// The checkpoint the client tracks.
    checkpoint: Option<i64>,
    /// The checkpoint the gate held back, which `completed_upload` may publish.
    pending: Option<i64>,
}

fn row_id(row: usize) -> String {
    format!("r{row}")
}

fn row_data(v: u8, n: u8) -> String {
    json!({"v": format!("v{}", v % 4), "n": n % 8}).to_string()
}

struct Session {
    db: Connection,
    service: Service,
    stream: Option<Stream>,
    crud: CrudModel,
    /// False once the client's storage may differ from what the model can predict.
    trusted: bool,
    /// Whether bulk mode was on after some call.
    reached_bulk: bool,
}

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut s = Session::new();
    // What every SDK does first, so that the fuzzer's steps start on a connected iteration.
    s.run_step(Step::Control {
        cmd: Cmd::Start {
            requests_mode: false,
            streams: false,
        },
        rollback: false,
    });
    s.run_step(Step::Control {
        cmd: Cmd::Established,
        rollback: false,
    });
    for _ in 0..48 {
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        s.run_step(step);
    }
    common::check_integrity(&s.db);
    bulk_stats(s.reached_bulk);
}

/// The exact SQL of the oplog indexes that bulk mode drops.
const OPLOG_INDEXES: [(&str, &str); 2] = [
    ("ps_oplog_key", "CREATE INDEX ps_oplog_key ON ps_oplog (bucket, key)"),
    (
        "ps_oplog_row",
        "CREATE INDEX ps_oplog_row ON ps_oplog (row_type, row_id)",
    ),
];

fn bulk_mode(db: &Connection) -> bool {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'ps_oplog_opid') \
         AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'ps_oplog_key')",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn check_oplog_indexes(db: &Connection, cmd: &Cmd) {
    for (name, sql) in OPLOG_INDEXES {
        let stored: Option<String> = db
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                [name],
                |r| r.get(0),
            )
            .ok();
        assert_eq!(stored.as_deref(), Some(sql), "index {name} after {cmd:?}");
    }
}

/// Counts inputs, and those that reached bulk mode; prints both when `PS_FUZZ_BULK_STATS` is set.
fn bulk_stats(reached: bool) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUN: AtomicU64 = AtomicU64::new(0);
    static BULK: AtomicU64 = AtomicU64::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed) + 1;
    let bulk = BULK.fetch_add(reached as u64, Ordering::Relaxed) + reached as u64;
    if run.is_power_of_two() && std::env::var_os("PS_FUZZ_BULK_STATS").is_some() {
        eprintln!("session: bulk mode reached in {bulk} of {run} inputs");
    }
}

impl Session {
    fn new() -> Self {
        Session {
            db: common::open_with_schema(),
            service: Service::default(),
            stream: None,
            crud: CrudModel::default(),
            trusted: true,
            reached_bulk: false,
        }
    }

    fn run_step(&mut self, step: Step) {
        self.step(step);
        self.crud.check(&self.db);
    }

    fn view(&self) -> BTreeMap<String, String> {
        let mut stmt = self.db.prepare("SELECT id, data FROM ps_data__items").unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    fn crud_is_empty(&self) -> bool {
        self.db
            .query_row("SELECT count(*) = 0 FROM ps_crud", [], |r| r.get(0))
            .unwrap()
    }

    fn last_applied(&self) -> [i64; 3] {
        BUCKETS.map(|(name, _)| {
            self.db
                .query_row("SELECT last_applied_op FROM ps_buckets WHERE name = ?", [name], |r| {
                    r.get(0)
                })
                .unwrap_or(0)
        })
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Control { cmd, rollback } => self.control(cmd, rollback),
            Step::ServerPut { row, v, n } => {
                let row = row as usize % ROWS;
                self.service.push(
                    row % 3,
                    OpKind::Put {
                        row,
                        data: row_data(v, n),
                    },
                );
            }
            Step::ServerRemove { row } => {
                let row = row as usize % ROWS;
                self.service.push(row % 3, OpKind::Remove { row });
            }
            Step::ServerClear { bucket } => self.service.push(bucket as usize % 3, OpKind::Clear),
            Step::Local { writes, commit } => self.local(&writes, commit),
            Step::Upload { transactions } => self.upload(transactions),
        }
    }

    fn local(&mut self, writes: &[Write], commit: bool) {
        let db = &self.db;
        db.execute_batch("BEGIN").unwrap();
        for write in writes.iter().take(4) {
            let result = match write {
                Write::Insert { row, v, n } => db.execute(
                    "INSERT INTO items(id, v, n) VALUES (?, ?, ?)",
                    rusqlite::params![row_id(*row as usize % ROWS), format!("l{}", v % 4), n % 8],
                ),
                Write::Update { row, v } => db.execute(
                    "UPDATE items SET v = ? WHERE id = ?",
                    rusqlite::params![format!("l{}", v % 4), row_id(*row as usize % ROWS)],
                ),
                Write::Delete { row } => db.execute("DELETE FROM items WHERE id = ?", [row_id(*row as usize % ROWS)]),
                Write::SavepointRolledBack { row } => db.execute_batch("SAVEPOINT s").and_then(|_| {
                    let r = db.execute(
                        "INSERT OR REPLACE INTO items(id, v) VALUES (?, 'gone')",
                        [row_id(*row as usize % ROWS)],
                    );
                    db.execute_batch("ROLLBACK TO s; RELEASE s")?;
                    r
                }),
            };
            common::tolerate(result, "local write");
        }
        db.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" }).unwrap();
    }

    /// Uploads the first transactions of the queue: applies them to the service, completes them
    /// (deletes them from `ps_crud`, as the app's upload handler does), and once the queue is
    /// empty sets the write-checkpoint target and reports `completed_upload` (docs/protocol.md, "The client's side").
    fn upload(&mut self, transactions: u8) {
        let entries: Vec<(i64, i64, String)> = {
            let mut stmt = self
                .db
                .prepare("SELECT id, tx_id, data FROM ps_crud ORDER BY id")
                .unwrap();
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        let mut txs: Vec<i64> = entries.iter().map(|e| e.1).collect();
        txs.dedup();
        let take = (transactions as usize % 3) + 1;
        let mut uploaded = Vec::new();
        for (id, tx, data) in &entries {
            if txs.iter().position(|t| t == tx).is_none_or(|i| i >= take) {
                break;
            }
            self.apply_upload(data);
            uploaded.push(*id);
        }
        if let Some(&last) = uploaded.last() {
            self.db.execute("DELETE FROM ps_crud WHERE id <= ?", [last]).unwrap();
            self.crud.forget(uploaded);
        }
        if !self.crud_is_empty() {
            return;
        }
        self.db.execute_batch("BEGIN").unwrap();
        let target = common::control(&self.db, "target_checkpoint_request_id", Value::Null);
        let needs_target = matches!(target, Ok(Value::Integer(i64::MAX)));
        if needs_target {
            self.service.issued += 1;
            self.service.write_checkpoint = Some(self.service.issued);
            common::control(
                &self.db,
                "target_checkpoint_request_id",
                Value::Integer(self.service.issued),
            )
            .expect("setting the target");
        }
        self.db.execute_batch("COMMIT").unwrap();
        if needs_target && self.stream.is_some() {
            self.control(Cmd::CompletedUpload, false);
        }
    }

    fn apply_upload(&mut self, entry: &str) {
        let entry: serde_json::Value = serde_json::from_str(entry).expect("ps_crud data is JSON");
        if entry["type"] != "items" {
            return;
        }
        let Some(row) = entry["id"]
            .as_str()
            .and_then(|id| id.strip_prefix('r'))
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|&i| i < ROWS)
        else {
            return;
        };
        let current = self.service.rows(i64::MAX).remove(&row).flatten();
        let kind = match entry["op"].as_str() {
            Some("PUT") => OpKind::Put {
                row,
                data: entry["data"].to_string(),
            },
            Some("PATCH") => {
                let mut data: serde_json::Map<String, serde_json::Value> = current
                    .map(|(_, d)| serde_json::from_str(&d).unwrap())
                    .unwrap_or_default();
                if let Some(patch) = entry["data"].as_object() {
                    for (k, v) in patch {
                        data.insert(k.clone(), v.clone());
                    }
                }
                OpKind::Put {
                    row,
                    data: serde_json::Value::Object(data).to_string(),
                }
            }
            _ => OpKind::Remove { row },
        };
        self.service.push(row % 3, kind);
    }

    /// The line for `cmd`, when it is a structured sync line (`None` when there is no stream to
    /// send it on, or nothing to send).
    fn line(&mut self, cmd: &Cmd) -> Option<(serde_json::Value, bool)> {
        let stream = self.stream.as_mut()?;
        match *cmd {
            Cmd::Checkpoint {
                binary,
                write_checkpoint,
                streams,
            } => {
                let at = self.service.last_op();
                stream.checkpoint = Some(at);
                let mut checkpoint = json!({"last_op_id": at.to_string(),
                    "buckets": self.service.bucket_checksums(at, streams)});
                if write_checkpoint {
                    checkpoint["write_checkpoint"] = json!(self.service.write_checkpoint.map(|w| w.to_string()));
                }
                if streams {
                    checkpoint["streams"] = json!([{"name": "s0", "is_default": true, "errors": []}]);
                }
                Some((json!({"checkpoint": checkpoint}), binary))
            }
            Cmd::Diff {
                binary,
                write_checkpoint,
            } => {
                let at = self.service.last_op();
                let mut diff = json!({"last_op_id": at.to_string(),
                    "updated_buckets": self.service.bucket_checksums(at, false), "removed_buckets": []});
                if write_checkpoint {
                    diff["write_checkpoint"] = json!(self.service.write_checkpoint.map(|w| w.to_string()));
                }
                if stream.checkpoint.is_some() {
                    stream.checkpoint = Some(at);
                }
                Some((json!({"checkpoint_diff": diff}), binary))
            }
            Cmd::Data {
                binary,
                bucket,
                max_ops,
            } => {
                let bucket = bucket as usize % 3;
                let at = stream.checkpoint?;
                let ops: Vec<&Op> = self
                    .service
                    .ops
                    .iter()
                    .filter(|o| o.bucket == bucket && o.id > stream.sent[bucket] && o.id <= at)
                    .take(max_ops as usize % 8 + 1)
                    .collect();
                let last = ops.last()?.id;
                stream.sent[bucket] = last;
                let data: Vec<serde_json::Value> = ops
                    .iter()
                    .map(|o| match &o.kind {
                        OpKind::Put { row, data } => json!({"op_id": o.id.to_string(), "op": "PUT",
                            "object_type": "items", "object_id": row_id(*row), "checksum": o.checksum,
                            "subkey": null, "data": data}),
                        OpKind::Remove { row } => json!({"op_id": o.id.to_string(), "op": "REMOVE",
                            "object_type": "items", "object_id": row_id(*row), "checksum": o.checksum}),
                        OpKind::Clear => json!({"op_id": o.id.to_string(), "op": "CLEAR", "checksum": o.checksum}),
                    })
                    .collect();
                Some((json!({"data": {"bucket": BUCKETS[bucket].0, "data": data}}), binary))
            }
            Cmd::Complete { binary } => {
                let at = stream.checkpoint.unwrap_or(0);
                Some((json!({"checkpoint_complete": {"last_op_id": at.to_string()}}), binary))
            }
            Cmd::Partial { binary, priority } => {
                let at = stream.checkpoint.unwrap_or(0);
                Some((
                    json!({"partial_checkpoint_complete": {"last_op_id": at.to_string(), "priority": priority % 4}}),
                    binary,
                ))
            }
            _ => None,
        }
    }

    /// The command's `powersync_control` arguments.
    fn arguments(&mut self, cmd: &Cmd) -> Option<(&'static str, Value)> {
        let structured = self.line(cmd);
        Some(match cmd {
            Cmd::Start { requests_mode, streams } => {
                let mut payload = json!({"parameters": {"p": 1}});
                if *requests_mode {
                    payload["checkpoint_mode"] = json!("requests");
                }
                if *streams {
                    payload["active_streams"] = json!([{"name": "s1", "params": {"k": 1}}]);
                    payload["include_defaults"] = json!(false);
                }
                ("start", Value::Text(payload.to_string()))
            }
            Cmd::Stop => ("stop", Value::Null),
            Cmd::Established => ("connection", Value::Text("established".into())),
            Cmd::End => ("connection", Value::Text("end".into())),
            Cmd::RefreshedToken => ("refreshed_token", Value::Null),
            Cmd::CompletedUpload => ("completed_upload", Value::Null),
            Cmd::TokenExpiresIn(t) => ("line_text", Value::Text(json!({"token_expires_in": t}).to_string())),
            Cmd::RawText(text) => ("line_text", Value::Text(text.clone())),
            Cmd::RawBinary(bytes) => ("line_binary", Value::Blob(bytes.clone())),
            Cmd::Subscribe { stream, ttl, priority } => {
                let mut sub = json!({"stream": {"name": format!("s{}", stream % 3), "params": null}});
                if let Some(ttl) = ttl {
                    sub["ttl"] = json!(ttl);
                }
                if let Some(p) = priority {
                    sub["priority"] = json!(p % 4);
                }
                ("subscriptions", Value::Text(json!({ "subscribe": sub }).to_string()))
            }
            Cmd::Unsubscribe { stream } => (
                "subscriptions",
                Value::Text(json!({"unsubscribe": {"name": format!("s{}", stream % 3), "params": null}}).to_string()),
            ),
            Cmd::UpdateSubscriptions { mask } => {
                let list: Vec<_> = (0..3)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| json!({"name": format!("s{i}"), "params": {"k": 1}}))
                    .collect();
                ("update_subscriptions", Value::Text(json!(list).to_string()))
            }
            Cmd::SeedRequestId(v) => ("seed_checkpoint_request_id", Value::Integer(*v as i64)),
            Cmd::NextRequestId => ("next_checkpoint_request_id", Value::Null),
            Cmd::TargetRequestId(v) => (
                "target_checkpoint_request_id",
                v.map_or(Value::Null, |v| Value::Integer(v as i64)),
            ),
            _ => {
                let (line, binary) = structured?;
                if binary {
                    let doc = bson::serialize_to_vec(&line).expect("a JSON line converts to BSON");
                    ("line_binary", Value::Blob(doc))
                } else {
                    ("line_text", Value::Text(line.to_string()))
                }
            }
        })
    }

    /// What `ps_data__items` may show after `cmd` succeeds, besides what it showed before.
    fn may_publish(&self, cmd: &Cmd) -> Option<BTreeMap<String, String>> {
        let stream = self.stream.as_ref()?;
        let at = match cmd {
            Cmd::CompletedUpload => stream.pending?,
            _ => stream.checkpoint?,
        };
        let gate_closed = !self.crud_is_empty();
        let rows = self.service.rows(at);
        match cmd {
            Cmd::Complete { .. } | Cmd::CompletedUpload if !gate_closed => Some(
                rows.into_iter()
                    .filter_map(|(row, op)| op.map(|(_, data)| (row_id(row), data)))
                    .collect(),
            ),
            Cmd::Partial { priority, .. } if priority % 4 == 0 || !gate_closed => {
                let p = (priority % 4) as i64;
                let applied = self.last_applied();
                let mut view = self.view();
                for (row, op) in rows {
                    let bucket = row % 3;
                    if BUCKETS[bucket].1 > p {
                        continue;
                    }
                    if let Some((id, data)) = op {
                        if id > applied[bucket] {
                            view.insert(row_id(row), data);
                        }
                    }
                }
                Some(view)
            }
            _ => None,
        }
    }

    fn control(&mut self, cmd: Cmd, rollback: bool) {
        let Some((op, payload)) = self.arguments(&cmd) else {
            return;
        };
        let raw = matches!(cmd, Cmd::RawText(_) | Cmd::RawBinary(_));
        let before = self.view();
        let candidate = if self.trusted { self.may_publish(&cmd) } else { None };
        self.db.execute_batch("BEGIN").unwrap();
        let result = common::control(&self.db, op, payload);
        let after = self.view();
        match &result {
            Ok(value) => {
                let instructions = common::text(value);
                if matches!(cmd, Cmd::Start { .. } | Cmd::Complete { .. }) {
                    check_oplog_indexes(&self.db, &cmd);
                }
                self.reached_bulk |= bulk_mode(&self.db);
                if after != before {
                    assert!(
                        matches!(
                            cmd,
                            Cmd::Complete { .. }
                                | Cmd::Partial { .. }
                                | Cmd::CompletedUpload
                                | Cmd::RawText(_)
                                | Cmd::RawBinary(_)
                        ),
                        "{cmd:?} changed the views without publishing a checkpoint: {instructions}"
                    );
                    if self.trusted && !raw {
                        assert_eq!(
                            Some(&after),
                            candidate.as_ref(),
                            "{cmd:?} published something other than the checkpoint (gate closed: {}): {instructions}",
                            !self.crud_is_empty()
                        );
                    }
                }
                if raw {
                    self.trusted = false;
                }
                match &cmd {
                    Cmd::Start { .. } => self.stream = Some(stream_from(instructions)),
                    _ if instructions.contains("CloseSyncStream") => self.stream = None,
                    _ => {}
                }
                if let Some(stream) = &mut self.stream {
                    match &cmd {
                        Cmd::Complete { .. } if instructions.contains("due to local data") => {
                            stream.pending = stream.checkpoint;
                        }
                        Cmd::Complete { .. } | Cmd::Checkpoint { .. } | Cmd::CompletedUpload => stream.pending = None,
                        _ => {}
                    }
                }
            }
            Err(e) => {
                let text = e.to_string();
                if op.starts_with("line_") || op == "connection" && !text.contains("unknown connection event") {
                    self.stream = None;
                }
                if matches!(cmd, Cmd::Start { .. }) || text.contains("No iteration is active") {
                    self.stream = None;
                }
            }
        }
        if rollback {
            self.db.execute_batch("ROLLBACK").unwrap();
            if result.is_ok() {
                // The extension's in-memory iteration went on; the database did not.
                self.trusted = false;
            }
        } else {
            self.db.execute_batch("COMMIT").unwrap();
        }
    }
}

/// The service's view of a new stream: the bucket positions the request reports.
fn stream_from(instructions: &str) -> Stream {
    let mut sent = [0; 3];
    let parsed: serde_json::Value = serde_json::from_str(instructions).expect("start returns JSON");
    for instruction in parsed.as_array().into_iter().flatten() {
        let Some(buckets) = instruction.pointer("/EstablishSyncStream/request/buckets") else {
            continue;
        };
        for bucket in buckets.as_array().into_iter().flatten() {
            let name = bucket["name"].as_str().unwrap_or_default();
            if let Some(i) = BUCKETS.iter().position(|(n, _)| *n == name) {
                sent[i] = bucket["after"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0);
            }
        }
    }
    Stream {
        sent,
        checkpoint: None,
        pending: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(steps: Vec<Step>) -> Session {
        let mut s = Session::new();
        for step in steps {
            s.run_step(step);
        }
        s
    }

    fn control(cmd: Cmd) -> Step {
        Step::Control { cmd, rollback: false }
    }

    /// The model is not vacuous: a synced row, then a local write, its upload and the next
    /// checkpoint all reach the view through the checks above.
    #[test]
    fn session_model_publishes_checkpoints() {
        let mut s = session(vec![
            Step::ServerPut { row: 0, v: 1, n: 2 },
            Step::ServerPut { row: 4, v: 2, n: 3 },
            control(Cmd::Start {
                requests_mode: false,
                streams: false,
            }),
            control(Cmd::Established),
            control(Cmd::Checkpoint {
                binary: false,
                write_checkpoint: true,
                streams: false,
            }),
            control(Cmd::Data {
                binary: true,
                bucket: 0,
                max_ops: 7,
            }),
            control(Cmd::Data {
                binary: false,
                bucket: 1,
                max_ops: 7,
            }),
            control(Cmd::Complete { binary: false }),
        ]);
        assert!(s.trusted);
        assert_eq!(s.view().len(), 2, "{:?}", s.view());
        for step in [
            Step::Local {
                writes: vec![Write::Insert { row: 2, v: 0, n: 0 }],
                commit: true,
            },
            control(Cmd::Checkpoint {
                binary: false,
                write_checkpoint: true,
                streams: false,
            }),
            control(Cmd::Complete { binary: false }),
            Step::Upload { transactions: 0 },
            control(Cmd::Checkpoint {
                binary: true,
                write_checkpoint: true,
                streams: false,
            }),
            control(Cmd::Data {
                binary: false,
                bucket: 2,
                max_ops: 7,
            }),
            control(Cmd::Complete { binary: true }),
        ] {
            s.run_step(step);
        }
        assert!(s.trusted);
        assert_eq!(s.view().len(), 3, "{:?}", s.view());
        assert!(s.crud_is_empty());
    }
}
