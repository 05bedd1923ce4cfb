//! Op checksums: a deterministic 32-bit hash per op, and the wrapping sum that makes a bucket's
//! checksum (docs/protocol.md, "Checksums"). The extension only ever adds these numbers up, so any hash works as long
//! as the service computes the same value for the same op every time.

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// FNV-1a over the op's identity and payload. A separator byte (0x1f) between the fields keeps
/// `("ab","c")` and `("a","bc")` apart; `data = None` hashes differently from `Some("")`.
pub(crate) fn op_checksum(op_id: i64, op: &str, object_type: &str, object_id: &str, data: Option<&str>) -> u32 {
    let mut hash = FNV_OFFSET;
    for field in [op_id.to_string().as_str(), op, object_type, object_id] {
        hash = fnv1a(hash, field.as_bytes());
        hash = fnv1a(hash, &[0x1f]);
    }
    match data {
        Some(text) => fnv1a(fnv1a(hash, b"D"), text.as_bytes()),
        None => fnv1a(hash, b"N"),
    }
}

/// Bucket checksum from the SQL `sum()` of its op checksums (each 0..2^32-1): the low 32 bits.
pub(crate) fn wrap_sum(sum: i64) -> u32 {
    (sum & 0xffff_ffff) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0x811c9dc5);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xe40c292c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn every_field_changes_the_checksum() {
        let base = op_checksum(1, "PUT", "todos", "t1", Some("{}"));
        assert_eq!(base, op_checksum(1, "PUT", "todos", "t1", Some("{}")));
        assert_ne!(base, op_checksum(2, "PUT", "todos", "t1", Some("{}")));
        assert_ne!(base, op_checksum(1, "REMOVE", "todos", "t1", Some("{}")));
        assert_ne!(base, op_checksum(1, "PUT", "lists", "t1", Some("{}")));
        assert_ne!(base, op_checksum(1, "PUT", "todos", "t2", Some("{}")));
        assert_ne!(base, op_checksum(1, "PUT", "todos", "t1", Some("{\"a\":1}")));
        assert_ne!(base, op_checksum(1, "PUT", "todos", "t1", None));
        assert_ne!(
            op_checksum(1, "PUT", "ab", "c", None),
            op_checksum(1, "PUT", "a", "bc", None)
        );
    }

    #[test]
    fn wrap_sum_keeps_the_low_32_bits() {
        assert_eq!(wrap_sum(0), 0);
        assert_eq!(wrap_sum(268435457 + 3000000000), 3268435457);
        assert_eq!(wrap_sum(4294967295 + 2), 1);
        assert_eq!(wrap_sum(3 * 4294967295), 4294967293);
    }
}
