//! Runs every conformance vector in test-vectors/ against the built cdylib.

use libpowersync_tests::vectors::{find_vectors, run_vector, vectors_dir};
use libpowersync_tests::open_with_extension;

#[test]
fn conformance_vectors() {
    let files = find_vectors(&vectors_dir());
    assert!(files.len() >= 40, "expected at least 40 vectors, found {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(vectors_dir()).unwrap().display().to_string();
        match run_vector(file, &open_with_extension) {
            Ok(()) => println!("pass {rel}"),
            Err(e) => {
                println!("FAIL {rel}: {e}");
                failures.push(format!("{rel}: {e}"));
            }
        }
    }
    println!("{} vectors passed, {} failed", files.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{} vector(s) failed:\n{}", failures.len(), failures.join("\n"));
}
