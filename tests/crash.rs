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
    create_database, env_number, long_run, sync_checkpoint, view_checkpoint, ChildProcess, Rng, TempDir,
};
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

/// Runs the child once; returns its reports.
fn run_child(path: &Path, run: u64, kill: Kill) -> Vec<String> {
    let kill_at = match kill {
        Kill::AtCallback(n) => n,
        _ => 0,
    };
    let mut child = ChildProcess::spawn(
        CHILD,
        "crash-writer",
        &[
            ("PS_DB", path.display().to_string()),
            ("PS_RUN", run.to_string()),
            ("PS_ROUNDS", ROUNDS.to_string()),
            ("PS_KILL_AT", kill_at.to_string()),
        ],
    );
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
                    child.wait_success("the crash-writer child");
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
