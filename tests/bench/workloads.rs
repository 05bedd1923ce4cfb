//! One measured run of one workload on one build, in this (child) process: a fresh database
//! file (WAL, `synchronous=NORMAL`, `cache_size=-50000`, as the SDKs open it), the workload, then
//! the timed phases, the peak RSS, the largest WAL file seen and the database size on one
//! `RESULT` line for the parent. Rows are named by UUIDv4 ids (deterministic, in random order),
//! except in the `-seq` variant of the initial sync.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::lines::{self, Bucket, Op, Value};

/// Rows per data line (the service's usual batch).
const OPS_PER_LINE: usize = 1000;
/// The database the diff and partial workloads start from.
pub const BASE_ROWS: u64 = 100_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Json,
    Bson,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Workload {
    /// Initial sync of `rows` rows over 10 buckets; `seq`: sequential ids (`r00000001`) instead
    /// of UUIDs.
    InitialSync {
        rows: u64,
        format: Format,
        seq: bool,
    },
    /// On a synced 100k-row database: update 1 % and remove 0.1 % of the rows.
    Diff {
        format: Format,
    },
    /// On a synced 100k-row database: changes in every bucket, published for priority 1 only.
    Partial {
        format: Format,
    },
    /// 20k rows spread over `buckets` buckets.
    Buckets {
        buckets: usize,
    },
    /// 100k inserts, updates and deletes through the view, then draining `ps_crud`.
    Views,
    /// Direct tables (0.5.4; JSON lines, the `start` payload carrying the schema):
    /// `DirectSync` is `InitialSync` into the direct table `items`, `DirectDiff` is `Diff` on it,
    /// `DirectWrites` is `Views` on the table itself (its triggers record `ps_crud`).
    DirectSync {
        rows: u64,
    },
    DirectDiff,
    DirectWrites,
}

impl Workload {
    pub fn id(&self) -> String {
        match self {
            Workload::InitialSync { rows, format, seq } => {
                format!("sync-{}-{}{}", rows, fmt_name(*format), if *seq { "-seq" } else { "" })
            }
            Workload::Diff { format } => format!("diff-{}", fmt_name(*format)),
            Workload::Partial { format } => format!("partial-{}", fmt_name(*format)),
            Workload::Buckets { buckets } => format!("buckets-{buckets}"),
            Workload::Views => "views".to_string(),
            Workload::DirectSync { rows } => format!("direct-sync-{rows}"),
            Workload::DirectDiff => "direct-diff".to_string(),
            Workload::DirectWrites => "direct-writes".to_string(),
        }
    }

    pub fn parse(id: &str) -> Option<Workload> {
        let parts: Vec<&str> = id.split('-').collect();
        let format = |s: &str| match s {
            "json" => Some(Format::Json),
            "bson" => Some(Format::Bson),
            _ => None,
        };
        match parts.as_slice() {
            ["sync", rows, f] => Some(Workload::InitialSync {
                rows: rows.parse().ok()?,
                format: format(f)?,
                seq: false,
            }),
            ["sync", rows, f, "seq"] => Some(Workload::InitialSync {
                rows: rows.parse().ok()?,
                format: format(f)?,
                seq: true,
            }),
            ["diff", f] => Some(Workload::Diff { format: format(f)? }),
            ["partial", f] => Some(Workload::Partial { format: format(f)? }),
            ["buckets", n] => Some(Workload::Buckets {
                buckets: n.parse().ok()?,
            }),
            ["views"] => Some(Workload::Views),
            ["direct", "sync", rows] => Some(Workload::DirectSync {
                rows: rows.parse().ok()?,
            }),
            ["direct", "diff"] => Some(Workload::DirectDiff),
            ["direct", "writes"] => Some(Workload::DirectWrites),
            _ => None,
        }
    }

    /// `(phase, units)`: the timed phases and how many rows (or ops) each one handles.
    pub fn phases(&self) -> Vec<(&'static str, u64)> {
        match self {
            Workload::InitialSync { rows, .. } | Workload::DirectSync { rows } => {
                vec![("ingest", *rows), ("complete", *rows), ("total", *rows)]
            }
            Workload::Diff { .. } | Workload::DirectDiff => {
                let ops = diff_ops().len() as u64;
                vec![("lines", ops), ("complete", ops), ("total", ops)]
            }
            Workload::Partial { .. } => {
                let ops = partial_ops().len() as u64;
                vec![("lines", ops), ("complete", ops), ("total", ops)]
            }
            Workload::Buckets { .. } => vec![("ingest", 20_000), ("complete", 20_000), ("total", 20_000)],
            Workload::Views | Workload::DirectWrites => vec![
                ("insert", BASE_ROWS),
                ("update", BASE_ROWS),
                ("delete", BASE_ROWS),
                ("drain", 3 * BASE_ROWS),
            ],
        }
    }

    /// Rows the raw-SQLite limit inserts for this workload.
    pub fn raw_rows(&self) -> u64 {
        match self {
            Workload::InitialSync { rows, .. } | Workload::DirectSync { rows } => *rows,
            Workload::Diff { .. } | Workload::DirectDiff => diff_ops().len() as u64,
            Workload::Partial { .. } => partial_ops().len() as u64,
            Workload::Buckets { .. } => 20_000,
            Workload::Views | Workload::DirectWrites => BASE_ROWS,
        }
    }

    /// Whether the raw build runs a floor of this workload's own phases instead of the plain
    /// insert (see `FLOOR_SCHEMA`).
    pub fn has_floor(&self) -> bool {
        matches!(self, Workload::DirectWrites)
    }

    /// Direct-table workloads: 0.5.4 only.
    pub fn is_direct(&self) -> bool {
        matches!(
            self,
            Workload::DirectSync { .. } | Workload::DirectDiff | Workload::DirectWrites
        )
    }

    /// The initial-sync scale curve (`--only curve`): the JSON initial syncs, UUID and sequential.
    pub fn in_curve(&self) -> bool {
        matches!(
            self,
            Workload::InitialSync {
                format: Format::Json,
                ..
            }
        )
    }

    /// How row `n` is named: a UUIDv4 (as apps name rows) but in the `-seq` variant.
    fn row_id(&self) -> fn(u64) -> String {
        match self {
            Workload::InitialSync { seq: true, .. } => lines::row_id,
            _ => lines::uuid_id,
        }
    }

    /// Data lines sent (for the per-line cost of the bucket curve).
    pub fn data_lines(&self) -> Option<u64> {
        match self {
            Workload::Buckets { buckets } => {
                let per = 20_000u64.div_ceil(*buckets as u64);
                Some(*buckets as u64 * per.div_ceil(OPS_PER_LINE as u64))
            }
            _ => None,
        }
    }
}

fn fmt_name(f: Format) -> &'static str {
    match f {
        Format::Json => "json",
        Format::Bson => "bson",
    }
}

/// What a run reports: seconds per phase, peak RSS, the largest `-wal` file seen, database size.
pub struct Report {
    pub phases: Vec<(String, f64)>,
    pub peak_kb: u64,
    pub wal_bytes: u64,
    pub db_bytes: u64,
}

impl Report {
    pub fn to_line(&self) -> String {
        let mut out = String::from("RESULT");
        for (name, secs) in &self.phases {
            out.push_str(&format!(" {name}={secs:.6}"));
        }
        out.push_str(&format!(
            " peak_kb={} wal_bytes={} db_bytes={}",
            self.peak_kb, self.wal_bytes, self.db_bytes
        ));
        out
    }

    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.strip_prefix("RESULT")?;
        let mut report = Report {
            phases: vec![],
            peak_kb: 0,
            wal_bytes: 0,
            db_bytes: 0,
        };
        for field in rest.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "peak_kb" => report.peak_kb = value.parse().ok()?,
                "wal_bytes" => report.wal_bytes = value.parse().ok()?,
                "db_bytes" => report.db_bytes = value.parse().ok()?,
                _ => report.phases.push((key.to_string(), value.parse().ok()?)),
            }
        }
        Some(report)
    }
}

/// Runs `workload` on `extension` (`None`: the raw-SQLite limit) in a fresh database at `path`.
pub fn run(workload: Workload, extension: Option<&Path>, path: &Path) -> Report {
    let db = Connection::open(path).expect("open database");
    // What the SDKs set on every connection.
    db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -50000;")
        .expect("pragmas");
    let wal = WalWatch::new(path);
    if let Ok(sql) = std::env::var("PS_BENCH_SQL") {
        db.execute_batch(&sql).expect("PS_BENCH_SQL");
    }
    let phases = match extension {
        None if workload.has_floor() => {
            // The same phases, on triggers that do in plain SQL the SQLite work that the
            // reference's trigger text makes any build do (see `FLOOR_SCHEMA`).
            db.execute_batch(FLOOR_SCHEMA).expect("floor schema");
            let mut session = Session::new(db, workload, wal);
            let phases = session.run(workload);
            let Session { db, wal, .. } = session;
            return finish(db, phases, wal);
        }
        None => {
            let total = raw_insert(&db, workload.raw_rows(), workload.row_id());
            wal.sample();
            vec![("total".to_string(), total)]
        }
        Some(ext) => {
            let schema = if workload.is_direct() {
                lines::DIRECT_SCHEMA
            } else {
                lines::SCHEMA
            };
            load(&db, ext, schema);
            let mut session = Session::new(db, workload, wal);
            let phases = session.run(workload);
            let Session { db, wal, .. } = session;
            return finish(db, phases, wal);
        }
    };
    finish(db, phases, wal)
}

/// The largest size of the database's `-wal` file seen: sampled after every commit of a timed
/// call (outside the timed part). Without `journal_size_limit` SQLite never shrinks the file, so
/// this is the WAL's high-water mark during the run.
struct WalWatch {
    path: PathBuf,
    max: Cell<u64>,
}

impl WalWatch {
    fn new(db: &Path) -> WalWatch {
        WalWatch {
            path: PathBuf::from(format!("{}-wal", db.display())),
            max: Cell::new(0),
        }
    }

    fn sample(&self) {
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        self.max.set(self.max.get().max(size));
    }
}

fn finish(db: Connection, phases: Vec<(String, f64)>, wal: WalWatch) -> Report {
    wal.sample();
    let db_bytes: i64 = db
        .query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )
        .expect("database size");
    if let Ok(out) = std::env::var("PS_BENCH_SMAPS") {
        let _ = std::fs::copy("/proc/self/smaps", out);
    }
    drop(db);
    Report {
        phases,
        peak_kb: peak_rss_kb(),
        wal_bytes: wal.max.get(),
        db_bytes: db_bytes as u64,
    }
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn load(db: &Connection, ext: &Path, schema: &str) {
    // SAFETY: the path names a PowerSync extension build; its init function only registers SQL
    // functions, virtual tables and hooks on this connection.
    unsafe {
        let _guard = rusqlite::LoadExtensionGuard::new(db).expect("enable extension loading");
        db.load_extension(ext, Some("sqlite3_powersync_init"))
            .expect("load extension");
    }
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_replace_schema(?)", [schema], |_| Ok(()))
        .expect("schema");
    db.execute_batch("COMMIT").unwrap();
}

/// The floor of `direct-writes`: what SQLite must do for each local write whatever the
/// extension, because the triggers are the reference's text byte for byte. Each write still
/// writes the table and its `id` index, builds the `json_object`s of the trigger text and passes
/// them through `json()`, and inserts one `ps_crud` row and one `ps_updated_rows` row (the
/// CRUD virtual table's two statements, here run by the trigger itself). Left out, so that this is
/// a lower bound: `powersync_in_sync_operation()`, `powersync_strip_subtype()`, `powersync_diff()`
/// (the update builds both objects, compares them, and stores the two columns that the bench
/// changes: the diff's result, without its work), the virtual table's call and the transaction id
/// lookup.
/// No build that keeps the trigger text can be faster than this.
const FLOOR_SCHEMA: &str = r#"
CREATE TABLE ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT, tx_id INTEGER);
CREATE TABLE ps_updated_rows(row_type TEXT, row_id TEXT, PRIMARY KEY(row_type, row_id)) STRICT, WITHOUT ROWID;
CREATE TABLE "items"(id TEXT PRIMARY KEY NOT NULL,"name" ANY,"description" ANY,"qty" ANY,"price" ANY,
  "created_at" ANY,"owner_id" ANY,"list_id" ANY,"done" ANY,"rank" ANY) STRICT;
CREATE TRIGGER floor_insert AFTER INSERT ON items FOR EACH ROW BEGIN
  INSERT INTO ps_crud(tx_id, data) VALUES (1, json_object('op', 'PUT', 'type', 'items', 'id', NEW.id,
    'data', json(json_object('name', NEW.name, 'description', NEW.description, 'qty', NEW.qty,
      'price', NEW.price, 'created_at', NEW.created_at, 'owner_id', NEW.owner_id,
      'list_id', NEW.list_id, 'done', NEW.done, 'rank', NEW.rank))));
  INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES ('items', NEW.id);
END;
CREATE TRIGGER floor_update AFTER UPDATE ON items FOR EACH ROW BEGIN
  SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (ABORT, 'Cannot update id') END;
  INSERT INTO ps_crud(tx_id, data) SELECT 1, json_object('op', 'PATCH', 'type', 'items', 'id', NEW.id,
    'data', json(json_object('done', NEW.done, 'qty', NEW.qty)))
  WHERE json_object('name', OLD.name, 'description', OLD.description, 'qty', OLD.qty,
      'price', OLD.price, 'created_at', OLD.created_at, 'owner_id', OLD.owner_id,
      'list_id', OLD.list_id, 'done', OLD.done, 'rank', OLD.rank)
    IS NOT json_object('name', NEW.name, 'description', NEW.description, 'qty', NEW.qty,
      'price', NEW.price, 'created_at', NEW.created_at, 'owner_id', NEW.owner_id,
      'list_id', NEW.list_id, 'done', NEW.done, 'rank', NEW.rank);
  INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES ('items', NEW.id);
END;
CREATE TRIGGER floor_delete AFTER DELETE ON items FOR EACH ROW BEGIN
  INSERT INTO ps_crud(tx_id, data) VALUES (1, json_object('op', 'DELETE', 'type', 'items', 'id', OLD.id));
  INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES ('items', OLD.id);
END;
"#;

/// The limit: the same rows into a plain table with one prepared statement, in one transaction.
fn raw_insert(db: &Connection, rows: u64, id: fn(u64) -> String) -> f64 {
    db.execute_batch("CREATE TABLE plain(id TEXT PRIMARY KEY, data TEXT)")
        .unwrap();
    let data: Vec<(String, String)> = (1..=rows).map(|n| (id(n), lines::row_data(n, 0))).collect();
    let start = Instant::now();
    db.execute_batch("BEGIN").unwrap();
    {
        let mut stmt = db.prepare("INSERT INTO plain(id, data) VALUES (?, ?)").unwrap();
        for (id, data) in &data {
            stmt.execute([id, data]).unwrap();
        }
    }
    db.execute_batch("COMMIT").unwrap();
    start.elapsed().as_secs_f64()
}

/// Ops of the diff: updates of every 100th row, removals of every 1000th (offset by one).
fn diff_ops() -> Vec<u64> {
    (1..=BASE_ROWS).filter(|n| n % 100 == 0 || n % 1000 == 1).collect()
}

/// Ops of the partial workload: 1,000 updates in the priority-1 bucket and 1,000 in the others.
fn partial_ops() -> Vec<u64> {
    let per_bucket = BASE_ROWS / 10;
    let mut rows: Vec<u64> = (1..=1000).map(|i| i * per_bucket / 1000).collect();
    rows.extend((1..=1000).map(|i| per_bucket + i * (BASE_ROWS - per_bucket) / 1000));
    rows
}

struct Session {
    db: Connection,
    format: Format,
    buckets: Vec<Bucket>,
    last_op: u64,
    /// Names row `n`.
    id: fn(u64) -> String,
    /// The `start` payload (`NULL`, or the schema with the direct table).
    start: Option<String>,
    wal: WalWatch,
}

impl Session {
    fn new(db: Connection, workload: Workload, wal: WalWatch) -> Session {
        let format = match workload {
            Workload::InitialSync { format, .. } | Workload::Diff { format } | Workload::Partial { format } => format,
            _ => Format::Json,
        };
        Session {
            db,
            format,
            buckets: vec![],
            last_op: 0,
            id: workload.row_id(),
            start: workload
                .is_direct()
                .then(|| format!(r#"{{"schema":{}}}"#, lines::DIRECT_SCHEMA)),
            wal,
        }
    }

    /// One `powersync_control` call in its own transaction, as the SDKs make them; the
    /// line's encoding is outside the timed part.
    fn timed(&self, line: Value) -> Duration {
        enum Encoded {
            Text(String),
            Blob(Vec<u8>),
        }
        let encoded = match self.format {
            Format::Json => Encoded::Text(line.to_json()),
            Format::Bson => Encoded::Blob(line.to_bson()),
        };
        let start = Instant::now();
        self.db.execute_batch("BEGIN").unwrap();
        match &encoded {
            Encoded::Text(t) => self
                .db
                .query_row("SELECT powersync_control('line_text', ?)", [t], |_| Ok(())),
            Encoded::Blob(b) => self
                .db
                .query_row("SELECT powersync_control('line_binary', ?)", [b], |_| Ok(())),
        }
        .expect("powersync_control");
        self.db.execute_batch("COMMIT").unwrap();
        let elapsed = start.elapsed();
        self.wal.sample();
        elapsed
    }

    fn start(&self) -> Duration {
        let start = Instant::now();
        self.db.execute_batch("BEGIN").unwrap();
        self.db
            .query_row("SELECT powersync_control('start', ?)", [&self.start], |_| Ok(()))
            .expect("start");
        self.db.execute_batch("COMMIT").unwrap();
        let elapsed = start.elapsed();
        self.wal.sample();
        elapsed
    }

    fn run(&mut self, workload: Workload) -> Vec<(String, f64)> {
        let secs = |d: Duration| d.as_secs_f64();
        match workload {
            Workload::InitialSync { rows, .. } | Workload::DirectSync { rows } => {
                let (ingest, complete) = self.initial_sync(rows, 10, |_| 3);
                self.expect_rows(rows);
                vec![
                    ("ingest".into(), secs(ingest)),
                    ("complete".into(), secs(complete)),
                    ("total".into(), secs(ingest + complete)),
                ]
            }
            Workload::Buckets { buckets } => {
                let (ingest, complete) = self.initial_sync(20_000, buckets, |_| 3);
                self.expect_rows(20_000);
                vec![
                    ("ingest".into(), secs(ingest)),
                    ("complete".into(), secs(complete)),
                    ("total".into(), secs(ingest + complete)),
                ]
            }
            Workload::Diff { .. } | Workload::DirectDiff => {
                self.initial_sync(BASE_ROWS, 10, |_| 3);
                let removes: Vec<u64> = diff_ops().into_iter().filter(|n| n % 1000 == 1).collect();
                let ops: Vec<(u64, bool)> = diff_ops().into_iter().map(|n| (n, n % 1000 == 1)).collect();
                let (lines, complete) = self.changes(&ops, None);
                self.expect_rows(BASE_ROWS - removes.len() as u64);
                vec![
                    ("lines".into(), secs(lines)),
                    ("complete".into(), secs(complete)),
                    ("total".into(), secs(lines + complete)),
                ]
            }
            Workload::Partial { .. } => {
                self.initial_sync(BASE_ROWS, 10, |b| if b == 0 { 1 } else { 3 });
                let ops: Vec<(u64, bool)> = partial_ops().into_iter().map(|n| (n, false)).collect();
                let (lines, complete) = self.changes(&ops, Some(1));
                let published: i64 = self
                    .db
                    .query_row("SELECT count(*) FROM items WHERE name LIKE '% v1'", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(
                    published, 1000,
                    "the partial checkpoint publishes the priority-1 bucket only"
                );
                vec![
                    ("lines".into(), secs(lines)),
                    ("complete".into(), secs(complete)),
                    ("total".into(), secs(lines + complete)),
                ]
            }
            Workload::Views | Workload::DirectWrites => self.views(),
        }
    }

    fn expect_rows(&self, rows: u64) {
        let count: i64 = self
            .db
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count as u64, rows, "every row must have been published");
    }

    /// Bucket of row `n` when `rows` rows are spread contiguously over `buckets` buckets.
    fn bucket_of(n: u64, rows: u64, buckets: usize) -> usize {
        ((n - 1) * buckets as u64 / rows) as usize
    }

    /// `start`, a checkpoint, the data lines bucket by bucket, `checkpoint_complete`: returns the
    /// time of everything before `checkpoint_complete` and of `checkpoint_complete`.
    fn initial_sync(&mut self, rows: u64, buckets: usize, priority: impl Fn(usize) -> i32) -> (Duration, Duration) {
        self.buckets = (0..buckets)
            .map(|b| Bucket {
                name: lines::bucket_name(b),
                checksum: 0,
                count: 0,
                priority: priority(b),
            })
            .collect();
        for n in 1..=rows {
            let b = &mut self.buckets[Self::bucket_of(n, rows, buckets)];
            b.checksum = b.checksum.wrapping_add(lines::op_checksum(n));
            b.count += 1;
        }
        self.last_op = rows;
        let mut ingest = self.start();
        ingest += self.timed(lines::checkpoint(rows, &self.buckets));
        let mut n = 1;
        while n <= rows {
            let b = Self::bucket_of(n, rows, buckets);
            let mut ops = Vec::new();
            while n <= rows && Self::bucket_of(n, rows, buckets) == b && ops.len() < OPS_PER_LINE {
                ops.push(Op::Put {
                    op_id: n,
                    row: n,
                    version: 0,
                });
                n += 1;
            }
            ingest += self.timed(lines::data_line(&self.buckets[b].name, &ops, self.id));
        }
        let complete = self.timed(lines::checkpoint_complete(rows));
        (ingest, complete)
    }

    /// A checkpoint diff over every bucket, the data lines of `ops` (`(row, remove)`), then a
    /// complete (`None`) or partial checkpoint.
    fn changes(&mut self, ops: &[(u64, bool)], partial: Option<i32>) -> (Duration, Duration) {
        let buckets = self.buckets.len();
        let mut per_bucket: Vec<Vec<Op>> = (0..buckets).map(|_| vec![]).collect();
        for &(row, remove) in ops {
            self.last_op += 1;
            let op_id = self.last_op;
            let b = Self::bucket_of(row, BASE_ROWS, buckets);
            self.buckets[b].checksum = self.buckets[b].checksum.wrapping_add(lines::op_checksum(op_id));
            self.buckets[b].count += 1;
            per_bucket[b].push(if remove {
                Op::Remove { op_id, row }
            } else {
                Op::Put { op_id, row, version: 1 }
            });
        }
        let mut lines_time = self.timed(lines::checkpoint_diff(self.last_op, &self.buckets));
        for (b, ops) in per_bucket.iter().enumerate() {
            for chunk in ops.chunks(OPS_PER_LINE) {
                lines_time += self.timed(lines::data_line(&self.buckets[b].name, chunk, self.id));
            }
        }
        let complete = match partial {
            None => self.timed(lines::checkpoint_complete(self.last_op)),
            Some(p) => self.timed(lines::partial_checkpoint_complete(self.last_op, p)),
        };
        (lines_time, complete)
    }

    fn views(&mut self) -> Vec<(String, f64)> {
        let db = &self.db;
        let id = self.id;
        let one_tx = |f: &dyn Fn()| {
            let start = Instant::now();
            db.execute_batch("BEGIN").unwrap();
            f();
            db.execute_batch("COMMIT").unwrap();
            start.elapsed().as_secs_f64()
        };
        let descriptions: Vec<String> = (1..=BASE_ROWS).map(|n| format!("{n:010}{:190}", "")).collect();
        let insert = one_tx(&|| {
            let mut stmt = db
                .prepare(
                    "INSERT INTO items(id, name, description, qty, price, created_at, owner_id, list_id, done, rank) \
                     VALUES (?, ?, ?, ?, ?, '2026-01-01T12:00:00Z', ?, 'list-1', 0, ?)",
                )
                .unwrap();
            for n in 1..=BASE_ROWS {
                stmt.execute(params![
                    id(n),
                    format!("item {n}"),
                    descriptions[n as usize - 1],
                    n as i64,
                    n as f64 + 0.25,
                    format!("user-{}", n % 97),
                    (n * 7 % 10_007) as i64
                ])
                .unwrap();
            }
        });
        let update = one_tx(&|| {
            let mut stmt = db
                .prepare("UPDATE items SET qty = qty + 1, done = 1 WHERE id = ?")
                .unwrap();
            for n in 1..=BASE_ROWS {
                stmt.execute([id(n)]).unwrap();
            }
        });
        let delete = one_tx(&|| {
            let mut stmt = db.prepare("DELETE FROM items WHERE id = ?").unwrap();
            for n in 1..=BASE_ROWS {
                stmt.execute([id(n)]).unwrap();
            }
        });
        // What an SDK's upload loop does: read a batch of 100, upload it, delete it.
        let start = Instant::now();
        let mut drained = 0u64;
        loop {
            db.execute_batch("BEGIN").unwrap();
            let batch: Vec<(i64, String)> = {
                let mut stmt = db
                    .prepare("SELECT id, data FROM ps_crud ORDER BY id LIMIT 100")
                    .unwrap();
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            };
            if let Some((last, _)) = batch.last() {
                db.prepare("DELETE FROM ps_crud WHERE id <= ?")
                    .unwrap()
                    .execute([last])
                    .unwrap();
            }
            db.execute_batch("COMMIT").unwrap();
            if batch.is_empty() {
                break;
            }
            drained += batch.len() as u64;
        }
        let drain = start.elapsed().as_secs_f64();
        assert_eq!(drained, 3 * BASE_ROWS, "every write was queued once");
        vec![
            ("insert".into(), insert),
            ("update".into(), update),
            ("delete".into(), delete),
            ("drain".into(), drain),
        ]
    }
}
