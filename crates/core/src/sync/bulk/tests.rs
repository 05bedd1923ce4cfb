use rusqlite::Connection;

use super::*;
use crate::sync::line::{parse_text, SyncLine};
use crate::sync::storage::{apply_data_line, Supersede};
use crate::testing::open;

fn init() -> Connection {
    let db = open();
    db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
    db
}

fn apply(db: &Connection, text: &str, mode: Supersede) {
    let SyncLine::Data(line) = parse_text(text).unwrap() else {
        panic!("not a data line: {text}")
    };
    apply_data_line(db, &line, text.len(), mode).unwrap();
}

/// A tiny deterministic generator (xorshift), so the differential cases are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Data lines over a small key space, so ops supersede each other often: PUTs, REMOVEs, MOVEs,
/// ops without identity, and the colliding identities `a/b`+`c` and `a`+`b/c`.
fn random_lines(seed: u64, buckets: &[&str], lines: usize, first_op: &mut i64) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for _ in 0..lines {
        let bucket = buckets[rng.below(buckets.len() as u64) as usize];
        let mut ops = Vec::new();
        for _ in 0..1 + rng.below(12) {
            *first_op += 1;
            let id = *first_op;
            let checksum = rng.below(u32::MAX as u64 + 1);
            let (ty, row) = match rng.below(12) {
                0 => ("a/b".to_string(), "c".to_string()),
                1 => ("a".to_string(), "b/c".to_string()),
                _ => ("items".to_string(), format!("r{}", rng.below(9))),
            };
            let subkey = match rng.below(5) {
                0 => r#","subkey":"s1""#,
                _ => "",
            };
            let op = match rng.below(10) {
                0..=5 => format!(
                    r#"{{"op_id":"{id}","op":"PUT","object_type":"{ty}","object_id":"{row}"{subkey},"checksum":{checksum},"data":"{{\"v\":{id}}}"}}"#
                ),
                6..=7 => format!(
                    r#"{{"op_id":"{id}","op":"REMOVE","object_type":"{ty}","object_id":"{row}"{subkey},"checksum":{checksum}}}"#
                ),
                8 => format!(r#"{{"op_id":"{id}","op":"MOVE","checksum":{checksum}}}"#),
                _ => format!(r#"{{"op_id":"{id}","op":"PUT","checksum":{checksum},"data":"{{}}"}}"#),
            };
            ops.push(op);
        }
        out.push(format!(
            r#"{{"data":{{"bucket":"{bucket}","data":[{}]}}}}"#,
            ops.join(",")
        ));
    }
    out
}

/// Everything a reader could compare: the oplog (without rowids), buckets and queued rows.
fn snapshot(db: &Connection) -> (Vec<String>, Vec<String>, Vec<String>) {
    let rows = |sql: &str| -> Vec<String> {
        let mut s = db.prepare(sql).unwrap();
        let rows = s.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    (
        rows("SELECT json_array(bucket, op_id, row_type, row_id, key, data, hash) FROM ps_oplog ORDER BY bucket, op_id"),
        rows("SELECT json_array(id, name, last_applied_op, last_op, add_checksum, op_checksum, count_since_last, downloaded_size) FROM ps_buckets ORDER BY id"),
        rows("SELECT json_array(row_type, row_id) FROM ps_updated_rows ORDER BY 1"),
    )
}

fn schema(db: &Connection) -> Vec<String> {
    let mut s = db
        .prepare("SELECT type || ' ' || name || ' ' || ifnull(sql, '') FROM sqlite_schema ORDER BY name")
        .unwrap();
    let rows = s.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn enter(db: &Connection) {
    assert!(maybe_enter(db, MIN_OPS).unwrap());
    assert!(active(db).unwrap());
}

/// Runs `before` lines on the per-op path, then `during` lines deferred in bulk mode and
/// finishes; the same lines all on the per-op path must leave the same database.
fn differential(before: &[String], applied: bool, during: &[String]) {
    let probe = init();
    let bulk = init();
    for db in [&probe, &bulk] {
        for line in before {
            apply(db, line, Supersede::Probe);
        }
        if applied {
            db.execute("UPDATE ps_buckets SET last_applied_op = last_op", [])
                .unwrap();
        }
    }
    let schema_before = schema(&bulk);
    for line in during {
        apply(&probe, line, Supersede::Probe);
    }
    enter(&bulk);
    for line in during {
        apply(&bulk, line, Supersede::Deferred);
    }
    assert!(finish(&bulk).unwrap());
    assert!(!active(&bulk).unwrap());
    assert_eq!(snapshot(&bulk), snapshot(&probe));
    assert_eq!(schema(&bulk), schema_before, "sqlite_schema reads as before bulk mode");
    let check: String = bulk.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn deferred_supersession_on_a_first_download_matches_the_per_op_path() {
    for seed in 1..40 {
        let mut op = 0;
        let during = random_lines(seed, &["A", "B"], 30, &mut op);
        differential(&[], false, &during);
    }
}

#[test]
fn deferred_supersession_of_ops_stored_before_bulk_mode_matches_the_per_op_path() {
    for seed in 100..130 {
        let mut op = 0;
        let before = random_lines(seed, &["A", "B"], 10, &mut op);
        let during = random_lines(seed + 1000, &["A", "B", "C"], 30, &mut op);
        differential(&before, false, &during);
    }
}

#[test]
fn tombstones_in_applied_buckets_queue_their_rows_as_the_per_op_path_does() {
    for seed in 200..230 {
        let mut op = 0;
        let before = random_lines(seed, &["A", "B"], 10, &mut op);
        let during = random_lines(seed + 1000, &["A", "B"], 30, &mut op);
        differential(&before, true, &during);
    }
}

#[test]
fn finish_without_bulk_mode_changes_nothing() {
    let db = init();
    let before = schema(&db);
    assert!(!finish(&db).unwrap());
    assert_eq!(schema(&db), before);
}

#[test]
fn small_downloads_and_downloads_smaller_than_the_stored_oplog_stay_on_the_per_op_path() {
    let db = init();
    assert!(!maybe_enter(&db, MIN_OPS - 1).unwrap());
    db.execute(
        "INSERT INTO ps_buckets(name, count_at_last) VALUES ('big', ?)",
        [MIN_OPS * 3],
    )
    .unwrap();
    assert!(!maybe_enter(&db, MIN_OPS * 2).unwrap());
    assert!(!active(&db).unwrap());
    assert!(maybe_enter(&db, MIN_OPS * 3).unwrap());
}

#[test]
fn a_tombstone_is_never_taken_for_an_op() {
    // A REMOVE of a row that was never stored leaves nothing, in either mode.
    let line = r#"{"data":{"bucket":"A","data":[{"op_id":"7","op":"REMOVE","object_type":"items","object_id":"gone","checksum":5}]}}"#;
    differential(&[], false, &[line.to_string()]);
    assert_eq!(tombstone_op_id(0), -1);
    assert_eq!(tombstone_op_id(7), -8);
}

/// A file database in WAL mode without automatic checkpoints, so the WAL's frame count after a
/// transaction is the pages that transaction wrote.
struct WalDb {
    conn: Connection,
    path: std::path::PathBuf,
}

impl Drop for WalDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

impl WalDb {
    fn open(name: &str) -> WalDb {
        let path = std::env::temp_dir().join(format!("ps-bulk-{}-{name}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).unwrap();
        crate::register_connection(&conn).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA cache_size = -50000; PRAGMA wal_autocheckpoint = 0;
             BEGIN; SELECT powersync_init(); COMMIT;",
        )
        .unwrap();
        WalDb { conn, path }
    }

    fn control(&self, op: &str, payload: &str) {
        self.conn.execute("BEGIN", []).unwrap();
        self.conn
            .query_row("SELECT powersync_control(?1, ?2)", [op, payload], |_| Ok(()))
            .unwrap();
        self.conn.execute("COMMIT", []).unwrap();
    }

    /// Frames in the WAL (a passive checkpoint reports them; nothing reads the database, so it
    /// moves them all and the next transaction starts the WAL over).
    fn wal_frames(&self) -> i64 {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap()
    }
}

/// Random-looking 32-hex-digit ids, as UUIDs spread over the indexes.
fn uuid_like(i: u64) -> String {
    let mix = |mut x: u64| {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    format!("{:016x}{:016x}", mix(i), mix(i ^ 0xabcdef))
}

fn put_line(first: u64, ops: u64) -> String {
    let ops: Vec<String> = (first..first + ops)
        .map(|i| {
            format!(
                r#"{{"op_id":"{}","op":"PUT","object_type":"items","object_id":"{}","checksum":1,"data":"{{\"v\":{i}}}"}}"#,
                i + 1,
                uuid_like(i)
            )
        })
        .collect();
    format!(r#"{{"data":{{"bucket":"b","data":[{}]}}}}"#, ops.join(","))
}

/// Pages the WAL gained for one 1,000-op line after `before` ops were stored, with or without
/// the bucket count that lets the checkpoint start bulk mode; and whether bulk mode was on.
fn pages_of_one_line(name: &str, counted: bool, before: u64, total: u64) -> (i64, bool) {
    let db = WalDb::open(name);
    db.control("start", "{}");
    let count = if counted {
        format!(r#","count":{total}"#)
    } else {
        String::new()
    };
    let checkpoint = format!(
        r#"{{"checkpoint":{{"last_op_id":"{total}","buckets":[{{"bucket":"b","checksum":{total}{count}}}]}}}}"#
    );
    db.control("line_text", &checkpoint);
    for first in (0..before).step_by(1000) {
        db.control("line_text", &put_line(first, 1000));
    }
    db.wal_frames();
    db.control("line_text", &put_line(before, 1000));
    let pages = db.wal_frames();
    (pages, active(&db.conn).unwrap())
}

#[test]
fn a_bulk_data_line_writes_the_pages_of_its_rows_not_random_index_pages() {
    // 1,000 ops of about 120 bytes each fill some 30 to 40 pages of `ps_oplog`; the per-op path
    // adds a random leaf of two indexes per op once they span more leaves than a line has ops.
    let (before, total) = (MIN_OPS as u64 + 10_000, MIN_OPS as u64 + 20_000);
    let (bulk, bulk_on) = pages_of_one_line("counted", true, before, total);
    let (probe, probe_on) = pages_of_one_line("uncounted", false, before, total);
    eprintln!("pages written by one 1,000-op line after {before} ops: bulk {bulk}, per-op {probe}");
    assert!(bulk_on, "the counted download runs in bulk mode");
    assert!(!probe_on, "without counts the download stays on the per-op path");
    assert!(bulk <= 60, "a bulk data line wrote {bulk} pages");
    assert!(probe >= 4 * bulk, "per-op path {probe} pages against bulk {bulk}");
}

#[test]
fn the_line_that_completes_a_counted_download_ends_bulk_mode() {
    let db = WalDb::open("completes");
    db.control("start", "{}");
    let total = MIN_OPS as u64;
    let checkpoint = format!(
        r#"{{"checkpoint":{{"last_op_id":"{total}","buckets":[{{"bucket":"b","checksum":{total},"count":{total}}}]}}}}"#
    );
    db.control("line_text", &checkpoint);
    assert!(active(&db.conn).unwrap(), "the checkpoint started bulk mode");
    let schema_in_bulk = crate::testing::schema(&db.conn);
    for first in (0..total).step_by(1000) {
        assert!(active(&db.conn).unwrap(), "still downloading at op {first}");
        db.control("line_text", &put_line(first, 1000));
    }
    assert!(!active(&db.conn).unwrap(), "the last line finished bulk mode");
    let schema = crate::testing::schema(&db.conn);
    assert!(schema.len() == schema_in_bulk.len() + 2, "both indexes are back");
    db.control("line_text", r#"{"checkpoint_complete":{"last_op_id":"0"}}"#);
    let rows: i64 = db
        .conn
        .query_row("SELECT count(*) FROM ps_untyped", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, total as i64);
}
