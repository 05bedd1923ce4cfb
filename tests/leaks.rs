//! Leaks: 1,000 connections, each loading the extension, creating a schema, installing the update
//! hooks, running a short sync and a write through a view, then closing. After a warm-up, SQLite's
//! `sqlite3_memory_used()` and the process's resident memory must stay flat.
//!
//! `PS_LEAK_CONNECTIONS` lowers the count (tests/valgrind.sh does, valgrind being slow).

use libpowersync_tests::open_with_extension;
use libpowersync_tests::reliability::{env_number, sync_checkpoint, SCHEMA};

/// Resident set size in bytes, from /proc/self/statm (second field, in pages).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn sqlite_memory_used() -> i64 {
    // SAFETY: a plain query of SQLite's global allocation counter.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

/// Returns `sqlite3_memory_used()` with the connection still open, after its work.
fn one_connection(i: u64) -> i64 {
    let db = open_with_extension();
    db.execute_batch("BEGIN").unwrap();
    db.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |_| Ok(()))
        .unwrap();
    db.execute_batch("COMMIT").unwrap();
    db.query_row("SELECT powersync_update_hooks('install')", [], |_| Ok(()))
        .unwrap();
    sync_checkpoint(&db, 1);
    db.execute("INSERT INTO notes(id, body, seq) VALUES (uuid(), 'x', ?)", [i as i64])
        .unwrap();
    let queued: i64 = db.query_row("SELECT count(*) FROM ps_crud", [], |r| r.get(0)).unwrap();
    assert_eq!(queued, 1);
    let in_use = sqlite_memory_used();
    db.close().expect("close");
    in_use
}

/// The bundled SQLite is built without memory statistics (SQLITE_DEFAULT_MEMSTATUS=0); switch
/// them on before the first connection (this binary holds this one test only).
fn enable_memory_statistics() {
    // SAFETY: no connection is open yet and no other thread uses SQLite; `sqlite3_config` is only
    // valid while SQLite is shut down, hence the shutdown first.
    unsafe {
        rusqlite::ffi::sqlite3_shutdown();
        assert_eq!(
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 1),
            rusqlite::ffi::SQLITE_OK
        );
        assert_eq!(rusqlite::ffi::sqlite3_initialize(), rusqlite::ffi::SQLITE_OK);
    }
}

#[test]
fn connections_do_not_leak() {
    enable_memory_statistics();
    let total = env_number("PS_LEAK_CONNECTIONS", 1000);
    let warm_up = (total / 5).max(1);
    let mut open_before = 0;
    for i in 0..warm_up {
        open_before = one_connection(i);
    }
    assert!(open_before > 0, "memory statistics are off");
    let (memory_before, rss_before) = (sqlite_memory_used(), rss_bytes());
    let mut open_after = 0;
    for i in warm_up..total {
        open_after = one_connection(i);
    }
    let (memory_after, rss_after) = (sqlite_memory_used(), rss_bytes());
    let measured = total - warm_up;
    eprintln!(
        "{measured} connections: sqlite3_memory_used {memory_before} -> {memory_after} (with one open: \
         {open_before} -> {open_after}), RSS {rss_before} -> {rss_after}"
    );
    assert!(
        open_after - open_before <= 1024,
        "sqlite3_memory_used of an open connection grew by {} bytes over {measured} connections",
        open_after - open_before
    );
    // Every connection is closed, so SQLite's allocations are back where they were (a few
    // hundred bytes of slack for lookaside and the page-cache bookkeeping).
    assert!(
        memory_after - memory_before <= 1024,
        "sqlite3_memory_used grew by {} bytes over {measured} connections",
        memory_after - memory_before
    );
    if std::env::var_os("PS_UNDER_VALGRIND").is_some() {
        // Valgrind's own bookkeeping grows the process; its leak check covers this run instead.
        eprintln!("RSS not compared under valgrind");
        return;
    }
    // Allocator noise stays well under this; a leak of 1 KiB per connection does not.
    let grown = rss_after.saturating_sub(rss_before);
    assert!(
        grown <= 512 * 1024 + measured * 256,
        "RSS grew by {grown} bytes over {measured} connections"
    );
}
