use rusqlite::Connection;

use super::*;
use crate::sync::line::{parse_text, SyncLine};
use crate::sync::storage::{apply_data_line, Supersede};
use crate::testing::{open, Rng};

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

/// Data lines over a small key space, so ops supersede each other often: PUTs, REMOVEs, MOVEs,
/// ops without identity, the colliding identities `a/b`+`c` and `a`+`b/c`, and with `clears`
/// CLEARs.
fn random_lines(seed: u64, buckets: &[&str], lines: usize, first_op: &mut i64, clears: bool) -> Vec<String> {
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
            let op = match rng.below(if clears { 11 } else { 10 }) {
                10 => format!(r#"{{"op_id":"{id}","op":"CLEAR","checksum":{checksum}}}"#),
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
        let during = random_lines(seed, &["A", "B"], 30, &mut op, false);
        differential(&[], false, &during);
    }
}

#[test]
fn deferred_supersession_of_ops_stored_before_bulk_mode_matches_the_per_op_path() {
    for seed in 100..130 {
        let mut op = 0;
        let before = random_lines(seed, &["A", "B"], 10, &mut op, false);
        let during = random_lines(seed + 1000, &["A", "B", "C"], 30, &mut op, false);
        differential(&before, false, &during);
    }
}

#[test]
fn tombstones_in_applied_buckets_queue_their_rows_as_the_per_op_path_does() {
    for seed in 200..230 {
        let mut op = 0;
        let before = random_lines(seed, &["A", "B"], 10, &mut op, false);
        let during = random_lines(seed + 1000, &["A", "B"], 30, &mut op, false);
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

fn bucket_line(bucket: &str, first: u64, ops: u64) -> String {
    put_line(first, ops).replace(r#""bucket":"b""#, &format!(r#""bucket":"{bucket}""#))
}

#[test]
fn a_partial_checkpoint_in_bulk_mode_publishes_its_buckets_and_bulk_mode_resumes() {
    let db = WalDb::open("partial");
    db.control("start", "{}");
    let big = MIN_OPS as u64 + 2_000;
    let checkpoint = format!(
        r#"{{"checkpoint":{{"last_op_id":"{}","buckets":[{{"bucket":"p","checksum":1000,"count":1000,"priority":1}},{{"bucket":"b","checksum":{big},"count":{big},"priority":3}}]}}}}"#,
        big + 1000
    );
    db.control("line_text", &checkpoint);
    assert!(active(&db.conn).unwrap());
    db.control("line_text", &bucket_line("p", 0, 1000));
    db.control("line_text", &bucket_line("b", 1000, 1000));
    db.control(
        "line_text",
        r#"{"partial_checkpoint_complete":{"last_op_id":"2000","priority":1}}"#,
    );
    let count = |sql: &str| -> i64 { db.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM ps_untyped"),
        1000,
        "exactly the priority-1 bucket"
    );
    assert_eq!(count("SELECT count(*) FROM ps_buckets WHERE last_applied_op > 0"), 1);
    assert!(
        active(&db.conn).unwrap(),
        "the rest of the download goes on in bulk mode"
    );
    for first in (2000..big + 1000).step_by(1000) {
        db.control("line_text", &bucket_line("b", first, 1000.min(big + 1000 - first)));
    }
    assert!(!active(&db.conn).unwrap());
    db.control("line_text", r#"{"checkpoint_complete":{"last_op_id":"0"}}"#);
    assert_eq!(count("SELECT count(*) FROM ps_untyped"), big as i64 + 1000);
    assert_eq!(count("SELECT count(*) FROM ps_oplog"), big as i64 + 1000);
}

/// The checksum a bucket ends with after `lines`: every op's checksum added, a CLEAR starting
/// over from its own.
fn expected_checksums(lines: &[String]) -> std::collections::BTreeMap<String, u32> {
    let mut sums = std::collections::BTreeMap::new();
    for line in lines {
        let SyncLine::Data(data) = parse_text(line).unwrap() else {
            unreachable!()
        };
        let sum: &mut u32 = sums.entry(data.bucket.to_string()).or_default();
        for op in &data.data {
            if op.op == crate::sync::line::OpType::CLEAR {
                *sum = op.checksum.0;
            } else {
                *sum = sum.wrapping_add(op.checksum.0);
            }
        }
    }
    sums
}

/// The same session through `powersync_control`, once with bucket counts that start bulk mode
/// (and never complete by count, so `checkpoint_complete` finishes it) and once without.
fn session_differential(seed: u64, applied_first: bool) {
    let mut op = 0;
    let first = random_lines(seed, &["A", "B"], 12, &mut op, false);
    let second = random_lines(seed + 7, &["A", "B"], 40, &mut op, true);
    // A publish refuses PUTs without identity (in either mode): those become MOVEs here.
    let publishable = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| l.replace(r#""op":"PUT","checksum""#, r#""op":"MOVE","checksum""#))
            .collect()
    };
    let (first, second) = (publishable(first), publishable(second));
    let run = |counted: bool| -> Connection {
        let db = init();
        db.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        let control = |op: &str, payload: &str| {
            db.execute("BEGIN", []).unwrap();
            db.query_row("SELECT powersync_control(?1, ?2)", [op, payload], |_| Ok(()))
                .unwrap();
            db.execute("COMMIT", []).unwrap();
        };
        control("start", "{}");
        let mut sent: Vec<String> = Vec::new();
        let all = [first.clone(), second.clone()].concat();
        let rounds: Vec<&[String]> = if applied_first {
            vec![&first, &second]
        } else {
            vec![&[], &all]
        };
        for (round, lines) in rounds.iter().enumerate() {
            sent.extend(lines.iter().cloned());
            let sums = expected_checksums(&sent);
            let buckets: Vec<String> = ["A", "B"]
                .iter()
                .map(|b| {
                    let count = if counted {
                        format!(r#","count":{}"#, MIN_OPS * (round as i64 + 1))
                    } else {
                        String::new()
                    };
                    format!(
                        r#"{{"bucket":"{b}","checksum":{}{count}}}"#,
                        sums.get(*b).copied().unwrap_or(0)
                    )
                })
                .collect();
            let checkpoint = format!(
                r#"{{"checkpoint":{{"last_op_id":"{}","buckets":[{}]}}}}"#,
                op + round as i64,
                buckets.join(",")
            );
            control("line_text", &checkpoint);
            assert_eq!(active(&db).unwrap(), counted, "bulk mode follows the counts");
            for line in lines.iter() {
                control("line_text", line);
            }
            control("line_text", r#"{"checkpoint_complete":{"last_op_id":"0"}}"#);
            assert!(!active(&db).unwrap());
        }
        db
    };
    let (bulk, probe) = (run(true), run(false));
    // Download progress follows the counts, which only one of the two sessions sent.
    for db in [&bulk, &probe] {
        db.execute("UPDATE ps_buckets SET count_at_last = 0, count_since_last = 0", [])
            .unwrap();
    }
    assert_eq!(snapshot(&bulk), snapshot(&probe), "seed {seed}");
    assert_eq!(crate::testing::schema(&bulk), crate::testing::schema(&probe));
    let published = |db: &Connection| -> Vec<String> {
        let mut s = db
            .prepare("SELECT json_array(type, id, data) FROM ps_untyped ORDER BY type, id")
            .unwrap();
        let rows = s.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(published(&bulk), published(&probe), "seed {seed}");
}

#[test]
fn sessions_in_bulk_mode_end_as_on_the_per_op_path_with_clears_and_applied_buckets() {
    for seed in 300..312 {
        session_differential(seed, false);
        session_differential(seed, true);
    }
}

#[test]
fn stored_ops_with_negative_ids_keep_the_per_op_path() {
    let db = init();
    let line = r#"{"data":{"bucket":"A","data":[{"op_id":"-5","op":"PUT","object_type":"items","object_id":"x","checksum":1,"data":"{}"}]}}"#;
    apply(&db, line, Supersede::Probe);
    assert!(!maybe_enter(&db, MIN_OPS).unwrap(), "the op would read as a tombstone");
    db.execute("DELETE FROM ps_oplog", []).unwrap();
    assert!(maybe_enter(&db, MIN_OPS).unwrap());
}

#[test]
fn finishing_restores_the_connections_page_cache_setting() {
    for setting in [-50_000_i64, 2_000, -100] {
        let db = init();
        db.execute_batch(&format!("PRAGMA cache_size = {setting}")).unwrap();
        enter(&db);
        assert!(finish(&db).unwrap());
        let after: i64 = db.query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap();
        assert_eq!(after, setting);
    }
}
