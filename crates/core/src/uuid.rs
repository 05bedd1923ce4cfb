//! Random version-4 UUIDs from SQLite's CSPRNG (`sqlite3_randomness`, seeded by the VFS from the
//! operating system), which works the same in the loadable and the static build.

use rusqlite::ffi;

use crate::error::PsResult;
use crate::function::{Call, Output};

/// Formats 16 random bytes as a version-4, RFC 4122 variant UUID.
pub fn format_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

pub fn random_v4() -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: writes exactly 16 bytes into the 16-byte buffer.
    unsafe { ffi::sqlite3_randomness(16, bytes.as_mut_ptr().cast()) };
    format_v4(bytes)
}

pub fn uuid(_call: &Call) -> PsResult<Output> {
    Ok(Output::Text(random_v4()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_version_and_variant_bits() {
        assert_eq!(format_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(format_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    }
}
