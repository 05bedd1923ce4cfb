//! The child processes of the reliability tests (tests/crash.rs, tests/concurrency.rs), one role
//! per first argument; configured by environment variables, reporting to the parent on stdout
//! (`@ps ...` lines, see `libpowersync_tests::reliability::report`).

use std::time::Duration;

use libpowersync_tests::open_path_with_extension;
use libpowersync_tests::reliability::{
    applied, checkpoint_lines, control, line, report, sync_checkpoint, view_checkpoint,
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
        other => panic!("unknown role {other}"),
    }
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
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let counter = counter.clone();
        db.progress_handler(
            64,
            Some(move || {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
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
    }
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
