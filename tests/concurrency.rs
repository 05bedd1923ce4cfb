//! Concurrency with WAL: one writer process syncs checkpoints that each rewrite every row (each row
//! carries its checkpoint number) while reader processes check the views over and over; no reader
//! may ever see part of a checkpoint. And SQLITE_BUSY from `powersync_control` is reported to the
//! caller, never swallowed, and the iteration carries on after a retry.
//!
//! `PS_RELIABILITY_LONG=1` (`make check`) syncs more checkpoints with more readers.

use std::time::Duration;

use libpowersync_tests::open_path_with_extension;
use libpowersync_tests::reliability::{
    applied, bulk_data_lines, bulk_live_rows, bulk_view_checkpoint, checkpoint_lines, control, create_database,
    env_number, line, long_run, view_checkpoint, ChildProcess, TempDir, BULK_VIEW,
};
use rusqlite::{Connection, ErrorCode};

const CHILD: &str = env!("CARGO_BIN_EXE_ps-test-child");

#[test]
fn readers_never_see_a_partial_checkpoint() {
    up_to_three_runs(readers_against_one_writer);
}

/// A reader that was not scheduled while the checkpoints went by saw too few states to have
/// tested anything: that run (`Err`) is inconclusive (not a pass) and is repeated, up to three
/// times. A violation fails at once (the run panics).
fn up_to_three_runs(run: fn() -> Result<(), String>) {
    for attempt in 1..=3 {
        match run() {
            Ok(()) => return,
            Err(too_few) if attempt < 3 => eprintln!("attempt {attempt} inconclusive: {too_few}"),
            Err(too_few) => panic!("{too_few} in three attempts"),
        }
    }
}

/// One run: `Err` when a reader saw fewer than two checkpoints; a violation panics.
fn readers_against_one_writer() -> Result<(), String> {
    let (checkpoints, readers) = if long_run() { (150, 3) } else { (12, 2) };
    let checkpoints = env_number("PS_CONCURRENCY_CHECKPOINTS", checkpoints);
    let dir = TempDir::new("concurrency");
    let path = dir.path().join("app.db");
    create_database(&path, "wal");
    let stop = dir.path().join("stop");
    let db_env = ("PS_DB", path.display().to_string());

    let readers = spawn_readers("view-reader", readers, &path, &stop);
    let writer = ChildProcess::spawn(
        CHILD,
        "sync-writer",
        &[
            db_env,
            ("PS_FIRST_CP", "1".into()),
            ("PS_CHECKPOINTS", checkpoints.to_string()),
            // The pause gives the readers a window on each checkpoint.
            ("PS_PAUSE_MS", "15".into()),
        ],
    );
    let mut published = 0;
    while let Some(report) = writer.next_report(None) {
        if report == "done" {
            break;
        }
        assert!(report.starts_with("cp "), "writer: {report}");
        published += 1;
    }
    writer.wait_success("the writer");
    assert_eq!(published, checkpoints);
    std::fs::write(&stop, "").unwrap();

    let mut too_few = None;
    for (i, reader) in readers.into_iter().enumerate() {
        let words = reader_result(i, reader);
        // A reader that saw only one state would not have tested anything.
        if words[1] < 2 {
            too_few = Some(format!(
                "reader {i} saw only {} checkpoints in {} reads",
                words[1], words[0]
            ));
        }
    }
    let db = open_path_with_extension(path.to_str().unwrap());
    assert_eq!(view_checkpoint(&db), Ok(Some(checkpoints)));
    too_few.map_or(Ok(()), Err)
}

/// The same invariant on the bulk path (`sync::bulk`): a writer process syncs the bulk workload
/// (tests/support/reliability.rs), a first download of 24,000 ops and then a second checkpoint of
/// 24,000 more that rewrites every row, both in bulk mode (the indexes dropped, then built again
/// by the line that completes the download), while reader processes check the views: no
/// checkpoint or exactly one whole checkpoint in every snapshot, never going back, and no read
/// fails while the indexes are dropped and created under them.
#[test]
fn readers_never_see_a_partial_bulk_checkpoint() {
    up_to_three_runs(readers_against_a_bulk_writer);
}

fn readers_against_a_bulk_writer() -> Result<(), String> {
    let readers = if long_run() { 3 } else { 2 };
    let dir = TempDir::new("bulk-concurrency");
    let path = dir.path().join("app.db");
    create_database(&path, "wal");
    let stop = dir.path().join("stop");
    let db_env = ("PS_DB", path.display().to_string());
    let readers = spawn_readers("bulk-reader", readers, &path, &stop);
    let writer = ChildProcess::spawn(CHILD, "bulk-sync-writer", &[db_env, ("PS_PAUSE_MS", "10".into())]);
    let mut published = Vec::new();
    while let Some(report) = writer.next_report(None) {
        if report == "done" {
            break;
        }
        published.push(report);
    }
    writer.wait_success("the writer");
    // Each download went through bulk mode: every line but the one completing it left the
    // indexes dropped.
    let lines = bulk_data_lines(1, &Default::default()).len();
    assert_eq!(
        published,
        [format!("cp 1 done {}", lines - 1), format!("cp 2 done {}", lines - 1)],
        "the writer's checkpoints and its lines in bulk mode"
    );
    std::fs::write(&stop, "").unwrap();

    let mut problem = None;
    let mut in_bulk = 0;
    for (i, reader) in readers.into_iter().enumerate() {
        let words = reader_result(i, reader);
        in_bulk += words[2];
        if words[1] < 2 {
            problem = Some(format!(
                "reader {i} saw only {} checkpoints in {} reads",
                words[1], words[0]
            ));
        }
    }
    if in_bulk == 0 {
        problem = Some("no reader read while bulk mode was on".into());
    }
    let db = open_path_with_extension(path.to_str().unwrap());
    let mut view = db.prepare(BULK_VIEW).unwrap();
    assert_eq!(bulk_view_checkpoint(&mut view, &bulk_live_rows()), Ok(Some(2)));
    problem.map_or(Ok(()), Err)
}

/// Starts `n` reader processes of `role` on `path`, each until `stop` exists, once they are ready.
fn spawn_readers(role: &str, n: u64, path: &std::path::Path, stop: &std::path::Path) -> Vec<ChildProcess> {
    let envs = [
        ("PS_DB", path.display().to_string()),
        ("PS_STOP_FILE", stop.display().to_string()),
    ];
    let readers: Vec<ChildProcess> = (0..n).map(|_| ChildProcess::spawn(CHILD, role, &envs)).collect();
    for reader in &readers {
        assert_eq!(
            reader.next_report(None).as_deref(),
            Some("ready"),
            "a reader did not start"
        );
    }
    readers
}

/// The numbers of reader `i`'s final `seen ...` report, once it exited; a violation fails.
fn reader_result(i: usize, reader: ChildProcess) -> Vec<u64> {
    let reports = reader.drain();
    let last = reports.last().cloned().unwrap_or_default();
    assert!(!last.starts_with("violation"), "reader {i} saw {last}");
    let words = last
        .strip_prefix("seen ")
        .unwrap_or_else(|| panic!("reader {i} reported {reports:?}"))
        .split(' ')
        .map(|w| w.parse().unwrap())
        .collect();
    reader.wait_success("a reader");
    words
}

#[test]
fn busy_is_reported_and_the_iteration_survives_a_retry() {
    let dir = TempDir::new("busy");
    let path = dir.path().join("app.db");
    create_database(&path, "wal");
    let syncing = open_path_with_extension(path.to_str().unwrap());
    syncing.busy_timeout(Duration::ZERO).unwrap();
    let other = Connection::open(&path).unwrap();

    control(&syncing, "start", None).unwrap();
    let lines = checkpoint_lines(7, 1000);
    assert_eq!(lines.len(), 3, "checkpoint, one data line, checkpoint_complete");
    line(&syncing, &lines[0]).unwrap();

    // Another connection holds the write lock: the data line, in the caller's deferred
    // transaction, fails with SQLITE_BUSY when it comes to write.
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    syncing.execute_batch("BEGIN").unwrap();
    let in_transaction = syncing.query_row(
        "SELECT powersync_control('line_text', ?)",
        [lines[1].to_string()],
        |_| Ok(()),
    );
    assert_eq!(
        assert_busy(in_transaction),
        "powersync_control: statement INSERT INTO ps_buckets(name) VALUES(?) ON CONFLICT DO NOTHING: internal SQLite call returned BUSY: database is locked"
    );
    syncing.execute_batch("ROLLBACK").unwrap();
    // As an SDK does: BEGIN IMMEDIATE itself reports the lock.
    assert_eq!(
        assert_busy(control(&syncing, "line_text", Some(&lines[1].to_string())).map(|_| ())),
        "database is locked"
    );
    other.execute_batch("COMMIT").unwrap();

    let stored: i64 = syncing
        .query_row("SELECT count(*) FROM ps_oplog", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0, "nothing of the failed line stayed");
    line(&syncing, &lines[1]).expect("the retry");
    let done = line(&syncing, &lines[2]).unwrap();
    assert!(applied(&done), "{done:?}");
    assert_eq!(view_checkpoint(&syncing), Ok(Some(7)));
}

/// The message of an SQLITE_BUSY error.
fn assert_busy(result: rusqlite::Result<()>) -> String {
    match result {
        Err(rusqlite::Error::SqliteFailure(e, message)) => {
            assert_eq!(e.code, ErrorCode::DatabaseBusy, "{e:?} {message:?}");
            message.unwrap_or_default()
        }
        other => panic!("expected SQLITE_BUSY, got {other:?}"),
    }
}
