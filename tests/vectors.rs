//! Runs every conformance vector in test-vectors/ against the built cdylib.

use libpowersync_tests::open_with_extension;
use libpowersync_tests::vectors::{find_vectors, run_vector, vectors_dir, VectorRun};

#[test]
fn conformance_vectors() {
    let version: String = open_with_extension()
        .query_row("select sqlite_version()", [], |r| r.get(0))
        .unwrap();
    println!("running on SQLite {version}");
    // The old-SQLite run says which version it built; make sure that is the one linked.
    if let Ok(expected) = std::env::var("POWERSYNC_EXPECT_SQLITE") {
        assert!(
            version.starts_with(&expected),
            "expected SQLite {expected}, linked {version}"
        );
    }
    let files = find_vectors(&vectors_dir());
    assert!(files.len() >= 40, "expected at least 40 vectors, found {}", files.len());
    let mut failures = Vec::new();
    let mut other_version = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(vectors_dir()).unwrap().display().to_string();
        match run_vector(file, &open_with_extension) {
            Ok(VectorRun::Passed) => println!("pass {rel}"),
            Ok(VectorRun::NotForThisSqlite(why)) => {
                println!("not run on SQLite {version} ({why}): {rel}");
                other_version.push(rel);
            }
            Err(e) => {
                println!("FAIL {rel}: {e}");
                failures.push(format!("{rel}: {e}"));
            }
        }
    }
    // Version-specific vectors run in the other configuration (bundled SQLite or the 3.38 run).
    assert!(
        other_version.len() <= 5,
        "too many vectors not run on this SQLite: {other_version:?}"
    );
    let run = files.len() - other_version.len();
    println!(
        "{} vectors passed, {} failed ({} for other SQLite versions)",
        run - failures.len(),
        failures.len(),
        other_version.len()
    );
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
