//! Shared helpers of the sync unit tests: a database with the JSON tables below,
//! sync-line builders, an iteration driven directly in Rust, and instructions as JSON with the
//! clock taken out (so tests compare whole instruction arrays).

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::error::{PsError, PsResult};
use crate::state::DatabaseState;
use crate::sync::instruction::{to_json, Instruction};
use crate::sync::iteration::{Iteration, Outcome, StartOptions};
use crate::sync::line::{parse_text, SyncLine};

/// JSON tables `items(name TEXT, qty INTEGER)` and `lists(title TEXT)`.
pub const SCHEMA: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"TEXT"},{"name":"qty","type":"INTEGER"}]},{"name":"lists","columns":[{"name":"title","type":"TEXT"}]}]}"#;

/// A database with the internal tables and `schema` applied.
pub fn open_with(schema: &str) -> Connection {
    let db = crate::testing::open();
    db.execute_batch("BEGIN; SELECT powersync_init();").unwrap();
    db.query_row("SELECT powersync_replace_schema(?)", [schema], |_| Ok(()))
        .unwrap();
    db.execute_batch("COMMIT").unwrap();
    db
}

/// A database with [`SCHEMA`].
pub fn open_db() -> Connection {
    open_with(SCHEMA)
}

pub fn parse(text: &str) -> SyncLine<'_> {
    parse_text(text).unwrap_or_else(|e| panic!("bad test line {text}: {e}"))
}

// ---- line builders (JSON text, as the service sends it) ----

/// A checkpoint bucket entry.
pub fn bucket(name: &str, checksum: i64, priority: i32, count: i64) -> Value {
    json!({"bucket": name, "checksum": checksum, "priority": priority, "count": count})
}

pub fn checkpoint(last_op: i64, buckets: Value) -> String {
    json!({"checkpoint": {"last_op_id": last_op.to_string(), "write_checkpoint": null, "buckets": buckets}}).to_string()
}

pub fn checkpoint_with_write(last_op: i64, write_checkpoint: i64, buckets: Value) -> String {
    json!({"checkpoint": {"last_op_id": last_op.to_string(), "write_checkpoint": write_checkpoint.to_string(), "buckets": buckets}})
        .to_string()
}

pub fn diff(last_op: i64, updated: Value, removed: &[&str]) -> String {
    json!({"checkpoint_diff": {"last_op_id": last_op.to_string(), "write_checkpoint": null, "updated_buckets": updated, "removed_buckets": removed}})
        .to_string()
}

pub fn diff_with_write(last_op: i64, write_checkpoint: i64, updated: Value, removed: &[&str]) -> String {
    json!({"checkpoint_diff": {"last_op_id": last_op.to_string(), "write_checkpoint": write_checkpoint.to_string(), "updated_buckets": updated, "removed_buckets": removed}})
        .to_string()
}

/// A PUT op; `data` is the row object (sent as JSON text inside the line).
pub fn put(op_id: i64, object_type: &str, object_id: &str, checksum: i64, data: Value) -> Value {
    json!({"op_id": op_id.to_string(), "op": "PUT", "object_type": object_type, "object_id": object_id, "checksum": checksum, "data": data.to_string()})
}

pub fn remove(op_id: i64, object_type: &str, object_id: &str, checksum: i64) -> Value {
    json!({"op_id": op_id.to_string(), "op": "REMOVE", "object_type": object_type, "object_id": object_id, "checksum": checksum})
}

pub fn data(bucket: &str, ops: Value) -> String {
    json!({"data": {"bucket": bucket, "data": ops}}).to_string()
}

pub fn complete(last_op: i64) -> String {
    json!({"checkpoint_complete": {"last_op_id": last_op.to_string()}}).to_string()
}

pub fn partial(last_op: i64, priority: i32) -> String {
    json!({"partial_checkpoint_complete": {"last_op_id": last_op.to_string(), "priority": priority}}).to_string()
}

pub fn token_expires_in(seconds: i64) -> String {
    json!({ "token_expires_in": seconds }).to_string()
}

// ---- instructions ----

/// Instructions as JSON, with every numeric `last_synced_at` replaced by `"<now>"`.
pub fn instructions(out: &[Instruction]) -> Value {
    let mut value: Value = serde_json::from_str(&to_json(out)).unwrap();
    scrub_times(&mut value);
    value
}

fn scrub_times(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "last_synced_at" && v.is_number() {
                    *v = json!("<now>");
                } else {
                    scrub_times(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_times),
        _ => {}
    }
}

/// The one key of each instruction, in order.
pub fn names(instructions: &Value) -> Vec<String> {
    instructions
        .as_array()
        .expect("an instruction array")
        .iter()
        .map(|i| i.as_object().unwrap().keys().next().unwrap().clone())
        .collect()
}

/// The status of the last `UpdateSyncStatus` in `instructions`.
pub fn status_of(instructions: &Value) -> Value {
    instructions
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|i| i.get("UpdateSyncStatus"))
        .unwrap_or_else(|| panic!("no UpdateSyncStatus in {instructions}"))["status"]
        .clone()
}

/// A status object as the tests spell it: connected, no streams, no internal request id.
pub fn connected_status(priority_status: Value, downloading: Value) -> Value {
    json!({"connected": true, "connecting": false, "priority_status": priority_status, "downloading": downloading, "streams": []})
}

/// `priority_status` entries synced "now".
pub fn synced(priorities: &[i64]) -> Value {
    priorities
        .iter()
        .map(|p| json!({"priority": p, "last_synced_at": "<now>", "has_synced": true}))
        .collect()
}

/// `downloading` with `(priority, since_last, target_count)` groups, in the given order.
pub fn downloading(groups: &[(i32, i64, i64)]) -> Value {
    let mut buckets = serde_json::Map::new();
    for (p, since, target) in groups {
        buckets.insert(
            format!("prio_{p}"),
            json!({"priority": p, "at_last": 0, "since_last": since, "target_count": target}),
        );
    }
    json!({ "buckets": buckets })
}

// ---- database ----

/// All rows of `sql` as JSON arrays (TEXT → string, INTEGER → number, NULL → null).
pub fn query(db: &Connection, sql: &str) -> Value {
    let mut stmt = db.prepare(sql).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => json!(v),
                    ValueRef::Real(v) => json!(v),
                    ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => json!(b),
                });
            }
            Ok(Value::Array(row))
        })
        .unwrap();
    Value::Array(rows.collect::<Result<_, _>>().unwrap())
}

pub fn count(db: &Connection, table: &str) -> i64 {
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

pub fn client_id(db: &Connection) -> String {
    db.query_row("SELECT value FROM ps_kv WHERE key = 'client_id'", [], |r| r.get(0))
        .unwrap()
}

/// A local write through the `items` view (records `ps_crud`, closes the write gate).
pub fn local_write(db: &Connection, id: &str) {
    db.execute("INSERT INTO items(id, name, qty) VALUES (?, 'mine', 1)", [id])
        .unwrap();
}

// ---- an iteration driven in Rust ----

/// One database, its connection state and a running iteration.
pub struct Session {
    pub db: Connection,
    pub state: DatabaseState,
    pub it: Iteration,
}

impl Session {
    /// Starts an iteration with `options` (the `start` payload JSON); returns its first
    /// instructions too.
    pub fn start_with(db: Connection, options: &str) -> (Session, Value) {
        let options: StartOptions = serde_json::from_str(options).unwrap();
        let (it, out) = Iteration::start(&db, options).unwrap();
        let session = Session {
            db,
            state: DatabaseState::default(),
            it,
        };
        (session, instructions(&out))
    }

    /// A session on [`open_db`] with default options, already past `connection established`.
    pub fn connected() -> Session {
        let (mut s, _) = Session::start_with(open_db(), "{}");
        s.it.connection_established();
        s
    }

    pub fn try_line(&mut self, text: &str) -> PsResult<Outcome> {
        let line = parse(text);
        self.it.line(&self.db, &self.state, line, text.len())
    }

    /// Handles a line that must succeed and not end the iteration.
    pub fn line(&mut self, text: &str) -> Value {
        let outcome = self.try_line(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(!outcome.ended, "{text} ended the iteration");
        instructions(&outcome.instructions)
    }

    /// Handles a line that must end the iteration.
    pub fn final_line(&mut self, text: &str) -> Value {
        let outcome = self.try_line(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(outcome.ended, "{text} did not end the iteration");
        instructions(&outcome.instructions)
    }

    pub fn line_error(&mut self, text: &str) -> PsError {
        match self.try_line(text) {
            Ok(outcome) => panic!("{text} succeeded with {}", instructions(&outcome.instructions)),
            Err(e) => e,
        }
    }

    pub fn completed_upload(&mut self) -> Value {
        let outcome = self.it.completed_upload(&self.db, &self.state).unwrap();
        assert!(!outcome.ended);
        instructions(&outcome.instructions)
    }
}

/// The checkpoint of a `checkpoint` line.
pub fn checkpoint_of(text: &str) -> crate::sync::line::Checkpoint {
    match parse(text) {
        SyncLine::Checkpoint(c) => c,
        other => panic!("not a checkpoint: {other:?}"),
    }
}

/// Stores a `data` line (docs/protocol.md, "Bucket storage") without an iteration.
pub fn store(db: &Connection, text: &str) {
    match parse(text) {
        SyncLine::Data(d) => {
            crate::sync::storage::apply_data_line(db, &d, text.len(), crate::sync::storage::Supersede::Probe).unwrap()
        }
        other => panic!("not a data line: {other:?}"),
    }
}
