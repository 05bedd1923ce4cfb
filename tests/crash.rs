//! Crash consistency: a child process (tests/child/child.rs, role `crash-writer`) ingests sync
//! lines, writes through the views, uploads and publishes checkpoints, and is killed with SIGKILL
//! at seeded points: inside SQLite (a progress-handler callback, reproducible) or after a seeded
//! delay (which also lands inside commits). After each kill the database is reopened and checked:
//! `PRAGMA integrity_check` is ok, every `ps_crud` entry of a committed transaction is there (the
//! child reports each commit before and after it), the views show the old or the new checkpoint
//! and never a mix, and the next sync session completes.
//!
//! `make test` runs a few kill points per journal mode; `PS_RELIABILITY_LONG=1` (`make check`)
//! runs many more. `PS_CRASH_POINTS` and `PS_CRASH_SEED` override both.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use libpowersync_tests::open_path_with_extension;
use libpowersync_tests::reliability::{
    applied, bulk_checkpoint, bulk_complete, bulk_data_lines, control, create_database, env_number, line, long_run,
    request_positions, sync_checkpoint, view_checkpoint, ChildProcess, Rng, TempDir, OPLOG_INDEXES,
};
use rusqlite::Connection;
use serde_json::Value;

const CHILD: &str = env!("CARGO_BIN_EXE_ps-test-child");
const ROUNDS: u64 = 3;

#[test]
fn crash_consistency_wal() {
    crash_consistency("wal", 0x5eed_0001);
}

#[test]
fn crash_consistency_rollback_journal() {
    crash_consistency("delete", 0x5eed_0002);
}

/// How a child run ends.
enum Kill {
    None,
    /// At this progress-handler callback.
    AtCallback(u64),
    /// After this long.
    After(Duration),
}

fn crash_consistency(journal_mode: &str, seed: u64) {
    let points = env_number("PS_CRASH_POINTS", if long_run() { 150 } else { 8 });
    let seed = env_number("PS_CRASH_SEED", seed);
    let dir = TempDir::new("crash");
    let path = dir.path().join("app.db");
    create_database(&path, journal_mode);

    // A run without a kill measures the callbacks and the time of a whole run.
    let started = Instant::now();
    let reports = run_child(&path, 0, Kill::None);
    let elapsed = started.elapsed();
    let callbacks: u64 = reports
        .last()
        .and_then(|r| r.strip_prefix("finished "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the first run did not finish: {reports:?}"));
    verify(&path, &reports, 0, None, "run 0 (no kill)");
    let mut published = next_session(&path, 0);

    let mut rng = Rng::new(seed);
    for run in 1..=points {
        // Every third kill is timed; the others stop inside SQLite at a seeded callback.
        let kill = if run % 3 == 0 {
            Kill::After(Duration::from_micros(rng.range(0, elapsed.as_micros() as u64)))
        } else {
            Kill::AtCallback(rng.range(1, callbacks))
        };
        let what = match &kill {
            Kill::AtCallback(n) => {
                format!("{journal_mode} run {run} (seed {seed:#x}): killed at callback {n} of {callbacks}")
            }
            Kill::After(d) => format!("{journal_mode} run {run} (seed {seed:#x}): killed after {d:?}"),
            Kill::None => unreachable!(),
        };
        let reports = run_child(&path, run, kill);
        eprintln!("{what}: last report {:?}", reports.last());
        verify(&path, &reports, run, Some(published), &what);
        published = next_session(&path, run);
    }
}

/// Runs the `crash-writer` child once; returns its reports.
fn run_child(path: &Path, run: u64, kill: Kill) -> Vec<String> {
    run_role(
        "crash-writer",
        &[
            ("PS_DB", path.display().to_string()),
            ("PS_RUN", run.to_string()),
            ("PS_ROUNDS", ROUNDS.to_string()),
        ],
        kill,
    )
}

/// Runs a child role once with `$PS_KILL_AT` set from `kill`; returns its reports.
fn run_role(role: &str, envs: &[(&str, String)], kill: Kill) -> Vec<String> {
    let kill_at = match kill {
        Kill::AtCallback(n) => n,
        _ => 0,
    };
    let mut envs = envs.to_vec();
    envs.push(("PS_KILL_AT", kill_at.to_string()));
    let mut child = ChildProcess::spawn(CHILD, role, &envs);
    let deadline = match kill {
        Kill::After(delay) => Some(Instant::now() + delay),
        _ => None,
    };
    let mut reports = Vec::new();
    loop {
        match child.next_report(deadline) {
            Some(report) if report == "kill" => {
                child.kill();
                break;
            }
            Some(report) => {
                let finished = report.starts_with("finished");
                reports.push(report);
                if finished {
                    child.wait_success(role);
                    return reports;
                }
            }
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                child.kill();
                break;
            }
            None => {
                let status = child.child.wait().unwrap();
                panic!("the child exited early ({status}):\n{}", child.stderr());
            }
        }
    }
    reports.extend(child.drain().into_iter().filter(|r| r != "kill"));
    reports
}

/// What the reports say must be in the database.
#[derive(Default)]
struct Expected {
    /// Transactions surely committed and not uploaded.
    committed: Vec<u64>,
    /// Transactions an upload may or may not have removed (the upload did not report its commit).
    uploading: Vec<u64>,
    /// A transaction whose commit may or may not have happened.
    in_flight: Option<u64>,
    /// Checkpoints the views may show.
    views: Vec<Option<u64>>,
}

fn expected(reports: &[String], published: Option<u64>) -> Expected {
    let mut e = Expected {
        views: vec![published],
        ..Expected::default()
    };
    let mut current = published;
    for report in reports {
        let words: Vec<&str> = report.split(' ').collect();
        match words.as_slice() {
            ["tx", seq, "begin"] => e.in_flight = Some(seq.parse().unwrap()),
            ["tx", seq, "commit"] => {
                e.in_flight = None;
                e.committed.push(seq.parse().unwrap());
            }
            ["upload", "begin"] => e.uploading = std::mem::take(&mut e.committed),
            ["upload", "done"] => e.uploading.clear(),
            ["cp", cp, "begin"] => e.views = vec![current, Some(cp.parse().unwrap())],
            ["cp", cp, "done"] => {
                current = Some(cp.parse().unwrap());
                e.views = vec![current];
            }
            ["finished", _] => {}
            other => panic!("unknown report {other:?}"),
        }
    }
    e
}

/// The checks after a run: integrity, the upload queue, the local rows and the views.
fn verify(path: &Path, reports: &[String], run: u64, published: Option<u64>, what: &str) {
    let db = open_path_with_extension(path.to_str().unwrap());
    let integrity: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "{what}: integrity_check");
    let e = expected(reports, published);

    // The upload queue, grouped by the transaction the child numbered.
    let mut by_seq: BTreeMap<u64, Vec<(i64, String)>> = BTreeMap::new();
    let mut stmt = db.prepare("SELECT tx_id, data FROM ps_crud ORDER BY id").unwrap();
    let entries: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (tx_id, data) in entries {
        let entry: Value = serde_json::from_str(&data).unwrap();
        let id = entry["id"].as_str().unwrap().to_owned();
        let seq = id
            .strip_prefix(&format!("L{run}-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what}: an entry of no transaction of this run: {data}"));
        by_seq
            .entry(seq)
            .or_default()
            .push((tx_id, entry["op"].as_str().unwrap().to_owned()));
    }
    let whole = |seq: u64| -> bool {
        match by_seq.get(&seq) {
            None => false,
            Some(entries) => {
                let ops: Vec<&str> = entries.iter().map(|(_, op)| op.as_str()).collect();
                assert_eq!(
                    ops,
                    ["PUT", "PUT", "PUT", "PATCH"],
                    "{what}: entries of transaction {seq}"
                );
                assert!(
                    entries.iter().all(|(tx, _)| *tx == entries[0].0),
                    "{what}: transaction {seq} has several tx_ids: {entries:?}"
                );
                true
            }
        }
    };
    for &seq in &e.committed {
        assert!(
            whole(seq),
            "{what}: committed transaction {seq} lost its ps_crud entries; reports {reports:?}"
        );
        let notes: i64 = db
            .query_row("SELECT count(*) FROM notes WHERE seq = ?", [seq as i64], |r| r.get(0))
            .unwrap();
        assert_eq!(notes, 3, "{what}: local rows of committed transaction {seq}");
    }
    let uploaded: Vec<bool> = e.uploading.iter().map(|&seq| whole(seq)).collect();
    assert!(
        uploaded.iter().all(|&p| p) || uploaded.iter().all(|&p| !p),
        "{what}: an upload removed only part of the queue: {:?} present {uploaded:?}",
        e.uploading
    );
    if let Some(seq) = e.in_flight {
        whole(seq);
    }
    let known: Vec<u64> = e
        .committed
        .iter()
        .chain(&e.uploading)
        .chain(&e.in_flight)
        .copied()
        .collect();
    for seq in by_seq.keys() {
        assert!(
            known.contains(seq),
            "{what}: entries of transaction {seq}, which never committed"
        );
    }
    let tx_ids: std::collections::BTreeSet<i64> = by_seq.values().map(|entries| entries[0].0).collect();
    assert_eq!(tx_ids.len(), by_seq.len(), "{what}: two transactions share a tx_id");

    // The views: one whole checkpoint, the old or the new one.
    let shown = view_checkpoint(&db).unwrap_or_else(|mix| panic!("{what}: the views show {mix}"));
    assert!(
        e.views.contains(&shown),
        "{what}: the views show checkpoint {shown:?}, expected one of {:?}",
        e.views
    );
}

/// The next session on the database, as an SDK would run it after a restart: upload what is
/// queued, then sync a new checkpoint to completion. Returns its number.
fn next_session(path: &Path, run: u64) -> u64 {
    let cp = run * 100 + 99;
    let db = open_path_with_extension(path.to_str().unwrap());
    db.execute_batch("BEGIN IMMEDIATE; DELETE FROM ps_crud;").unwrap();
    db.query_row(
        "SELECT powersync_control('target_checkpoint_request_id', ?)",
        [cp.to_string()],
        |_| Ok(()),
    )
    .unwrap();
    db.execute_batch("COMMIT").unwrap();
    sync_checkpoint(&db, cp);
    assert_eq!(view_checkpoint(&db), Ok(Some(cp)), "after the next session");
    cp
}

/// Crash consistency of bulk ingest (`sync::bulk`): a child (`bulk-writer`) makes a first sync of
/// 24,000 ops (tests/support/reliability.rs, "bulk workload"), which bulk mode takes, and is
/// killed at a seeded point, each run on a new database. The kills rotate: inside the data line
/// that completes the download (which builds the indexes and resolves superseded ops), inside
/// `checkpoint_complete`, after a seeded delay, anywhere. After each: `integrity_check` is ok,
/// the views show nothing or the whole checkpoint, the next `start` leaves both oplog indexes
/// built (the exact reference SQL), and resuming from the positions it reports completes the sync
/// with exactly the state of a run without a kill.
#[test]
fn bulk_crash_consistency() {
    let points = env_number("PS_BULK_CRASH_POINTS", if long_run() { 40 } else { 4 });
    let seed = env_number("PS_CRASH_SEED", 0x5eed_0b01);
    let dir = TempDir::new("bulk-crash");
    let path = dir.path().join("uninterrupted.db");
    create_database(&path, "wal");
    let started = Instant::now();
    let reports = run_bulk(&path, Kill::None);
    let elapsed = started.elapsed();
    let (lines, finishing, complete, callbacks) = bulk_callbacks(&reports);
    // The run went through bulk mode: every data line but the last left the indexes dropped.
    let states: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.strip_prefix("line ").and_then(|r| r.split_once(' ')).map(|(_, s)| s))
        .filter(|s| !s.starts_with("begin"))
        .collect();
    let mut expected_states = vec!["bulk"; lines - 1];
    expected_states.push("indexed");
    assert_eq!(states, expected_states, "bulk mode during the uninterrupted run");
    let expected = {
        let db = open_path_with_extension(path.to_str().unwrap());
        let shown = snapshot(&db).items;
        assert!(shown.len() > 10_000, "{} rows", shown.len());
        resume(&db, "uninterrupted");
        let expected = snapshot(&db);
        assert_eq!(expected.items, shown, "resuming a complete sync changed the rows");
        expected
    };

    let mut rng = Rng::new(seed);
    for run in 1..=points {
        let kill = match run % 4 {
            1 => Kill::AtCallback(rng.range(finishing, complete - 1)),
            2 => Kill::AtCallback(rng.range(complete, callbacks)),
            3 => Kill::After(Duration::from_micros(rng.range(0, elapsed.as_micros() as u64))),
            _ => Kill::AtCallback(rng.range(1, callbacks)),
        };
        let what = match &kill {
            Kill::AtCallback(n) => format!(
                "bulk run {run} (seed {seed:#x}): killed at callback {n} of {callbacks} \
                 (finishing line from {finishing}, checkpoint_complete from {complete})"
            ),
            Kill::After(d) => format!("bulk run {run} (seed {seed:#x}): killed after {d:?}"),
            Kill::None => unreachable!(),
        };
        let path = dir.path().join(format!("run{run}.db"));
        create_database(&path, "wal");
        let reports = run_bulk(&path, kill);
        eprintln!("{what}: last report {:?}", reports.last());
        let db = open_path_with_extension(path.to_str().unwrap());
        let integrity: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(integrity, "ok", "{what}: integrity_check");
        let shown = snapshot(&db).items;
        assert!(
            shown.is_empty() || shown == expected.items,
            "{what}: the views show {} rows, a part of the checkpoint",
            shown.len()
        );
        resume(&db, &what);
        let after = snapshot(&db);
        assert_eq!(after.items, expected.items, "{what}: rows");
        assert_eq!(after.buckets, expected.buckets, "{what}: ps_buckets");
        assert_eq!(after.oplog, expected.oplog, "{what}: ps_oplog");
        assert_eq!(after.schema, expected.schema, "{what}: sqlite_master");
        drop(db);
        let _ = std::fs::remove_file(&path);
    }
}

fn run_bulk(path: &Path, kill: Kill) -> Vec<String> {
    run_role("bulk-writer", &[("PS_DB", path.display().to_string())], kill)
}

/// From a whole run's reports: the number of data lines, and the callback counts at the start of
/// the finishing (last) data line, at the start of `checkpoint_complete` and at the end.
fn bulk_callbacks(reports: &[String]) -> (usize, u64, u64, u64) {
    let (mut lines, mut finishing, mut complete, mut finished) = (0, None, None, None);
    for report in reports {
        let words: Vec<&str> = report.split(' ').collect();
        match words.as_slice() {
            ["line", _, "begin", n] => {
                lines += 1;
                finishing = n.parse().ok();
            }
            ["complete", "begin", n] => complete = n.parse().ok(),
            ["finished", n] => finished = n.parse().ok(),
            _ => {}
        }
    }
    match (finishing, complete, finished) {
        (Some(finishing), Some(complete), Some(finished)) => (lines, finishing, complete, finished),
        _ => panic!("the uninterrupted bulk run did not finish: {reports:?}"),
    }
}

/// What a finished sync leaves, compared between runs.
#[derive(Debug, PartialEq)]
struct Snapshot {
    items: Vec<(String, String)>,
    buckets: Vec<Vec<rusqlite::types::Value>>,
    oplog: Vec<Vec<rusqlite::types::Value>>,
    schema: Vec<Vec<rusqlite::types::Value>>,
}

fn rows(db: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = db.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn snapshot(db: &Connection) -> Snapshot {
    let mut stmt = db.prepare("SELECT id, data FROM ps_data__items ORDER BY id").unwrap();
    let items = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    Snapshot {
        items,
        buckets: rows(
            db,
            "SELECT name, last_applied_op, last_op, add_checksum, op_checksum, pending_delete, \
             count_at_last, count_since_last FROM ps_buckets ORDER BY name",
        ),
        oplog: rows(
            db,
            "SELECT b.name, o.op_id, o.row_type, o.row_id, o.key, o.data, o.hash \
             FROM ps_oplog o JOIN ps_buckets b ON b.id = o.bucket ORDER BY b.name, o.op_id",
        ),
        schema: rows(
            db,
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
        ),
    }
}

/// The next session after a restart: `start` (after which both oplog indexes must exist, with
/// the reference's SQL), checkpoint 1 again, the data lines after the positions the `start`
/// request reports (what the service would send), `checkpoint_complete`.
fn resume(db: &Connection, what: &str) {
    let started = control(db, "start", None).expect("start");
    for (name, sql) in OPLOG_INDEXES {
        let stored: Option<String> = db
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                [name],
                |r| r.get(0),
            )
            .ok();
        assert_eq!(stored.as_deref(), Some(sql), "{what}: index {name} after start");
    }
    line(db, &bulk_checkpoint(1)).expect("checkpoint");
    for l in bulk_data_lines(1, &request_positions(&started)) {
        line(db, &l).expect("data line");
    }
    let done = line(db, &bulk_complete(1)).expect("checkpoint_complete");
    assert!(applied(&done), "{what}: the resumed sync was not applied: {done:?}");
    control(db, "stop", None).expect("stop");
}
