//! Page writes of a sync, ours against the reference (issue 22): the workload and the counting
//! VFS are the core crate's unit-test ones (`crates/core/src/sync/io_workload.rs`,
//! `test_vfs.rs`), here run on the built extension. Ours must write no temporary file in any
//! phase. With `PS_REFERENCE_EXTENSION` set (the reference's `.so`, see tools/reference), the
//! same workload runs on it too and the table of both is printed; `checkpoint_complete` of ours
//! must then write no more data pages than the reference's (1 % slack for where page splits fall).
//! `PS_IO_SHAPE_ROWS` sets the first sync's size (default 20,000).

#[path = "../crates/core/src/sync/io_workload.rs"]
mod io_workload;
#[path = "../crates/core/src/sync/test_vfs.rs"]
#[allow(dead_code)]
mod test_vfs;

use std::path::Path;

use rusqlite::Connection;

fn load(path: &Path) -> impl Fn(&Connection) + '_ {
    move |db: &Connection| unsafe {
        let _guard = rusqlite::LoadExtensionGuard::new(db).expect("enable extension loading");
        db.load_extension(path, Some("sqlite3_powersync_init"))
            .expect("load extension");
    }
}

#[test]
fn sync_writes_no_temporary_files_and_no_more_pages_than_the_reference() {
    let rows = std::env::var("PS_IO_SHAPE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let ours_path = libpowersync_tests::extension_path();
    let ours = io_workload::run("ours", &load(&ours_path), rows);
    let reference = std::env::var_os("PS_REFERENCE_EXTENSION")
        .map(|path| io_workload::run("reference", &load(Path::new(&path)), rows));
    println!("page writes, {rows} rows: phase | ours temp, data | reference temp, data");
    for (i, (phase, writes)) in ours.iter().enumerate() {
        match &reference {
            Some(reference) => {
                let r = reference[i].1;
                println!("{phase} | {}, {} | {}, {}", writes.temp, writes.data, r.temp, r.data);
            }
            None => println!("{phase} | {}, {}", writes.temp, writes.data),
        }
    }
    for (phase, writes) in &ours {
        assert_eq!(writes.temp, 0, "{phase}: {writes:?}");
    }
    if let Some(reference) = reference {
        for ((phase, writes), (_, r)) in ours.iter().zip(&reference) {
            if phase.contains("complete") {
                assert!(
                    writes.data * 100 <= r.data * 101,
                    "{phase}: ours {writes:?}, reference {r:?}"
                );
            }
        }
    }
}
