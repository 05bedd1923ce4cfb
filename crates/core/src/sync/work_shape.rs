//! Guards the *shape* of the per-line work, not its speed: the SQL statements a data line runs
//! and the rows they visit (SQLite VM steps), and the bucket entries the iteration touches, must
//! not grow with the number of buckets in the checkpoint.

use std::ffi::{c_int, c_uint, c_void};

use rusqlite::{ffi, Connection};

use crate::state::DatabaseState;
use crate::sync::iteration::{Iteration, StartOptions};
use crate::sync::line::parse_text;

#[derive(Default, Debug, Clone, Copy, PartialEq)]
struct Work {
    statements: u64,
    vm_steps: u64,
}

unsafe extern "C" fn on_profile(mask: c_uint, ctx: *mut c_void, stmt: *mut c_void, _: *mut c_void) -> c_int {
    if mask == ffi::SQLITE_TRACE_PROFILE as c_uint {
        // SAFETY: `ctx` is the `Work` registered below, alive while tracing is on.
        let work = unsafe { &mut *(ctx as *mut Work) };
        work.statements += 1;
        // SAFETY: `stmt` is the statement that just finished.
        work.vm_steps += unsafe { ffi::sqlite3_stmt_status(stmt.cast(), ffi::SQLITE_STMTSTATUS_VM_STEP, 1) } as u64;
    }
    0
}

/// Average SQL work and bucket visits per one-op data line, with `buckets` buckets in the
/// checkpoint and data lines for `lines` of them.
fn per_line_work(buckets: usize, lines: usize) -> (Work, u64) {
    let db = crate::testing::open();
    db.execute_batch(
        r#"BEGIN; SELECT powersync_init();
           SELECT powersync_replace_schema('{"tables":[{"name":"items","columns":[{"name":"v","type":"text"}]}]}');
           COMMIT;"#,
    )
    .unwrap();
    // Every bucket already stored, as on a database that synced before: a per-line scan of
    // `ps_buckets` would show in the VM steps.
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
         INSERT INTO ps_buckets(name) SELECT printf('b%05d', i) FROM n",
        [buckets as i64],
    )
    .unwrap();
    let state = DatabaseState::default();
    let (mut iteration, _) = Iteration::start(&db, StartOptions::default()).unwrap();
    let bucket_json: Vec<String> = (0..buckets)
        .map(|b| format!(r#"{{"bucket":"b{b:05}","checksum":0,"count":1,"priority":3}}"#))
        .collect();
    let checkpoint = format!(
        r#"{{"checkpoint":{{"last_op_id":"{buckets}","buckets":[{}]}}}}"#,
        bucket_json.join(",")
    );
    iteration
        .line(&db, &state, parse_text(&checkpoint).unwrap(), checkpoint.len())
        .unwrap();

    let data_line = |b: usize| {
        format!(
            r#"{{"data":{{"bucket":"b{b:05}","data":[{{"op_id":"{}","op":"PUT","object_type":"items","object_id":"i{b}","checksum":0,"data":"{{\"v\":\"x\"}}"}}]}}}}"#,
            b + 1
        )
    };
    // Warm the statement caches, so every measured line runs the same statements.
    let warm = 3;
    for b in 0..warm {
        let line = data_line(b);
        iteration
            .line(&db, &state, parse_text(&line).unwrap(), line.len())
            .unwrap();
    }
    let visits_before = iteration.progress_visits();
    let mut work = Work::default();
    trace(&db, Some(&mut work));
    // Spread over the whole bucket list, so a search from the front would show.
    for i in 0..lines {
        let b = warm + i * (buckets - warm) / lines;
        let line = data_line(b);
        iteration
            .line(&db, &state, parse_text(&line).unwrap(), line.len())
            .unwrap();
    }
    trace(&db, None);
    let visits = iteration.progress_visits() - visits_before;
    let n = lines as u64;
    (
        Work {
            statements: work.statements / n,
            vm_steps: work.vm_steps / n,
        },
        visits / n,
    )
}

fn trace(db: &Connection, work: Option<&mut Work>) {
    // SAFETY: the handle is open; the context outlives tracing, which is switched off (mask 0)
    // before `work` goes out of scope.
    unsafe {
        match work {
            Some(w) => ffi::sqlite3_trace_v2(
                db.handle(),
                ffi::SQLITE_TRACE_PROFILE as c_uint,
                Some(on_profile),
                (w as *mut Work).cast(),
            ),
            None => ffi::sqlite3_trace_v2(db.handle(), 0, None, std::ptr::null_mut()),
        };
    }
}

#[test]
fn data_line_work_is_flat_in_the_bucket_count() {
    let (small, small_visits) = per_line_work(10, 5);
    let (large, large_visits) = per_line_work(5_000, 5);
    assert!(
        small.statements > 0 && small.vm_steps > 0,
        "tracing saw no work: {small:?}"
    );
    assert_eq!(
        large.statements, small.statements,
        "statements per data line: {small:?} vs {large:?}"
    );
    // B-tree lookups cost the same number of VM steps at any table size; allow a little slack
    // for statements whose plans differ on tiny tables.
    assert!(
        large.vm_steps <= small.vm_steps + small.vm_steps / 10,
        "VM steps per data line grow with the bucket count: {small:?} vs {large:?}"
    );
    assert!(
        large_visits <= small_visits.max(1),
        "bucket entries visited per data line grow with the bucket count: {small_visits} vs {large_visits}"
    );
}
