//! Sync lines sent by the service (docs/protocol.md, "Sync lines") and their value typing rules.
//!
//! Decoded with serde from JSON text (serde_json) and from BSON (our decoder in `sync/bson.rs`), so
//! both framings share one set of types and serde's error texts.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, EnumAccess, IgnoredAny, Unexpected, VariantAccess, Visitor};
use serde::Deserialize;

use crate::error::{PsError, PsResult};

/// A decimal i64 that travels as a string (JavaScript clients would lose precision otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub i64);

impl<'de> Deserialize<'de> for OpId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = OpId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OpId, E> {
                v.parse::<i64>()
                    .map(OpId)
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &"a decimal 64-bit integer"))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A 32-bit checksum: any integer or whole float in `[-2^31, 2^32-1]`, kept as its 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checksum(pub u32);

impl Checksum {
    pub fn wrapping_add(self, other: Checksum) -> Checksum {
        Checksum(self.0.wrapping_add(other.0))
    }

    pub fn wrapping_sub(self, other: Checksum) -> Checksum {
        Checksum(self.0.wrapping_sub(other.0))
    }

    /// The signed form stored in `ps_oplog.hash`.
    pub fn as_signed(self) -> i32 {
        self.0 as i32
    }

    /// Reads a stored integer (signed or unsigned) as its low 32 bits.
    pub fn from_stored(value: i64) -> Checksum {
        Checksum(value as u32)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Checksum;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number to interpret as a checksum")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Checksum, E> {
                if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&v) {
                    Ok(Checksum(v as u32))
                } else {
                    Err(E::invalid_value(Unexpected::Signed(v), &"a 32-bit int"))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Checksum, E> {
                match u32::try_from(v) {
                    Ok(v) => Ok(Checksum(v)),
                    Err(_) => Err(E::invalid_value(Unexpected::Unsigned(v), &"a 32-bit int")),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Checksum, E> {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(E::invalid_value(Unexpected::Float(v), &"a whole number"));
                }
                if v < f64::from(i32::MIN) || v > f64::from(u32::MAX) {
                    return Err(E::invalid_value(Unexpected::Float(v), &"a 32-bit int"));
                }
                self.visit_i64(v as i64)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A bucket priority, `0 <= p < 2147483647`; lower numbers sync first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub i32);

impl Priority {
    pub const DEFAULT: Priority = Priority(3);
    /// The code of a complete (all priorities) sync in `ps_sync_state`.
    pub const FULL_SYNC: Priority = Priority(i32::MAX);

    pub fn new(value: i64) -> PsResult<Priority> {
        if (0..i64::from(i32::MAX)).contains(&value) {
            Ok(Priority(value as i32))
        } else {
            Err(PsError::invalid_argument("Invalid bucket priority value"))
        }
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::DEFAULT
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = i32::deserialize(deserializer)?;
        Priority::new(i64::from(value)).map_err(de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Checkpoint {
    pub last_op_id: OpId,
    #[serde(default)]
    pub write_checkpoint: Option<OpId>,
    pub buckets: Vec<BucketChecksum>,
    #[serde(default)]
    pub streams: Vec<StreamDescription>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckpointDiff {
    pub last_op_id: OpId,
    pub updated_buckets: Vec<BucketChecksum>,
    pub removed_buckets: Vec<String>,
    #[serde(default)]
    pub write_checkpoint: Option<OpId>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BucketChecksum {
    pub bucket: String,
    pub checksum: Checksum,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub count: Option<i64>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionReason>,
}

impl BucketChecksum {
    pub fn priority(&self) -> Priority {
        self.priority.unwrap_or_default()
    }
}

/// Why a bucket is synced: `{"default": i}` (i-th stream of the checkpoint) or `{"sub": i}`
/// (i-th subscription of the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionReason {
    Default(u32),
    Sub(u32),
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamDescription {
    pub name: String,
    pub is_default: bool,
    pub errors: Vec<StreamError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamError {
    pub subscription: StreamErrorSubscription,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StreamErrorSubscription {
    Index(u32),
    /// Any string (the text itself does not matter) names the default subscription.
    Default(#[allow(dead_code)] String),
}

/// Its strings borrow from the line where the decoder can hand them out unescaped (BSON always,
/// JSON text when a string has no escapes): data lines are the bulk of all synced bytes.
#[derive(Debug, Clone, Deserialize)]
pub struct DataLine<'a> {
    #[serde(borrow)]
    pub bucket: Cow<'a, str>,
    #[serde(borrow)]
    pub data: Vec<OplogEntry<'a>>,
}

// The variant names are the wire format.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OpType {
    PUT,
    REMOVE,
    MOVE,
    CLEAR,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OplogEntry<'a> {
    pub op_id: OpId,
    pub op: OpType,
    pub checksum: Checksum,
    #[serde(default, borrow, deserialize_with = "optional_text")]
    pub object_type: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "optional_text")]
    pub object_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "optional_text")]
    pub subkey: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "optional_text")]
    pub data: Option<Cow<'a, str>>,
}

/// An optional string, borrowed when the decoder offers borrowed text (serde borrows a `Cow`
/// only when it is not inside an `Option`). Errors read as for `Option<String>`.
fn optional_text<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct Text;
    impl<'de> Visitor<'de> for Text {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("option")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(Text).map(Some)
        }
    }
    deserializer.deserialize_option(Optional)
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckpointComplete {}

#[derive(Debug, Clone, Deserialize)]
pub struct PartialCheckpointComplete {
    pub priority: Priority,
}

/// One line: a single-key object naming its type.
#[derive(Debug, Clone)]
pub enum SyncLine<'a> {
    Checkpoint(Checkpoint),
    CheckpointDiff(CheckpointDiff),
    Data(DataLine<'a>),
    CheckpointComplete,
    PartialCheckpointComplete(Priority),
    TokenExpiresIn(i32),
    /// A line type we do not know; its payload was skipped.
    Unknown,
}

impl<'de> Deserialize<'de> for SyncLine<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SyncLine<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sync line")
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<SyncLine<'de>, A::Error> {
                let (key, variant) = data.variant::<String>()?;
                Ok(match key.as_str() {
                    "checkpoint" => SyncLine::Checkpoint(variant.newtype_variant()?),
                    "checkpoint_diff" => SyncLine::CheckpointDiff(variant.newtype_variant()?),
                    "data" => SyncLine::Data(variant.newtype_variant()?),
                    "checkpoint_complete" => {
                        variant.newtype_variant::<CheckpointComplete>()?;
                        SyncLine::CheckpointComplete
                    }
                    "partial_checkpoint_complete" => SyncLine::PartialCheckpointComplete(
                        variant.newtype_variant::<PartialCheckpointComplete>()?.priority,
                    ),
                    "token_expires_in" => SyncLine::TokenExpiresIn(variant.newtype_variant()?),
                    _ => {
                        variant.newtype_variant::<IgnoredAny>()?;
                        SyncLine::Unknown
                    }
                })
            }
        }
        deserializer.deserialize_enum("SyncLine", &[], V)
    }
}

/// Decodes a JSON text line.
pub fn parse_text(text: &str) -> PsResult<SyncLine<'_>> {
    serde_json::from_str(text).map_err(|e| PsError::sync_protocol("invalid text line", Some(e.to_string())))
}

/// Decodes one BSON line: its top-level document's first element, as the reference reads it
/// (sync/bson.rs).
pub fn parse_binary(bytes: &[u8]) -> PsResult<SyncLine<'_>> {
    super::bson::from_first_element(bytes)
        .map_err(|e| PsError::sync_protocol("invalid binary line", Some(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_text(text).unwrap_err().to_string()
    }

    #[test]
    fn line_errors_match_reference() {
        assert_eq!(
            err(r#"{"token_expires_in":5,"checkpoint_complete":{}}"#),
            "Sync protocol error: invalid text line. cause: expected value at line 1 column 21"
        );
        assert!(
            err(r#"{"data":{"bucket":"b","data":[{"op_id":5,"op":"PUT","checksum":1}]}}"#)
                .contains("invalid type: integer `5`, expected a string at line 1 column 40")
        );
        assert!(
            err(r#"{"data":{"bucket":"b","data":[{"op_id":"5","op":"PUT","checksum":"5"}]}}"#)
                .contains("invalid type: string \"5\", expected a number to interpret as a checksum")
        );
        assert!(
            err(r#"{"data":{"bucket":"b","data":[{"op_id":"5","op":"PUT","checksum":4294967296}]}}"#)
                .contains("invalid value: integer `4294967296`, expected a 32-bit int")
        );
        assert!(
            err(r#"{"data":{"bucket":"b","data":[{"op_id":"5","op":"PUT","checksum":1.5}]}}"#)
                .contains("invalid value: floating point `1.5`, expected a whole number")
        );
        assert!(
            err(r#"{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":1,"priority":-1}]}}"#)
                .contains("cause: invalid argument: Invalid bucket priority value. cause: unknown at line 1")
        );
        assert!(
            err(r#"{"data":{"bucket":"b","data":[{"op_id":"5","op":"PUT","checksum":1,"data":{}}]}}"#)
                .contains("invalid type: map, expected a string")
        );
    }

    #[test]
    fn values() {
        let SyncLine::Data(d) = parse_text(r#"{"data":{"bucket":"b","after":"0","data":[{"op_id":"1","op":"PUT","checksum":-1},{"op_id":"2","op":"MOVE","checksum":4294967295.0}]}}"#).unwrap() else { panic!() };
        assert_eq!(d.data[0].checksum, Checksum(u32::MAX));
        assert_eq!(d.data[1].checksum, Checksum(u32::MAX));
        assert!(matches!(
            parse_text(r#"{"some_future_line":{"x":1}}"#).unwrap(),
            SyncLine::Unknown
        ));
        assert!(matches!(
            parse_text(r#"{"token_expires_in":30}"#).unwrap(),
            SyncLine::TokenExpiresIn(30)
        ));
    }

    #[test]
    fn bson_checkpoint_from_spec() {
        let hex = "8a00000003636865636b706f696e740079000000026c6173745f6f705f6964000200000032000a77726974655f636865636b706f696e7400046275636b65747300470000000330003f000000026275636b6574000300000062620010636865636b73756d00ffffffff107072696f72697479000300000012636f756e7400020000000000000000000000";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let SyncLine::Checkpoint(c) = parse_binary(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(c.last_op_id, OpId(2));
        assert_eq!(c.buckets[0].checksum, Checksum(u32::MAX));
        assert_eq!(c.buckets[0].count, Some(2));
        assert!(parse_binary(&bytes[..20]).is_err());
        assert!(parse_binary(&[]).is_err());
    }

    #[test]
    fn deeply_nested_bson_is_refused_without_recursion() {
        // {"x": {"x": {"x": ... {}}}} nested 5,000 levels: each level is a 0x03 element "x".
        let depth = 5_000;
        let mut doc = vec![5u8, 0, 0, 0, 0];
        for _ in 0..depth {
            let mut outer = Vec::with_capacity(doc.len() + 8);
            let len = (4 + 1 + 2 + doc.len() + 1) as i32;
            outer.extend_from_slice(&len.to_le_bytes());
            outer.push(0x03);
            outer.extend_from_slice(b"x\0");
            outer.extend_from_slice(&doc);
            outer.push(0);
            doc = outer;
        }
        let err = parse_binary(&doc).unwrap_err().to_string();
        assert!(err.contains("nested deeper"), "{err}");
    }
}
