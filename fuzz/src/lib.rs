//! Fuzz harnesses for the extension, one module per cargo-fuzz target (`fuzz_targets/`).
//!
//! Each `run(data)` feeds one input to an in-process connection (the extension registered with
//! `powersync_core::register_connection`) and panics when an invariant breaks (docs/reliability.md,
//! "Fuzzing"). SQL errors are expected results, never findings.
//!
//! The same source is included by path into `crates/core/tests/fuzz_regressions.rs`, which
//! replays `fuzz/regressions/` and the seed corpora in `make test`: modules refer to each other
//! with `super::` only, so they compile under either root.

pub mod common;
pub mod crud_insert;
pub mod json_diff;
pub mod line_binary;
pub mod line_text;
pub mod replace_schema;
pub mod session;
pub mod start_payload;
pub mod values;

/// A harness: runs one input, panics on a finding.
pub type Harness = fn(&[u8]);

/// Every target by directory name (`fuzz/corpus/<name>`, `fuzz/regressions/<name>`).
pub const TARGETS: &[(&str, Harness)] = &[
    ("line_text", line_text::run),
    ("line_binary", line_binary::run),
    ("replace_schema", replace_schema::run),
    ("start_payload", start_payload::run),
    ("crud_insert", crud_insert::run),
    ("session", session::run),
    ("json_diff", json_diff::run),
];
