//! The child processes of the reliability tests (tests/crash.rs, tests/concurrency.rs), one role
//! per first argument; configured by environment variables, reporting to the parent on stdout
//! (`@ps ...` lines, see `libpowersync_tests::reliability::report`).

use std::time::Duration;

use libpowersync_tests::open_path_with_extension;
use libpowersync_tests::reliability::{
    applied, bulk_checkpoint, bulk_complete, bulk_data_lines, bulk_live_rows, bulk_mode, bulk_view_checkpoint,
    checkpoint_lines, control, line, report, request_positions, sync_checkpoint, view_checkpoint, BULK_VIEW,
};
use rusqlite::Connection;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("the child needs ${name}"))
}

fn env_u64(name: &str) -> u64 {
    env(name).parse().unwrap_or_else(|_| panic!("${name} must be a number"))
}

fn open() -> Connection {
    let db = open_path_with_extension(&env("PS_DB"));
    db.busy_timeout(Duration::from_secs(20)).unwrap();
    db
}

fn main() {
    let role = std::env::args().nth(1).expect("usage: ps-test-child <role>");
    match role.as_str() {
        "crash-writer" => crash_writer(),
        "sync-writer" => sync_writer(),
        "view-reader" => view_reader(),
        "bulk-writer" => bulk_writer(),
        "bulk-sync-writer" => bulk_sync_writer(),
        "bulk-reader" => bulk_reader(),
        other => panic!("unknown role {other}"),
    }
}

/// Counts progress-handler callbacks (every 64 VM instructions); at callback `kill_at` (> 0)
/// reports `kill` and waits for the parent's SIGKILL.
fn kill_switch(db: &Connection, kill_at: u64) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let inner = counter.clone();
    db.progress_handler(
        64,
        Some(move || {
            let n = inner.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if kill_at > 0 && n == kill_at {
                report("kill");
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            false
        }),
    )
    .unwrap();
    counter
}

/// Syncs `$PS_ROUNDS` checkpoints (numbered from `$PS_RUN * 100 + 1`), each followed by local
/// writes through the views that the next round uploads before its checkpoint completes (the last
/// round's writes stay queued), reporting each commit before and after it. With
/// `$PS_KILL_AT` > 0 it stops inside SQLite at that progress-handler callback (every 64 VM
/// instructions), reports `kill` and waits for the parent's SIGKILL.
fn crash_writer() {
    let db = open();
    let run = env_u64("PS_RUN");
    let rounds = env_u64("PS_ROUNDS");
    let kill_at = env_u64("PS_KILL_AT");
    let mut calls = 0u64;
    let counter = kill_switch(&db, kill_at);
    for round in 0..rounds {
        let cp = run * 100 + round + 1;
        control(&db, "start", None).expect("start");
        let lines = checkpoint_lines(cp, 40);
        for l in &lines[..lines.len() - 1] {
            line(&db, l).expect("sync line");
        }
        // The upload of the previous round's writes: the queue goes to the service, which
        // acknowledges it with write checkpoint `cp` (the checkpoint line above carries it).
        report("upload begin");
        db.execute_batch("BEGIN IMMEDIATE").unwrap();
        db.execute("DELETE FROM ps_crud", []).unwrap();
        db.query_row(
            "SELECT powersync_control('target_checkpoint_request_id', ?)",
            [cp.to_string()],
            |_| Ok(()),
        )
        .unwrap();
        db.execute_batch("COMMIT").unwrap();
        report("upload done");
        report(&format!("cp {cp} begin"));
        let done = line(&db, lines.last().unwrap()).expect("checkpoint_complete");
        assert!(applied(&done), "checkpoint {cp} was not applied: {done:?}");
        report(&format!("cp {cp} done"));
        control(&db, "stop", None).expect("stop");
        for t in 0..2 {
            let seq = round * 2 + t;
            db.execute_batch("BEGIN").unwrap();
            for j in 0..3 {
                db.execute(
                    "INSERT INTO notes(id, body, seq) VALUES (?, ?, ?)",
                    rusqlite::params![format!("L{run}-{seq}-{j}"), format!("note {j}"), seq as i64],
                )
                .unwrap();
            }
            db.execute(
                "UPDATE notes SET body = body || ' (edited)' WHERE id = ?",
                [format!("L{run}-{seq}-0")],
            )
            .unwrap();
            report(&format!("tx {seq} begin"));
            db.execute_batch("COMMIT").unwrap();
            report(&format!("tx {seq} commit"));
        }
        calls = counter.load(std::sync::atomic::Ordering::Relaxed);
    }
    report(&format!("finished {calls}"));
}

/// Syncs `$PS_CHECKPOINTS` checkpoints from `$PS_FIRST_CP` on, pausing `$PS_PAUSE_MS` between them.
fn sync_writer() {
    let db = open();
    let first = env_u64("PS_FIRST_CP");
    let pause = Duration::from_millis(env_u64("PS_PAUSE_MS"));
    for cp in first..first + env_u64("PS_CHECKPOINTS") {
        sync_checkpoint(&db, cp);
        report(&format!("cp {cp} done"));
        std::thread::sleep(pause);
    }
    report("done");
}

/// Checks the views over and over until `$PS_STOP_FILE` exists: every snapshot must be one whole
/// checkpoint, and never an older one than seen before. Reports what it saw.
fn view_reader() {
    let db = open();
    let stop = std::path::PathBuf::from(env("PS_STOP_FILE"));
    report("ready");
    let mut last = None;
    let mut observations = 0u64;
    let mut seen = std::collections::BTreeSet::new();
    while !stop.exists() {
        match view_checkpoint(&db) {
            Ok(cp) => {
                if cp < last {
                    report(&format!("violation checkpoint {cp:?} after {last:?}"));
                    std::process::exit(1);
                }
                last = cp;
                seen.extend(cp);
            }
            Err(e) => {
                report(&format!("violation {e}"));
                std::process::exit(1);
            }
        }
        observations += 1;
    }
    report(&format!("seen {observations} {}", seen.len()));
}

/// The first sync of the bulk workload (checkpoint 1, `reliability::bulk_data_lines`), each line
/// its own transaction, killed at `$PS_KILL_AT` as `crash-writer` is. Reports, with the callbacks
/// counted so far, `line <i> begin <calls>` before each data line and `line <i> bulk|indexed`
/// after it (whether bulk mode is on), `complete begin <calls>` before `checkpoint_complete` and
/// `finished <calls>`.
fn bulk_writer() {
    let db = open();
    let counter = kill_switch(&db, env_u64("PS_KILL_AT"));
    let calls = || counter.load(std::sync::atomic::Ordering::Relaxed);
    let started = control(&db, "start", None).expect("start");
    line(&db, &bulk_checkpoint(1)).expect("checkpoint");
    for (i, l) in bulk_data_lines(1, &request_positions(&started)).iter().enumerate() {
        report(&format!("line {i} begin {}", calls()));
        line(&db, l).expect("data line");
        let state = if bulk_mode(&db).unwrap() { "bulk" } else { "indexed" };
        report(&format!("line {i} {state}"));
    }
    report(&format!("complete begin {}", calls()));
    let done = line(&db, &bulk_complete(1)).expect("checkpoint_complete");
    assert!(applied(&done), "not applied: {done:?}");
    report(&format!("finished {}", calls()));
}

/// Syncs checkpoints 1 and 2 of the bulk workload, each in its own iteration resumed from the
/// `start` request's positions, pausing `$PS_PAUSE_MS` after each line. Reports
/// `cp <k> done <lines in bulk mode>`, then `done`.
fn bulk_sync_writer() {
    let db = open();
    let pause = Duration::from_millis(env_u64("PS_PAUSE_MS"));
    for k in 1..=2 {
        let started = control(&db, "start", None).expect("start");
        line(&db, &bulk_checkpoint(k)).expect("checkpoint");
        let mut bulk = 0;
        for l in bulk_data_lines(k, &request_positions(&started)) {
            line(&db, &l).expect("data line");
            bulk += bulk_mode(&db).unwrap() as u64;
            std::thread::sleep(pause);
        }
        let done = line(&db, &bulk_complete(k)).expect("checkpoint_complete");
        assert!(applied(&done), "checkpoint {k} not applied: {done:?}");
        control(&db, "stop", None).expect("stop");
        report(&format!("cp {k} done {bulk}"));
        std::thread::sleep(pause * 10);
    }
    report("done");
}

/// Checks the bulk workload's views over and over until `$PS_STOP_FILE` exists: every snapshot
/// is no checkpoint or one whole checkpoint, never an older one than before, and no read fails
/// (the oplog indexes are dropped and built under it). Its statements are prepared once, before
/// the writer starts, so SQLite must re-prepare them across the schema changes. Each round also
/// reads `ps_oplog` by `(row_type, row_id)` (on `ps_oplog_row` when it exists) and looks whether
/// bulk mode is on. Reports `seen <reads> <checkpoints seen> <reads in bulk mode>`.
fn bulk_reader() {
    let db = open();
    let mut view = db.prepare(BULK_VIEW).unwrap();
    let mut oplog = db
        .prepare("SELECT count(*) FROM ps_oplog WHERE row_type = 'items' AND row_id = ?")
        .unwrap();
    let stop = std::path::PathBuf::from(env("PS_STOP_FILE"));
    let live = bulk_live_rows();
    let probe = live.iter().next().unwrap().clone();
    report("ready");
    let (mut last, mut observations, mut in_bulk) = (None, 0u64, 0u64);
    let mut seen = std::collections::BTreeSet::new();
    let fail = |what: String| -> ! {
        report(&format!("violation {what}"));
        std::process::exit(1);
    };
    while !stop.exists() {
        match bulk_view_checkpoint(&mut view, &live) {
            Ok(cp) if cp < last => fail(format!("checkpoint {cp:?} after {last:?}")),
            Ok(cp) => {
                last = cp;
                seen.extend(cp);
            }
            Err(e) => fail(e),
        }
        if let Err(e) = oplog.query_row([&probe], |r| r.get::<_, i64>(0)) {
            fail(format!("reading ps_oplog: {e}"));
        }
        match bulk_mode(&db) {
            Ok(on) => in_bulk += on as u64,
            Err(e) => fail(format!("reading sqlite_master: {e}")),
        }
        observations += 1;
    }
    report(&format!("seen {observations} {} {in_bulk}", seen.len()));
}
