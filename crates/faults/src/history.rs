//! The history: one JSON line per event, written by the workers (their operations) and the
//! runner (faults). Each worker appends to its own file with unbuffered writes, so a SIGKILL
//! loses at most the line being written; an `invoke` without its `ok`/`fail` is indeterminate.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One written row value: `v` is unique across the whole run. With `delete` the row was deleted
/// and `v` is the delete's token (the `metadata` of its DELETE entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write1 {
    pub table: String,
    pub id: String,
    pub v: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
}

/// One read: the row's value as the client showed it (`None`: no such row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read1 {
    pub table: String,
    pub id: String,
    pub v: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A transaction is about to run (its planned writes).
    Invoke { op: String, writes: Vec<Write1> },
    /// It committed; `reads` are the values it read before writing.
    Ok {
        op: String,
        reads: Vec<Read1>,
        writes: Vec<Write1>,
    },
    /// It did not commit.
    Fail { op: String, error: String },
    /// An upload attempt of one local transaction to the backend and its outcome (`phase`
    /// `invoke`, `ok`, `fail` (retried) or `rejected` (a 4xx: discarded, never retried));
    /// `values` are its written values and delete tokens.
    Upload {
        phase: String,
        values: Vec<String>,
        error: Option<String>,
    },
    /// A worker process started (incarnation `inc`, reusing its database file).
    Start { db: String },
    /// A fault began or ended (runner).
    Nemesis { phase: String, fault: String },
    /// Free-form progress of the runner (heal, quiescence).
    Note { text: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Milliseconds since the Unix epoch.
    pub t: u64,
    /// Worker index; `None` for the runner.
    pub client: Option<usize>,
    /// Worker incarnation (0 = first start, +1 per restart).
    pub inc: u32,
    #[serde(flatten)]
    pub event: Event,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Appends entries to one file; every line is a single `write` call.
pub struct Recorder {
    file: Mutex<File>,
    client: Option<usize>,
    inc: u32,
}

impl Recorder {
    pub fn open(path: &Path, client: Option<usize>, inc: u32) -> std::io::Result<Recorder> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Recorder {
            file: Mutex::new(file),
            client,
            inc,
        })
    }

    pub fn record(&self, event: Event) {
        let e = Entry {
            t: now_ms(),
            client: self.client,
            inc: self.inc,
            event,
        };
        let mut line = serde_json::to_string(&e).unwrap_or_default();
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // A failed history write makes the run unverifiable, not wrong: say so and go on.
        if let Err(err) = f.write_all(line.as_bytes()) {
            eprintln!("powersync-faults: cannot write the history: {err}");
        }
    }
}

/// Reads a history file; a torn last line (SIGKILL while writing) is skipped.
pub fn read(path: &Path) -> std::io::Result<Vec<Entry>> {
    let f = File::open(path)?;
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            out.push(e);
        }
    }
    Ok(out)
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match self.client {
            Some(c) => format!("c{c}.{}", self.inc),
            None => "nemesis".to_string(),
        };
        let what = match &self.event {
            Event::Invoke { op, writes } => format!("invoke {op} writes {}", fmt_writes(writes)),
            Event::Ok { op, reads, writes } => {
                let r: Vec<String> = reads
                    .iter()
                    .map(|r| format!("{}/{}={}", r.table, r.id, r.v.as_deref().unwrap_or("nil")))
                    .collect();
                format!("ok     {op} reads [{}] writes {}", r.join(" "), fmt_writes(writes))
            }
            Event::Fail { op, error } => format!("fail   {op}: {error}"),
            Event::Upload { phase, values, error } => format!(
                "upload {phase} [{}]{}",
                values.join(" "),
                error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            Event::Start { db } => format!("start  (db {db})"),
            Event::Nemesis { phase, fault } => format!("{phase} {fault}"),
            Event::Note { text } => text.clone(),
        };
        write!(f, "{} {who:>8} {what}", self.t)
    }
}

fn fmt_writes(w: &[Write1]) -> String {
    let w: Vec<String> = w
        .iter()
        .map(|w| match w.delete {
            true => format!("{}/{}:=deleted({})", w.table, w.id, w.v),
            false => format!("{}/{}:={}", w.table, w.id, w.v),
        })
        .collect();
    format!("[{}]", w.join(" "))
}
