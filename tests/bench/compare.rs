//! `make bench`: our cdylib side by side with the reference build on the same workloads, in the
//! same process and SQLite (rusqlite's bundled one). Prints a table; nothing here is a test.
//!
//! The reference comes from the npm package (`tools/reference/setup.sh`); without it only our
//! numbers are shown.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;

const SCHEMA: &str = r#"{"tables":[{"name":"items","columns":[{"name":"name","type":"text"},{"name":"qty","type":"integer"},{"name":"price","type":"real"}]}]}"#;

fn open(ext: &Path) -> Connection {
    let db = Connection::open_in_memory().unwrap();
    unsafe {
        let _guard = rusqlite::LoadExtensionGuard::new(&db).unwrap();
        db.load_extension(ext, Some("sqlite3_powersync_init")).unwrap();
    }
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |_| Ok(()))
        .unwrap();
    db.execute_batch("COMMIT").unwrap();
    db
}

fn control(db: &Connection, op: &str, payload: &str) {
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_control(?, ?)", [op, payload], |_| Ok(()))
        .unwrap();
    db.execute_batch("COMMIT").unwrap();
}

/// A full initial sync: one checkpoint, `rows` PUTs in lines of 100 ops, checkpoint_complete.
fn initial_sync(ext: &Path, rows: u32) -> Duration {
    let db = open(ext);
    let lines: Vec<String> = (0..rows / 100)
        .map(|chunk| {
            let ops: Vec<String> = (0..100)
                .map(|i| {
                    let n = chunk * 100 + i + 1;
                    format!(
                        r#"{{"op_id":"{n}","op":"PUT","object_type":"items","object_id":"i{n}","checksum":1,"data":"{{\"name\":\"item {n}\",\"qty\":{n},\"price\":1.5}}"}}"#
                    )
                })
                .collect();
            format!(r#"{{"data":{{"bucket":"b","data":[{}]}}}}"#, ops.join(","))
        })
        .collect();
    let checkpoint = format!(
        r#"{{"checkpoint":{{"last_op_id":"{rows}","buckets":[{{"bucket":"b","checksum":{rows},"count":{rows}}}]}}}}"#
    );
    let start = Instant::now();
    control(&db, "start", "{}");
    control(&db, "line_text", &checkpoint);
    for line in &lines {
        control(&db, "line_text", line);
    }
    control(
        &db,
        "line_text",
        &format!(r#"{{"checkpoint_complete":{{"last_op_id":"{rows}"}}}}"#),
    );
    let elapsed = start.elapsed();
    let count: u32 = db.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!(count, rows, "the sync must have published every row");
    elapsed
}

/// `rows` inserts and as many updates through the view, one transaction each.
fn local_writes(ext: &Path, rows: u32) -> Duration {
    let db = open(ext);
    let start = Instant::now();
    for n in 0..rows {
        db.execute(
            "INSERT INTO items(id, name, qty, price) VALUES (?, 'x', ?, 1.5)",
            rusqlite::params![format!("i{n}"), n],
        )
        .unwrap();
    }
    for n in 0..rows {
        db.execute("UPDATE items SET qty = qty + 1 WHERE id = ?", [format!("i{n}")])
            .unwrap();
    }
    let elapsed = start.elapsed();
    let queued: u32 = db.query_row("SELECT count(*) FROM ps_crud", [], |r| r.get(0)).unwrap();
    assert_eq!(queued, 2 * rows);
    elapsed
}

/// One measured run of a workload on the extension at the given path.
type Workload = dyn Fn(&Path) -> Duration;

fn best_of(runs: usize, f: impl Fn() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ours = std::env::var_os("POWERSYNC_EXTENSION")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/libpowersync.so"));
    assert!(ours.exists(), "build the extension first (make build)");
    let reference = root.join(".cache/reference/node/package/lib/libpowersync_x64.linux.so");
    let mut builds = vec![("ours", ours)];
    if reference.exists() {
        builds.push(("reference", reference));
    } else {
        println!("(reference build not installed: run tools/reference/setup.sh to compare)");
    }
    let workloads: [(&str, &Workload); 2] = [
        ("initial sync, 20000 rows", &|ext| initial_sync(ext, 20_000)),
        ("local writes, 5000 inserts + 5000 updates", &|ext| {
            local_writes(ext, 5_000)
        }),
    ];
    println!(
        "{:<45} {:>12} {:>12}",
        "workload (best of 3)",
        builds[0].0,
        builds.get(1).map_or("", |b| b.0)
    );
    for (name, run) in workloads {
        let times: Vec<Duration> = builds.iter().map(|(_, ext)| best_of(3, || run(ext))).collect();
        let cells: Vec<String> = times
            .iter()
            .map(|t| format!("{:.1} ms", t.as_secs_f64() * 1000.0))
            .collect();
        println!(
            "{:<45} {:>12} {:>12}",
            name,
            cells[0],
            cells.get(1).map_or("", String::as_str)
        );
    }
}
