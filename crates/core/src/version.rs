//! The version we report and the oldest SQLite we run on.

use rusqlite::ffi;

use crate::error::{ErrorKind, PsError, PsResult};
use crate::function::{Call, Output};

/// The core API level we implement (SDKs accept 0.5.2 <= v < 0.6.0).
pub const CORE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// First 8 hex characters of the commit we were built from, `00000000` without git.
pub const BUILD_COMMIT: &str = env!("POWERSYNC_BUILD_COMMIT");

/// SQLite 3.38.0: the first release with built-in JSON functions and `->>` (decision D1, docs/decisions.md).
pub const MIN_SQLITE_VERSION_NUMBER: i32 = 3_038_000;

pub fn full_version() -> String {
    format!("{CORE_VERSION}/{BUILD_COMMIT}")
}

/// Refuses SQLite libraries older than our floor, with the reference's message template.
pub fn check_sqlite_version() -> PsResult<()> {
    // SAFETY: takes no arguments and only reads a constant of the linked SQLite.
    let number = unsafe { ffi::sqlite3_libversion_number() };
    if number >= MIN_SQLITE_VERSION_NUMBER {
        return Ok(());
    }
    // SAFETY: SQLite returns a pointer to a static NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(ffi::sqlite3_libversion()) }.to_string_lossy();
    Err(too_old(&text, number))
}

fn too_old(version_text: &str, version_number: i32) -> PsError {
    PsError::new(ErrorKind::SqliteTooOld(format!(
        "Version {CORE_VERSION} of the PowerSync SQLite extension requires SQLite version number {MIN_SQLITE_VERSION_NUMBER} or later, but was loaded against {version_text} ({version_number})"
    )))
}

pub fn rs_version(_call: &Call) -> PsResult<Output> {
    Ok(Output::Text(full_version()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_old_message_and_code() {
        let e = too_old("3.37.0", 3_037_000);
        assert_eq!(
            e.to_string(),
            "Version 0.5.4 of the PowerSync SQLite extension requires SQLite version number 3038000 or later, but was loaded against 3.37.0 (3037000)"
        );
        assert_eq!(e.code(), 4);
    }

    #[test]
    fn version_has_eight_hex_suffix() {
        let v = full_version();
        let (version, commit) = v.split_once('/').unwrap();
        assert_eq!(version, "0.5.4");
        assert_eq!(commit.len(), 8);
        assert!(commit.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
