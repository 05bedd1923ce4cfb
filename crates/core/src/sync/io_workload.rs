//! The sync workload whose page writes `temp_files` (this crate) and `tests/io_shape.rs` (ours
//! against the reference) count: a first sync, a diff and a partial checkpoint of 9-column rows
//! (about 400 bytes) with random UUID ids over 10 buckets, in 1,000-op data lines, each call its own
//! transaction, on a WAL database with a 50 MB cache. The sizes make each line change far more
//! than the 64 KiB a statement sub-journal keeps in memory (random ids spread every line over
//! most index leaves). Plain rusqlite and the counting VFS only, so both crates can include it.

use rusqlite::{params, Connection, OpenFlags};

use super::test_vfs::{self, Writes};

const COLUMNS: usize = 9;
const LINE: u64 = 1_000;

fn mix(mut x: u64) -> u64 {
    // splitmix64: deterministic, well spread ids (as random as UUIDs for the b-trees).
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn uuid(i: u64) -> String {
    let (a, b) = (mix(i), mix(i ^ 0x5555_5555));
    let h = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A row of about 400 bytes.
fn row_data(i: u64, version: u64) -> String {
    let columns: Vec<String> = (0..COLUMNS)
        .map(|c| {
            format!(
                r#""c{c}":"value {version} of row {i} column {c} {:x}""#,
                mix(i + c as u64)
            )
        })
        .collect();
    format!("{{{}}}", columns.join(","))
}

struct Db {
    conn: Connection,
    path: std::path::PathBuf,
    /// Per bucket: the sum of every op checksum sent (what `add + op` adds up to).
    sums: std::collections::HashMap<String, u32>,
    next_op: u64,
}

impl Drop for Db {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

impl Db {
    fn open(name: &str, setup: &dyn Fn(&Connection)) -> Db {
        test_vfs::register();
        let path = std::env::temp_dir().join(format!("ps-temp-files-{}-{name}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open_with_flags_and_vfs(&path, OpenFlags::default(), test_vfs::NAME).unwrap();
        setup(&conn);
        // The database of an app: WAL, a 50 MB cache; no automatic checkpoints, so each phase's
        // count is the pages its own transactions committed.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA cache_size = -50000; PRAGMA wal_autocheckpoint = 0;")
            .unwrap();
        let columns: Vec<String> = (0..COLUMNS)
            .map(|c| format!(r#"{{"name":"c{c}","type":"text"}}"#))
            .collect();
        let schema = format!(r#"{{"tables":[{{"name":"items","columns":[{}]}}]}}"#, columns.join(","));
        conn.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
        conn.execute("BEGIN", []).unwrap();
        conn.query_row("SELECT powersync_replace_schema(?)", [schema], |_| Ok(()))
            .unwrap();
        conn.execute("COMMIT", []).unwrap();
        let db = Db {
            conn,
            path,
            sums: Default::default(),
            next_op: 1,
        };
        db.control("start", None);
        db
    }

    /// One `powersync_control` call in its own transaction, as the SDKs make them.
    fn control(&self, op: &str, payload: Option<&str>) -> String {
        self.conn.execute("BEGIN", []).unwrap();
        let out: Option<String> = self
            .conn
            .query_row("SELECT powersync_control(?1, ?2)", params![op, payload], |r| r.get(0))
            .unwrap();
        self.conn.execute("COMMIT", []).unwrap();
        out.unwrap_or_default()
    }

    /// Data lines of `LINE` ops putting rows `rows` (at `version`) into `bucket`.
    fn put_lines(&mut self, bucket: &str, rows: &[u64], version: u64) {
        for chunk in rows.chunks(LINE as usize) {
            let ops: Vec<serde_json::Value> = chunk
                .iter()
                .map(|&i| {
                    let op_id = self.next_op;
                    self.next_op += 1;
                    let checksum = (mix(op_id) & 0xffff_ffff) as u32;
                    let sum = self.sums.entry(bucket.to_string()).or_default();
                    *sum = sum.wrapping_add(checksum);
                    serde_json::json!({"op_id": op_id.to_string(), "op": "PUT", "object_type": "items",
                        "object_id": uuid(i), "checksum": checksum, "data": row_data(i, version)})
                })
                .collect();
            let line = serde_json::json!({"data": {"bucket": bucket, "data": ops}}).to_string();
            self.control("line_text", Some(&line));
        }
    }

    /// Pages of `ps_data__items` (table and id index); 0 on a SQLite built without `dbstat`
    /// (the old-SQLite run of the integration tests).
    fn published_pages(&self) -> u64 {
        self.conn
            .query_row(
                "SELECT count(*) FROM dbstat WHERE name IN ('ps_data__items', 'sqlite_autoindex_ps_data__items_1')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0) as u64
    }

    pub fn items(&self) -> i64 {
        self.conn
            .query_row("SELECT count(*) FROM ps_data__items", [], |r| r.get(0))
            .unwrap()
    }
}

/// Buckets of the first sync and the diff (row `i` is in bucket `b{i % 10}`), as the bench's.
const BUCKETS: u64 = 10;

/// The rows of `rows` grouped by bucket, in the order their lines are sent.
fn by_bucket(rows: &[u64]) -> Vec<(String, Vec<u64>)> {
    (0..BUCKETS)
        .map(|b| {
            (
                format!("b{b}"),
                rows.iter().copied().filter(|i| i % BUCKETS == b).collect(),
            )
        })
        .collect()
}

impl Db {
    /// Announces the checkpoint that `lines` (sent next, in order) complete: each bucket's
    /// checksum is the sum of every op it will have received, so it is computed from the op ids
    /// the lines will get.
    fn checkpoint(&self, lines: &[(String, Vec<u64>)], priorities: &[(&str, i32)]) {
        let mut sums = self.sums.clone();
        let mut op_id = self.next_op;
        for (bucket, rows) in lines {
            let sum = sums.entry(bucket.clone()).or_default();
            for _ in rows {
                *sum = sum.wrapping_add((mix(op_id) & 0xffff_ffff) as u32);
                op_id += 1;
            }
        }
        let buckets: Vec<serde_json::Value> = priorities
            .iter()
            .map(|&(name, priority)| {
                serde_json::json!({"bucket": name, "checksum": sums.get(name).copied().unwrap_or(0), "priority": priority})
            })
            .collect();
        let line = serde_json::json!({"checkpoint": {"last_op_id": (op_id - 1).to_string(), "buckets": buckets}});
        self.control("line_text", Some(&line.to_string()));
    }

    fn send(&mut self, lines: &[(String, Vec<u64>)], version: u64) {
        for (bucket, rows) in lines {
            self.put_lines(bucket, rows, version);
        }
    }
}

/// Page writes per phase of the workload with `rows` rows (`setup` loads the extension).
pub fn run(name: &str, setup: &dyn Fn(&Connection), rows: u64) -> Vec<(&'static str, Writes)> {
    let mut db = Db::open(name, setup);
    let names: Vec<String> = (0..BUCKETS).map(|b| format!("b{b}")).collect();
    let mut priorities: Vec<(&str, i32)> = names.iter().map(|n| (n.as_str(), 3)).collect();

    // First sync.
    let first = by_bucket(&(0..rows).collect::<Vec<_>>());
    db.checkpoint(&first, &priorities);
    test_vfs::take();
    db.send(&first, 1);
    let first_lines = test_vfs::take();
    let complete = format!(r#"{{"checkpoint_complete":{{"last_op_id":"{}"}}}}"#, db.next_op - 1);
    db.control("line_text", Some(&complete));
    let first_complete = test_vfs::take();
    assert_eq!(db.items(), rows as i64);
    let first_published = db.published_pages();

    // A diff: a quarter of the rows changed, spread over the whole id range.
    let changed = by_bucket(&(0..rows).filter(|i| mix(*i).is_multiple_of(4)).collect::<Vec<_>>());
    db.checkpoint(&changed, &priorities);
    test_vfs::take();
    db.send(&changed, 2);
    let diff_lines = test_vfs::take();
    let complete = format!(r#"{{"checkpoint_complete":{{"last_op_id":"{}"}}}}"#, db.next_op - 1);
    db.control("line_text", Some(&complete));
    let diff_complete = test_vfs::take();

    // A partial checkpoint: a priority-1 bucket with new rows and changes to existing ones.
    let partial: Vec<u64> = (0..rows / 4).map(|i| i * 2 + 1).chain(rows..rows + rows / 4).collect();
    let partial = vec![("p".to_string(), partial)];
    priorities.push(("p", 1));
    db.checkpoint(&partial, &priorities);
    test_vfs::take();
    db.send(&partial, 3);
    let partial_lines = test_vfs::take();
    let out = db.control(
        "line_text",
        Some(&format!(
            r#"{{"partial_checkpoint_complete":{{"last_op_id":"{}","priority":1}}}}"#,
            db.next_op - 1
        )),
    );
    let partial_complete = test_vfs::take();
    assert!(!out.contains("Checksums didn't match"), "{out}");
    assert_eq!(db.items(), (rows + rows / 4) as i64);

    vec![
        ("first sync: data lines", first_lines),
        ("first sync: checkpoint_complete", first_complete),
        ("diff: data lines", diff_lines),
        ("diff: checkpoint_complete", diff_complete),
        ("partial: data lines", partial_lines),
        ("partial: partial_checkpoint_complete", partial_complete),
        (
            "(pages of ps_data__items after the first sync)",
            Writes {
                temp: 0,
                data: first_published,
            },
        ),
    ]
}
