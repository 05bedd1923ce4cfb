//! Replays every input kept under `fuzz/regressions/<target>/` (crashes, hangs and panics the
//! fuzzers found, each fixed) and the committed seed corpora `fuzz/corpus/<target>/` through the
//! fuzz harnesses themselves (included from `fuzz/src/`), so `make test` re-checks every finding
//! and the harness invariants without libFuzzer. See docs/reliability.md, "Fuzzing".

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Files of `dir/<target>/`, sorted, for every target (a missing directory has none).
fn inputs(dir: &str) -> Vec<(&'static str, harness::Harness, PathBuf)> {
    let mut out = Vec::new();
    for &(target, run) in harness::TARGETS {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        files.sort();
        out.extend(files.into_iter().map(|p| (target, run, p)));
    }
    out
}

fn replay(dir: &str) -> usize {
    let inputs = inputs(dir);
    for (target, run, path) in &inputs {
        let data = std::fs::read(path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails (see the panic above)",
            path.display()
        );
    }
    inputs.len()
}

#[test]
fn fuzz_regressions_stay_fixed() {
    replay("regressions");
}

#[test]
fn fuzz_seed_corpora_hold_the_invariants() {
    let n = replay("corpus");
    assert!(n >= harness::TARGETS.len(), "the seed corpora are missing ({n} files)");
}
