//! Shared by the reliability tests (tests/crash.rs, tests/concurrency.rs, tests/leaks.rs) and their
//! child processes (tests/child/child.rs): an SDK-like driver of `powersync_control`, a sync
//! workload whose every row carries its checkpoint number (so a partly published checkpoint is
//! visible), the check of the views, child-process plumbing and a seeded random generator.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{json, Value};

/// Two synced tables: `items` is replaced by every checkpoint, `notes` takes local writes.
pub const SCHEMA: &str = r#"{"tables": [
  {"name": "items", "columns": [{"name": "n", "type": "integer"}, {"name": "cp", "type": "integer"}, {"name": "v", "type": "text"}]},
  {"name": "notes", "columns": [{"name": "body", "type": "text"}, {"name": "seq", "type": "integer"}]}
]}"#;

/// Whether the long variants run (`make check` sets it).
pub fn long_run() -> bool {
    std::env::var_os("PS_RELIABILITY_LONG").is_some_and(|v| v != "0")
}

/// A number from the environment, else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {text:?}")),
        Err(_) => default,
    }
}

/// SplitMix64: small, seeded and reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("powersync-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates a database file in `journal_mode` with the extension's tables and [`SCHEMA`].
pub fn create_database(path: &Path, journal_mode: &str) {
    let db = crate::open_path_with_extension(path.to_str().unwrap());
    let mode: String = db
        .query_row(&format!("PRAGMA journal_mode = {journal_mode}"), [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_lowercase(), journal_mode.to_lowercase());
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |_| Ok(()))
        .unwrap();
    db.execute_batch("COMMIT").unwrap();
}

/// One `powersync_control` call in its own write transaction, as SDKs make it: committed on
/// success, rolled back on error. Returns the instructions.
pub fn control(db: &Connection, op: &str, payload: Option<&str>) -> rusqlite::Result<Vec<Value>> {
    db.execute_batch("BEGIN IMMEDIATE")?;
    let result = db.query_row("SELECT powersync_control(?, ?)", rusqlite::params![op, payload], |r| {
        r.get::<_, Option<String>>(0)
    });
    match result {
        Ok(text) => {
            db.execute_batch("COMMIT")?;
            let value: Value = serde_json::from_str(text.as_deref().unwrap_or("[]")).expect("instructions are JSON");
            Ok(value.as_array().expect("instructions are an array").clone())
        }
        Err(e) => {
            db.execute_batch("ROLLBACK")?;
            Err(e)
        }
    }
}

pub fn line(db: &Connection, line: &Value) -> rusqlite::Result<Vec<Value>> {
    control(db, "line_text", Some(&line.to_string()))
}

/// Whether the instructions say a checkpoint was published.
pub fn applied(instructions: &[Value]) -> bool {
    instructions.iter().any(|i| i.get("DidCompleteSync").is_some())
}

/// Rows of checkpoint `cp`; the count varies so that a mix of two checkpoints shows.
pub fn row_count(cp: u64) -> u64 {
    120 + (cp % 7) * 13
}

pub fn row_value(cp: u64, j: u64) -> String {
    format!("v{cp}-{}", "x".repeat((j % 11) as usize))
}

fn op_id(cp: u64, j: u64) -> u64 {
    cp * 1_000_000 + j + 1
}

/// Spread over the whole 32-bit range, so that bucket checksums wrap.
fn op_checksum(cp: u64, j: u64) -> u32 {
    Rng::new(cp << 32 | j).next_u64() as u32
}

/// The lines of checkpoint `cp`: one bucket `b<cp>` (so each checkpoint replaces the previous
/// bucket and every row), `chunk` ops per data line, then `checkpoint_complete`.
pub fn checkpoint_lines(cp: u64, chunk: u64) -> Vec<Value> {
    let n = row_count(cp);
    let checksum = (0..n).fold(0u32, |sum, j| sum.wrapping_add(op_checksum(cp, j)));
    let mut lines = vec![json!({"checkpoint": {
        "last_op_id": op_id(cp, n - 1).to_string(),
        "write_checkpoint": cp.to_string(),
        "buckets": [{"bucket": format!("b{cp}"), "checksum": checksum, "priority": 3, "count": n}]}})];
    let mut j = 0;
    while j < n {
        let ops: Vec<Value> = (j..n.min(j + chunk))
            .map(|j| {
                let data = json!({"n": j, "cp": cp, "v": row_value(cp, j)}).to_string();
                json!({"op_id": op_id(cp, j).to_string(), "op": "PUT", "object_type": "items",
                    "object_id": format!("r{j}"), "checksum": op_checksum(cp, j), "data": data})
            })
            .collect();
        lines.push(json!({"data": {"bucket": format!("b{cp}"), "data": ops}}));
        j += chunk;
    }
    lines.push(json!({"checkpoint_complete": {"last_op_id": op_id(cp, n - 1).to_string()}}));
    lines
}

/// The checkpoint the views show, checked row by row in one statement (one snapshot): every
/// row carries the same checkpoint number and the rows are exactly that checkpoint's rows.
/// `None` when no checkpoint was published yet.
pub fn view_checkpoint(db: &Connection) -> Result<Option<u64>, String> {
    let mut stmt = db
        .prepare("SELECT id, n, cp, v FROM items ORDER BY n")
        .map_err(|e| e.to_string())?;
    let rows: Vec<(String, i64, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let cp = first.2 as u64;
    let describe = || {
        let cps: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.2).collect();
        format!("{} rows with checkpoints {cps:?}", rows.len())
    };
    if rows.len() as u64 != row_count(cp) {
        return Err(format!(
            "a mix: {}, checkpoint {cp} has {} rows",
            describe(),
            row_count(cp)
        ));
    }
    for (j, (id, n, row_cp, v)) in rows.iter().enumerate() {
        let j = j as u64;
        if *row_cp as u64 != cp || *n as u64 != j || *id != format!("r{j}") || *v != row_value(cp, j) {
            return Err(format!("a mix: {}; row {j} is {id}/{n}/{row_cp}/{v}", describe()));
        }
    }
    Ok(Some(cp))
}

/// Syncs checkpoint `cp` in one iteration (start, lines, checkpoint_complete, stop) and
/// asserts that it was published.
pub fn sync_checkpoint(db: &Connection, cp: u64) {
    control(db, "start", None).expect("start");
    let lines = checkpoint_lines(cp, 40);
    for l in &lines[..lines.len() - 1] {
        line(db, l).expect("sync line");
    }
    let done = line(db, lines.last().unwrap()).expect("checkpoint_complete");
    assert!(applied(&done), "checkpoint {cp} was not applied: {done:?}");
    control(db, "stop", None).expect("stop");
}

/// A child process running a role of tests/child/child.rs. Its stdout lines that start with
/// `@ps ` are reports; everything else is ignored.
pub struct ChildProcess {
    pub child: Child,
    reports: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl ChildProcess {
    /// Starts `role` of `binary` (the tests pass `env!("CARGO_BIN_EXE_ps-test-child")`) with
    /// `envs`. `$PS_CHILD_WRAPPER` (e.g. a valgrind command line) is put in front of it.
    pub fn spawn(binary: &str, role: &str, envs: &[(&str, String)]) -> ChildProcess {
        let mut command = match std::env::var("PS_CHILD_WRAPPER") {
            Ok(wrapper) if !wrapper.trim().is_empty() => {
                let mut parts = wrapper.split_whitespace();
                let mut command = Command::new(parts.next().unwrap());
                command.args(parts).arg(binary);
                command
            }
            _ => Command::new(binary),
        };
        command
            .arg(role)
            .env("POWERSYNC_EXTENSION", crate::extension_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn the child process");
        let stdout = child.stdout.take().unwrap();
        let (sender, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(report) = line.strip_prefix("@ps ") {
                    if sender.send(report.to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
            text
        });
        ChildProcess { child, reports, stderr }
    }

    /// The next report, or `None` once the child closed its stdout (or `deadline` passed).
    pub fn next_report(&self, deadline: Option<Instant>) -> Option<String> {
        match deadline {
            None => self.reports.recv().ok(),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.reports.recv_timeout(left).ok()
            }
        }
    }

    /// Kills the child with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the child");
        let _ = self.child.wait();
    }

    /// Waits for the child to exit and panics, with its stderr, unless it succeeded.
    pub fn wait_success(mut self, what: &str) {
        let status = self.child.wait().expect("wait for the child");
        let stderr = self.stderr.join().unwrap_or_default();
        assert!(status.success(), "{what} failed ({status}):\n{stderr}");
    }

    /// Every remaining report (the child has exited or been killed).
    pub fn drain(&self) -> Vec<String> {
        let mut all = Vec::new();
        while let Ok(report) = self.reports.recv_timeout(Duration::from_secs(10)) {
            all.push(report);
        }
        all
    }

    pub fn stderr(self) -> String {
        self.stderr.join().unwrap_or_default()
    }
}

/// A child's report to its parent: written straight to stdout and flushed, so the parent has
/// it even when the child is killed right after.
pub fn report(text: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("@ps {text}\n").as_bytes())
        .expect("report to parent");
    out.flush().expect("report to parent");
}

/// The bulk workload (tests/crash.rs `bulk_crash_consistency`, tests/concurrency.rs
/// `readers_never_see_a_partial_bulk_checkpoint`): a download large enough for bulk mode
/// (`sync::bulk`, at least 20,000 ops), in [`BULK_BUCKETS`] buckets of [`BULK_PER_BUCKET`] ops
/// per checkpoint, with UUID-like row ids, ops superseded within a line and across lines,
/// REMOVEs of stored and of never-stored rows, and 1,000-op data lines. Checkpoint `k` holds the
/// ops of checkpoints `1..=k` (nothing compacted); every checkpoint writes the same rows, each
/// carrying its checkpoint number, so a mix of two shows.
pub const BULK_BUCKETS: u64 = 3;
pub const BULK_PER_BUCKET: u64 = 8_000;
pub const BULK_CHUNK: usize = 1_000;

/// The exact SQL of the two indexes bulk mode drops (as the reference creates them).
pub const OPLOG_INDEXES: [(&str, &str); 2] = [
    ("ps_oplog_key", "CREATE INDEX ps_oplog_key ON ps_oplog (bucket, key)"),
    (
        "ps_oplog_row",
        "CREATE INDEX ps_oplog_row ON ps_oplog (row_type, row_id)",
    ),
];

pub fn bulk_bucket(b: u64) -> String {
    format!("bulk{b}")
}

/// A UUID-like id, random-looking but reproducible.
fn bulk_row_id(b: u64, row: u64) -> String {
    let x = Rng::new(b << 40 | row).next_u64();
    let y = Rng::new(!(b << 40 | row)).next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        x >> 32,
        x >> 16 & 0xffff,
        x & 0xfff,
        y >> 52,
        y & 0xffff_ffff_ffff
    )
}

/// Op `j` of a bucket in every checkpoint: `(row, remove)`. Op `j` PUTs row `j`, except: every
/// 50th (`j % 50 == 11`) rewrites the row of op `j - 3` (superseded in the same line); every 10th
/// from 5,000 on (`j % 10 == 7`) rewrites the row of op `j - 5000` (superseded across lines);
/// every 25th from 3,000 on (`j % 25 == 3`) REMOVEs the row of op `j - 3000`; every 1,000th
/// (`j % 1000 == 999`) REMOVEs a row that never existed.
fn bulk_op(j: u64) -> (u64, bool) {
    let row = |j: u64| bulk_op(j).0;
    if j % 1000 == 999 {
        (1_000_000 + j, true)
    } else if j >= 3000 && j % 25 == 3 {
        (row(j - 3000), true)
    } else if j % 50 == 11 {
        (row(j - 3), false)
    } else if j >= 5000 && j % 10 == 7 {
        (row(j - 5000), false)
    } else {
        (j, false)
    }
}

fn bulk_op_id(k: u64, b: u64, j: u64) -> i64 {
    (((k - 1) * BULK_PER_BUCKET + j) * BULK_BUCKETS + b + 1) as i64
}

fn bulk_op_checksum(k: u64, b: u64, j: u64) -> u32 {
    Rng::new(k << 48 | b << 32 | j).next_u64() as u32
}

/// The `checkpoint` line of checkpoint `k` (true counts and checksums).
pub fn bulk_checkpoint(k: u64) -> Value {
    let buckets: Vec<Value> = (0..BULK_BUCKETS)
        .map(|b| {
            let checksum = (1..=k)
                .flat_map(|k| (0..BULK_PER_BUCKET).map(move |j| bulk_op_checksum(k, b, j)))
                .fold(0u32, u32::wrapping_add);
            json!({"bucket": bulk_bucket(b), "checksum": checksum, "priority": 3, "count": k * BULK_PER_BUCKET})
        })
        .collect();
    json!({"checkpoint": {"last_op_id": bulk_op_id(k, BULK_BUCKETS - 1, BULK_PER_BUCKET - 1).to_string(),
        "buckets": buckets}})
}

pub fn bulk_complete(k: u64) -> Value {
    json!({"checkpoint_complete": {"last_op_id": bulk_op_id(k, BULK_BUCKETS - 1, BULK_PER_BUCKET - 1).to_string()}})
}

/// The data lines of checkpoint `k` after the positions `after` (bucket name -> op id, as the
/// `start` request reports them): each bucket's ops in chunks of [`BULK_CHUNK`], the buckets
/// taking turns.
pub fn bulk_data_lines(k: u64, after: &std::collections::HashMap<String, i64>) -> Vec<Value> {
    let mut per_bucket: Vec<Vec<Value>> = (0..BULK_BUCKETS)
        .map(|b| {
            let from = after.get(&bulk_bucket(b)).copied().unwrap_or(0);
            let ops: Vec<Value> = (1..=k)
                .flat_map(|k| (0..BULK_PER_BUCKET).map(move |j| (k, j)))
                .filter(|&(k, j)| bulk_op_id(k, b, j) > from)
                .map(|(k, j)| {
                    let (row, remove) = bulk_op(j);
                    let id = bulk_op_id(k, b, j).to_string();
                    let checksum = bulk_op_checksum(k, b, j);
                    let object_id = bulk_row_id(b, row);
                    if remove {
                        json!({"op_id": id, "op": "REMOVE", "object_type": "items", "object_id": object_id,
                            "checksum": checksum})
                    } else {
                        let data = json!({"n": j, "cp": k, "v": format!("b{b}-{j}")}).to_string();
                        json!({"op_id": id, "op": "PUT", "object_type": "items", "object_id": object_id,
                            "checksum": checksum, "data": data})
                    }
                })
                .collect();
            ops.chunks(BULK_CHUNK)
                .map(|chunk| json!({"data": {"bucket": bulk_bucket(b), "data": chunk}}))
                .rev()
                .collect()
        })
        .collect();
    let mut lines = Vec::new();
    while per_bucket.iter().any(|l| !l.is_empty()) {
        for bucket in &mut per_bucket {
            lines.extend(bucket.pop());
        }
    }
    lines
}

/// The row ids every checkpoint of the bulk workload leaves in the views.
pub fn bulk_live_rows() -> std::collections::BTreeSet<String> {
    let mut live = std::collections::BTreeSet::new();
    for b in 0..BULK_BUCKETS {
        for j in 0..BULK_PER_BUCKET {
            let (row, remove) = bulk_op(j);
            let id = bulk_row_id(b, row);
            if remove {
                live.remove(&id);
            } else {
                live.insert(id);
            }
        }
    }
    live
}

/// The bucket positions a `start`'s `EstablishSyncStream` request reports.
pub fn request_positions(instructions: &[Value]) -> std::collections::HashMap<String, i64> {
    let mut positions = std::collections::HashMap::new();
    for instruction in instructions {
        if let Some(buckets) = instruction.pointer("/EstablishSyncStream/request/buckets") {
            for b in buckets.as_array().unwrap() {
                let after = b["after"].as_str().unwrap().parse().unwrap();
                positions.insert(b["name"].as_str().unwrap().to_owned(), after);
            }
        }
    }
    positions
}

/// Whether bulk mode is on (`sync::bulk`: `ps_oplog_opid` exists and `ps_oplog_key` does not).
pub fn bulk_mode(db: &Connection) -> rusqlite::Result<bool> {
    db.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'ps_oplog_opid') \
         AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'ps_oplog_key')",
        [],
        |r| r.get(0),
    )
}

/// The statement [`bulk_view_checkpoint`] runs.
pub const BULK_VIEW: &str = "SELECT id, cp FROM items ORDER BY id";

/// The checkpoint the bulk workload's views show, read by `stmt` ([`BULK_VIEW`], one snapshot):
/// no rows, or exactly the rows of `live`, all carrying one checkpoint number.
pub fn bulk_view_checkpoint(
    stmt: &mut rusqlite::Statement,
    live: &std::collections::BTreeSet<String>,
) -> Result<Option<u64>, String> {
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let cps: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.1).collect();
    if cps.len() != 1 {
        return Err(format!("a mix: {} rows with checkpoints {cps:?}", rows.len()));
    }
    if rows.len() != live.len() || rows.iter().zip(live).any(|(r, id)| r.0 != *id) {
        return Err(format!(
            "a partial checkpoint {}: {} rows, {} expected",
            first.1,
            rows.len(),
            live.len()
        ));
    }
    Ok(Some(first.1 as u64))
}
