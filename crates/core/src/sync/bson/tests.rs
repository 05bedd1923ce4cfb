//! The BSON decoder: element types, zero-copy strings, malformed input, nesting limit, the
//! first-element framing, and the line types decoded through it.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::*;
use crate::sync::line::{
    self, Checksum, OpId, OpType, Priority, StreamErrorSubscription, SubscriptionReason, SyncLine,
};

/// A value to encode, written out by hand so each test shows the bytes it feeds.
enum B<'a> {
    F64(f64),
    Str(&'a str),
    Doc(Vec<(&'a str, B<'a>)>),
    Arr(Vec<B<'a>>),
    Bin(u8, &'a [u8]),
    Bool(bool),
    Null,
    I32(i32),
    I64(i64),
    /// Any element type with its value bytes as given.
    Raw(u8, Vec<u8>),
}

impl B<'_> {
    fn element_type(&self) -> u8 {
        match self {
            B::F64(_) => 0x01,
            B::Str(_) => 0x02,
            B::Doc(_) => 0x03,
            B::Arr(_) => 0x04,
            B::Bin(..) => 0x05,
            B::Bool(_) => 0x08,
            B::Null => 0x0A,
            B::I32(_) => 0x10,
            B::I64(_) => 0x12,
            B::Raw(t, _) => *t,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            B::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            B::Str(s) => {
                out.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
            B::Doc(entries) => {
                let items: Vec<(String, &B)> = entries.iter().map(|(k, v)| (k.to_string(), v)).collect();
                encode_document(&items, out);
            }
            B::Arr(items) => {
                let items: Vec<(String, &B)> = items.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect();
                encode_document(&items, out);
            }
            B::Bin(subtype, bytes) => {
                out.extend_from_slice(&(bytes.len() as i32).to_le_bytes());
                out.push(*subtype);
                out.extend_from_slice(bytes);
            }
            B::Bool(v) => out.push(u8::from(*v)),
            B::Null => {}
            B::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            B::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            B::Raw(_, bytes) => out.extend_from_slice(bytes),
        }
    }
}

fn encode_document(items: &[(String, &B)], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    for (key, value) in items {
        out.push(value.element_type());
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        value.encode(out);
    }
    out.push(0);
    let len = (out.len() - start) as i32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn doc(entries: Vec<(&str, B)>) -> Vec<u8> {
    let mut out = Vec::new();
    B::Doc(entries).encode(&mut out);
    out
}

/// What the decoder handed to the visitor, for checking the dispatch of `deserialize_any`.
#[derive(Debug, PartialEq)]
enum Seen<'a> {
    F64(f64),
    I32(i32),
    I64(i64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Bool(bool),
    Unit,
    Map(Vec<(&'a str, Seen<'a>)>),
    Seq(Vec<Seen<'a>>),
}

impl<'de> Deserialize<'de> for Seen<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct V;
        // Only the borrowed forms are accepted: a copied string or byte string fails the test.
        impl<'de> Visitor<'de> for V {
            type Value = Seen<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Seen<'de>, E> {
                Ok(Seen::F64(v))
            }
            fn visit_i32<E: serde::de::Error>(self, v: i32) -> std::result::Result<Seen<'de>, E> {
                Ok(Seen::I32(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Seen<'de>, E> {
                Ok(Seen::I64(v))
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> std::result::Result<Seen<'de>, E> {
                Ok(Seen::Str(v))
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> std::result::Result<Seen<'de>, E> {
                Ok(Seen::Bytes(v))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Seen<'de>, E> {
                Ok(Seen::Bool(v))
            }
            fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Seen<'de>, E> {
                Ok(Seen::Unit)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Seen<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<&'de str>()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Seen::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Seen<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Seen::Seq(items))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The first element of `bytes` as its key and what the visitor saw.
fn first(bytes: &[u8]) -> Result<(&str, Seen<'_>)> {
    let Seen::Map(mut entries) = from_first_element::<Seen>(bytes)? else {
        panic!("the top level is a map")
    };
    assert_eq!(entries.len(), 1, "only the first element is read");
    Ok(entries.remove(0))
}

fn err_text(bytes: &[u8]) -> String {
    from_first_element::<Seen>(bytes).unwrap_err().to_string()
}

fn line_err(bytes: &[u8]) -> String {
    line::parse_binary(bytes).unwrap_err().to_string()
}

#[test]
fn any_dispatches_on_every_supported_type() {
    let bytes = doc(vec![(
        "v",
        B::Doc(vec![
            ("double", B::F64(-1.5)),
            ("string", B::Str("héllo")),
            ("doc", B::Doc(vec![("a", B::I32(1))])),
            ("array", B::Arr(vec![B::I32(7), B::Str("x")])),
            ("binary", B::Bin(0x80, &[1, 2, 3])),
            ("true", B::Bool(true)),
            ("false", B::Bool(false)),
            ("null", B::Null),
            ("int32", B::I32(i32::MIN)),
            ("int64", B::I64(i64::MAX)),
            ("empty", B::Doc(vec![])),
            ("empty_string", B::Str("")),
        ]),
    )]);
    let (key, value) = first(&bytes).unwrap();
    assert_eq!(key, "v");
    assert_eq!(
        value,
        Seen::Map(vec![
            ("double", Seen::F64(-1.5)),
            ("string", Seen::Str("héllo")),
            ("doc", Seen::Map(vec![("a", Seen::I32(1))])),
            ("array", Seen::Seq(vec![Seen::I32(7), Seen::Str("x")])),
            ("binary", Seen::Bytes(&[1, 2, 3])),
            ("true", Seen::Bool(true)),
            ("false", Seen::Bool(false)),
            ("null", Seen::Unit),
            ("int32", Seen::I32(i32::MIN)),
            ("int64", Seen::I64(i64::MAX)),
            ("empty", Seen::Map(vec![])),
            ("empty_string", Seen::Str("")),
        ])
    );
}

#[test]
fn strings_and_keys_borrow_from_the_input() {
    let bytes = doc(vec![("key", B::Str("value"))]);
    let (key, value) = first(&bytes).unwrap();
    let Seen::Str(value) = value else { panic!("{value:?}") };
    let range = bytes.as_ptr_range();
    assert!(range.contains(&key.as_ptr()));
    assert!(range.contains(&value.as_ptr()));
    assert_eq!(value, "value");
}

#[test]
fn array_keys_are_ignored() {
    let mut array = Vec::new();
    let items: Vec<(String, &B)> = vec![("z".into(), &B::I32(1)), ("anything".into(), &B::I32(2))];
    encode_document(&items, &mut array);
    let bytes = doc(vec![("a", B::Raw(0x04, array))]);
    assert_eq!(first(&bytes).unwrap().1, Seen::Seq(vec![Seen::I32(1), Seen::I32(2)]));
}

#[test]
fn option_null_is_none_anything_else_some() {
    #[derive(Deserialize, Debug, PartialEq)]
    struct S<'a> {
        a: Option<i64>,
        b: Option<i64>,
        #[serde(borrow)]
        c: Option<&'a str>,
    }
    let bytes = doc(vec![(
        "s",
        B::Doc(vec![("a", B::Null), ("b", B::I32(4)), ("c", B::Str("x"))]),
    )]);
    let s: std::collections::HashMap<&str, S> = from_first_element(&bytes).unwrap();
    assert_eq!(
        s["s"],
        S {
            a: None,
            b: Some(4),
            c: Some("x")
        }
    );
}

#[test]
fn enums_from_strings_and_single_key_documents() {
    #[derive(Deserialize, Debug)]
    struct Op {
        op: OpType,
    }
    let ops = |value: B| {
        from_first_element::<std::collections::HashMap<String, Op>>(&doc(vec![("o", B::Doc(vec![("op", value)]))]))
    };
    assert_eq!(ops(B::Str("REMOVE")).unwrap()["o"].op, OpType::REMOVE);
    assert_eq!(ops(B::Doc(vec![("MOVE", B::Null)])).unwrap()["o"].op, OpType::MOVE);
    assert_eq!(
        ops(B::Str("DROP")).unwrap_err().to_string(),
        "unknown variant `DROP`, expected one of `PUT`, `REMOVE`, `MOVE`, `CLEAR`"
    );
    assert_eq!(
        ops(B::I32(1)).unwrap_err().to_string(),
        "invalid type: integer `1`, expected enum OpType"
    );

    #[derive(Deserialize, Debug)]
    struct Reasons {
        r: Vec<SubscriptionReason>,
    }
    let reasons = |items: Vec<B>| {
        from_first_element::<std::collections::HashMap<String, Reasons>>(&doc(vec![(
            "x",
            B::Doc(vec![("r", B::Arr(items))]),
        )]))
    };
    let decoded = reasons(vec![
        B::Doc(vec![("default", B::I32(0))]),
        B::Doc(vec![("sub", B::I64(2))]),
    ])
    .unwrap();
    assert_eq!(
        decoded["x"].r,
        vec![SubscriptionReason::Default(0), SubscriptionReason::Sub(2)]
    );
    // 4 (top) + 2 + "x" + NUL + 4 (x) + 1 + "r" + NUL + 4 (array) + 1 + "0" + NUL: the reason.
    let at = 4 + 3 + 4 + 3 + 4 + 3;
    assert_eq!(
        reasons(vec![B::Doc(vec![("default", B::I32(0)), ("sub", B::I32(1))])])
            .unwrap_err()
            .to_string(),
        format!("expected a document with exactly one key at byte {at}")
    );
    assert_eq!(
        reasons(vec![B::Doc(vec![])]).unwrap_err().to_string(),
        format!("expected a document with exactly one key at byte {at}")
    );
    assert_eq!(
        reasons(vec![B::Doc(vec![("sub", B::Str("1"))])])
            .unwrap_err()
            .to_string(),
        "invalid type: string \"1\", expected u32"
    );
}

#[test]
fn untagged_enums_buffer_through_any() {
    #[derive(Deserialize, Debug)]
    struct E {
        s: Vec<StreamErrorSubscription>,
    }
    let bytes = doc(vec![(
        "e",
        B::Doc(vec![("s", B::Arr(vec![B::I32(3), B::I64(4), B::Str("default")]))]),
    )]);
    let decoded: std::collections::HashMap<String, E> = from_first_element(&bytes).unwrap();
    let s = &decoded["e"].s;
    assert!(matches!(s[0], StreamErrorSubscription::Index(3)));
    assert!(matches!(s[1], StreamErrorSubscription::Index(4)));
    assert!(matches!(&s[2], StreamErrorSubscription::Default(t) if t == "default"));
}

#[test]
fn unknown_fields_of_every_type_are_skipped() {
    let exotic: Vec<(&str, B)> = vec![
        ("f_double", B::F64(1.0)),
        ("f_string", B::Str("s")),
        (
            "f_doc",
            B::Doc(vec![("deep", B::Arr(vec![B::Doc(vec![("x", B::Null)])]))]),
        ),
        ("f_array", B::Arr(vec![B::I32(1)])),
        ("f_binary", B::Bin(0, b"abc")),
        ("f_undefined", B::Raw(0x06, vec![])),
        ("f_object_id", B::Raw(0x07, vec![7; 12])),
        ("f_bool", B::Bool(true)),
        ("f_datetime", B::Raw(0x09, vec![9; 8])),
        ("f_null", B::Null),
        ("f_regex", B::Raw(0x0B, b"^a\0i\0".to_vec())),
        (
            "f_dbpointer",
            B::Raw(0x0C, [&2i32.to_le_bytes()[..], b"c\0", &[1; 12]].concat()),
        ),
        ("f_code", B::Raw(0x0D, [&4i32.to_le_bytes()[..], b"f()\0"].concat())),
        ("f_symbol", B::Raw(0x0E, [&2i32.to_le_bytes()[..], b"y\0"].concat())),
        // Total 17: itself, the code string (4 + "f()\0") and an empty scope document.
        (
            "f_code_w_scope",
            B::Raw(
                0x0F,
                [&17i32.to_le_bytes()[..], &4i32.to_le_bytes(), b"f()\0", &doc(vec![])].concat(),
            ),
        ),
        ("f_int32", B::I32(1)),
        ("f_timestamp", B::Raw(0x11, vec![1; 8])),
        ("f_int64", B::I64(1)),
        ("f_decimal", B::Raw(0x13, vec![3; 16])),
        ("f_min", B::Raw(0xFF, vec![])),
        ("f_max", B::Raw(0x7F, vec![])),
    ];
    let mut fields = vec![("bucket", B::Str("b"))];
    fields.extend(exotic);
    fields.push(("data", B::Arr(vec![])));
    let bytes = doc(vec![("data", B::Doc(fields))]);
    let SyncLine::Data(data) = line::parse_binary(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(data.bucket, "b");
    assert!(data.data.is_empty());
}

#[test]
fn unsupported_types_are_an_error_when_used_as_values() {
    let bytes = doc(vec![(
        "data",
        B::Doc(vec![("bucket", B::Raw(0x07, vec![0; 12])), ("data", B::Arr(vec![]))]),
    )]);
    // 4 + "data\0" type byte at 4, the document at 10, its first element at 14.
    assert_eq!(
        line_err(&bytes),
        "Sync protocol error: invalid binary line. cause: unsupported element type 0x07 at byte 14"
    );
}

#[test]
fn line_values_follow_the_reference_typing() {
    let bucket = |checksum: B<'static>, priority: B<'static>, count: B<'static>| {
        B::Doc(vec![
            ("bucket", B::Str("a")),
            ("checksum", checksum),
            ("priority", priority),
            ("count", count),
            ("subscriptions", B::Arr(vec![B::Doc(vec![("default", B::I32(0))])])),
        ])
    };
    let bytes = doc(vec![(
        "checkpoint",
        B::Doc(vec![
            ("last_op_id", B::Str("12")),
            ("write_checkpoint", B::Null),
            (
                "buckets",
                B::Arr(vec![
                    bucket(B::I32(-1), B::I32(1), B::I32(3)),
                    bucket(B::I64(4294967295), B::I64(2), B::I64(1 << 40)),
                    bucket(B::F64(7.0), B::Null, B::Null),
                ]),
            ),
        ]),
    )]);
    let SyncLine::Checkpoint(c) = line::parse_binary(&bytes).unwrap() else {
        panic!()
    };
    assert_eq!(c.last_op_id, OpId(12));
    assert_eq!(c.write_checkpoint, None);
    let b = &c.buckets;
    assert_eq!(
        (b[0].checksum, b[1].checksum, b[2].checksum),
        (Checksum(u32::MAX), Checksum(u32::MAX), Checksum(7))
    );
    assert_eq!(
        (b[0].priority, b[1].priority, b[2].priority),
        (Some(Priority(1)), Some(Priority(2)), None)
    );
    assert_eq!((b[0].count, b[1].count, b[2].count), (Some(3), Some(1 << 40), None));
    assert_eq!(b[0].subscriptions, vec![SubscriptionReason::Default(0)]);

    let token = |v: B| match line::parse_binary(&doc(vec![("token_expires_in", v)])).unwrap() {
        SyncLine::TokenExpiresIn(seconds) => Some(seconds),
        _ => None,
    };
    assert_eq!(token(B::I32(30)), Some(30));
    assert_eq!(token(B::I64(60)), Some(60));
    assert!(matches!(
        line::parse_binary(&doc(vec![("some_future_line", B::Raw(0x07, vec![0; 12]))])).unwrap(),
        SyncLine::Unknown
    ));
    assert!(matches!(
        line::parse_binary(&doc(vec![("checkpoint_complete", B::Doc(vec![("x", B::I32(1))]))])).unwrap(),
        SyncLine::CheckpointComplete
    ));
}

#[test]
fn serde_messages_come_through_verbatim() {
    let data = |op_id: B| {
        doc(vec![(
            "data",
            B::Doc(vec![
                ("bucket", B::Str("b")),
                (
                    "data",
                    B::Arr(vec![B::Doc(vec![
                        ("op_id", op_id),
                        ("op", B::Str("PUT")),
                        ("checksum", B::I32(1)),
                    ])]),
                ),
            ]),
        )])
    };
    let prefix = "Sync protocol error: invalid binary line. cause: ";
    assert_eq!(
        line_err(&data(B::I64(5))),
        format!("{prefix}invalid type: integer `5`, expected a string")
    );
    assert_eq!(
        line_err(&data(B::I32(5))),
        format!("{prefix}invalid type: integer `5`, expected a string")
    );
    assert_eq!(
        line_err(&data(B::F64(1.5))),
        format!("{prefix}invalid type: floating point `1.5`, expected a string")
    );
    assert_eq!(
        line_err(&data(B::Str("x"))),
        format!("{prefix}invalid value: string \"x\", expected a decimal 64-bit integer")
    );
    assert_eq!(
        line_err(&doc(vec![("token_expires_in", B::I64(1 << 40))])),
        format!("{prefix}invalid value: integer `1099511627776`, expected i32")
    );
    assert_eq!(
        line_err(&doc(vec![("checkpoint", B::Doc(vec![("buckets", B::Arr(vec![]))]))])),
        format!("{prefix}missing field `last_op_id`")
    );
}

#[test]
fn only_the_first_element_is_read() {
    // A second key, even a known line type, is not looked at (nor is its broken value).
    let mut bytes = doc(vec![
        ("token_expires_in", B::I32(5)),
        ("checkpoint_complete", B::Raw(0x42, vec![])),
    ]);
    assert!(matches!(
        line::parse_binary(&bytes).unwrap(),
        SyncLine::TokenExpiresIn(5)
    ));
    // A wrong final byte.
    *bytes.last_mut().unwrap() = 1;
    assert!(matches!(
        line::parse_binary(&bytes).unwrap(),
        SyncLine::TokenExpiresIn(5)
    ));
    // Bytes past the declared length.
    let mut trailing = doc(vec![("token_expires_in", B::I32(6))]);
    trailing.extend_from_slice(&[0xFF, 0x42, 0]);
    assert!(matches!(
        line::parse_binary(&trailing).unwrap(),
        SyncLine::TokenExpiresIn(6)
    ));
    // The first element may even take the terminator's byte.
    let mut exact = doc(vec![("token_expires_in", B::I32(7))]);
    exact.pop();
    let len = exact.len() as i32;
    exact[..4].copy_from_slice(&len.to_le_bytes());
    assert!(matches!(
        line::parse_binary(&exact).unwrap(),
        SyncLine::TokenExpiresIn(7)
    ));
    // But not run past the declared length.
    exact[..4].copy_from_slice(&(len - 1).to_le_bytes());
    assert_eq!(err_text(&exact), "value at byte 22 runs past the end of its document");
}

#[test]
fn nested_documents_are_strict() {
    let inner = |bytes: Vec<u8>| doc(vec![("a", B::Raw(0x03, bytes))]);
    // A terminator before the declared end.
    let early = inner([&7i32.to_le_bytes()[..], &[0, 0, 0]].concat());
    assert_eq!(err_text(&early), "document ends at byte 11, before its declared length");
    // No terminator: the last element takes the document's final byte.
    let unterminated = inner([&9i32.to_le_bytes()[..], &[0x0A, b'k', 0, 0x0A, b'j']].concat());
    assert_eq!(err_text(&unterminated), "unterminated key at byte 15");
    let no_nul = inner([&8i32.to_le_bytes()[..], &[0x0A, b'k', 0, 0x0A]].concat());
    assert_eq!(err_text(&no_nul), "unterminated key at byte 15");
    let full = inner([&8i32.to_le_bytes()[..], &[0x08, b'k', 0, 1]].concat());
    assert_eq!(err_text(&full), "missing NUL terminator at byte 14");
    // A nested length past its parent's end: within the input (trailing bytes), or past it.
    let mut past = doc(vec![("a", B::Raw(0x03, [&64i32.to_le_bytes()[..], &[0]].concat()))]);
    assert_eq!(err_text(&past), "unexpected end of input at byte 7");
    past.extend_from_slice(&[0; 100]);
    assert_eq!(err_text(&past), "value at byte 7 runs past the end of its document");
    // A length under the minimum of 5.
    let short = doc(vec![("a", B::Raw(0x03, [&4i32.to_le_bytes()[..], &[0]].concat()))]);
    assert_eq!(err_text(&short), "invalid length 4 at byte 7");
    // An invalid boolean.
    assert_eq!(
        err_text(&doc(vec![("a", B::Raw(0x08, vec![2]))])),
        "invalid boolean 0x02 at byte 7"
    );
}

#[test]
fn malformed_input_is_an_error() {
    let valid = doc(vec![("token_expires_in", B::I32(60))]);
    assert!(matches!(
        line::parse_binary(&valid).unwrap(),
        SyncLine::TokenExpiresIn(60)
    ));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "unexpected end of input at byte 0"),
        (vec![5, 0, 0], "unexpected end of input at byte 0"),
        (vec![4, 0, 0, 0, 0], "invalid length 4 at byte 0"),
        ((-1i32).to_le_bytes().to_vec(), "invalid length -1 at byte 0"),
        (doc(vec![]), "expected a document with exactly one key at byte 0"),
        (valid[..valid.len() - 1].to_vec(), "unexpected end of input at byte 26"),
        (valid[..20].to_vec(), "unexpected end of input at byte 20"),
        // The length prefix larger than the data.
        (
            [&64i32.to_le_bytes()[..], &valid[4..]].concat(),
            "unexpected end of input at byte 27",
        ),
        // Smaller than the data: the key is cut.
        (
            [&10i32.to_le_bytes()[..], &valid[4..]].concat(),
            "unterminated key at byte 5",
        ),
        (
            doc(vec![("k", B::Raw(0x42, vec![1, 2]))]),
            "unknown element type 0x42 at byte 4",
        ),
    ];
    for (bytes, text) in &cases {
        assert_eq!(
            line_err(bytes),
            format!("Sync protocol error: invalid binary line. cause: {text}")
        );
    }

    let string = |value: Vec<u8>| doc(vec![("s", B::Raw(0x02, value))]);
    assert_eq!(
        err_text(&string([&0i32.to_le_bytes()[..], &[0]].concat())),
        "invalid length 0 at byte 7"
    );
    assert_eq!(
        err_text(&string([&(-3i32).to_le_bytes()[..], &[0]].concat())),
        "invalid length -3 at byte 7"
    );
    assert_eq!(
        err_text(&string([&2i32.to_le_bytes()[..], b"ab"].concat())),
        "missing NUL terminator at byte 12"
    );
    assert_eq!(
        err_text(&string([&9i32.to_le_bytes()[..], b"ab\0"].concat())),
        "unexpected end of input at byte 11"
    );
    assert_eq!(
        err_text(&string([&i32::MAX.to_le_bytes()[..], b"ab\0"].concat())),
        "unexpected end of input at byte 11"
    );
    assert_eq!(
        err_text(&string([&4i32.to_le_bytes()[..], b"a\xFFb\0"].concat())),
        "invalid UTF-8 in string at byte 12"
    );
    let mut bad_key = doc(vec![("ké", B::Null)]);
    bad_key[6] = 0xFF;
    assert_eq!(err_text(&bad_key), "invalid UTF-8 in string at byte 6");
    // A cut binary.
    assert_eq!(
        err_text(&doc(vec![(
            "b",
            B::Raw(0x05, [&100i32.to_le_bytes()[..], &[0, 1]].concat())
        )])),
        "unexpected end of input at byte 12"
    );
    // Unknown and cut values inside a skipped field are errors too.
    for field in [B::Raw(0x42, vec![]), B::Raw(0x02, i32::MAX.to_le_bytes().to_vec())] {
        let bytes = doc(vec![("checkpoint_complete", B::Doc(vec![("x", field)]))]);
        assert!(line::parse_binary(&bytes).is_err());
    }
}

/// `{"x": {"x": ... {}}}` with `levels` documents in all, the top-level one included.
fn nested(levels: usize, element_type: u8) -> Vec<u8> {
    let mut value = vec![5u8, 0, 0, 0, 0];
    for _ in 1..levels {
        let mut outer = Vec::with_capacity(value.len() + 8);
        outer.extend_from_slice(&((4 + 1 + 2 + value.len() + 1) as i32).to_le_bytes());
        outer.push(element_type);
        outer.extend_from_slice(b"x\0");
        outer.extend_from_slice(&value);
        outer.push(0);
        value = outer;
    }
    value
}

#[test]
fn nesting_is_limited_to_128_levels() {
    for element_type in [0x03, 0x04] {
        assert!(from_first_element::<Seen>(&nested(MAX_DEPTH, element_type)).is_ok());
        assert!(from_first_element::<IgnoredAny>(&nested(MAX_DEPTH, element_type)).is_ok());
        for levels in [MAX_DEPTH + 1, 100_000] {
            let bytes = nested(levels, element_type);
            assert_eq!(err_text(&bytes), "documents nested deeper than 128 levels");
            assert_eq!(
                from_first_element::<IgnoredAny>(&bytes).unwrap_err(),
                Error::TooDeep,
                "skipped values are limited too"
            );
        }
    }
    // Inside an ignored field of a line.
    let deep = nested(MAX_DEPTH - 1, 0x03);
    let line = |extra: &[u8]| {
        doc(vec![(
            "checkpoint",
            B::Doc(vec![
                ("last_op_id", B::Str("1")),
                ("buckets", B::Arr(vec![])),
                ("extra", B::Raw(0x03, extra.to_vec())),
            ]),
        )])
    };
    // top + checkpoint + 126 = 128 levels.
    assert!(line::parse_binary(&line(&nested(MAX_DEPTH - 2, 0x03))).is_ok());
    assert_eq!(
        line_err(&line(&deep)),
        "Sync protocol error: invalid binary line. cause: documents nested deeper than 128 levels"
    );
}

#[test]
fn visitors_that_stop_early_leave_the_reader_consistent() {
    // A 1-tuple reads one item of a longer array; the rest is skipped and the next field read.
    #[derive(Deserialize, Debug)]
    struct T {
        t: (i32,),
        after: i32,
    }
    let bytes = doc(vec![(
        "v",
        B::Doc(vec![
            ("t", B::Arr(vec![B::I32(1), B::Str("more")])),
            ("after", B::I32(2)),
        ]),
    )]);
    let decoded: std::collections::HashMap<String, T> = from_first_element(&bytes).unwrap();
    assert_eq!((decoded["v"].t, decoded["v"].after), ((1,), 2));
}

#[test]
fn every_cut_and_byte_change_of_a_line_is_handled() {
    // Each prefix, and each byte replaced by a few telling values, decodes or fails: no panic.
    let bytes = doc(vec![(
        "checkpoint",
        B::Doc(vec![
            ("last_op_id", B::Str("7")),
            ("write_checkpoint", B::Null),
            (
                "buckets",
                B::Arr(vec![B::Doc(vec![
                    ("bucket", B::Str("b")),
                    ("checksum", B::F64(3.0)),
                    ("priority", B::I64(1)),
                    ("subscriptions", B::Arr(vec![B::Doc(vec![("sub", B::I32(0))])])),
                    ("extra", B::Bin(0, b"xy")),
                ])]),
            ),
        ]),
    )]);
    assert!(line::parse_binary(&bytes).is_ok());
    for n in 0..bytes.len() {
        let _ = line::parse_binary(&bytes[..n]);
    }
    let mut changed = bytes.clone();
    for i in 0..bytes.len() {
        for value in [0x00, 0x01, 0x03, 0x04, 0x7F, 0x80, 0xFF] {
            changed[i] = value;
            let _ = line::parse_binary(&changed);
            let _ = from_first_element::<Seen>(&changed);
        }
        changed[i] = bytes[i];
    }
}
