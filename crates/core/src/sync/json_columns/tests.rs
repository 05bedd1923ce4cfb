//! The one-pass column reader against the `Map`-based binding it replaces: the same values and
//! the same errors for every input.

use serde_json::Value as Json;

use super::*;
use crate::sync::row_writer::parse_object;

/// What the old binding bound for each column: parse into a `Map`, look each column up, then
/// `bind_json`'s rules.
fn via_map<'a>(data: &str, columns: &[Option<&str>]) -> PsResult<Vec<ColumnValue<'a>>> {
    let object = parse_object(data)?;
    Ok(columns
        .iter()
        .map(|c| match c.and_then(|c| object.get(c)) {
            Some(Json::String(s)) => ColumnValue::Text(Cow::Owned(s.clone())),
            Some(Json::Bool(b)) => ColumnValue::Integer(*b as i64),
            Some(Json::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => ColumnValue::Integer(i),
                (None, Some(f)) => ColumnValue::Real(f),
                (None, None) => ColumnValue::Null,
            },
            _ => ColumnValue::Null,
        })
        .collect())
}

fn same(data: &str, columns: &[Option<&str>]) -> PsResult<Vec<ColumnValue<'static>>> {
    let slots = ColumnSlots::new(columns.iter().copied());
    let new = slots.read(data).map(|v| {
        v.into_iter()
            .map(|v| match v {
                ColumnValue::Text(t) => ColumnValue::Text(Cow::Owned(t.into_owned())),
                ColumnValue::Null => ColumnValue::Null,
                ColumnValue::Integer(i) => ColumnValue::Integer(i),
                ColumnValue::Real(f) => ColumnValue::Real(f),
            })
            .collect::<Vec<_>>()
    });
    let old = via_map(data, columns);
    match (&new, &old) {
        (Ok(a), Ok(b)) => {
            // Compare reals by bits: -0.0 and 0.0 must not be confused.
            let key = |v: &ColumnValue<'_>| match v {
                ColumnValue::Real(f) => format!("real {:x}", f.to_bits()),
                other => format!("{other:?}"),
            };
            assert_eq!(
                a.iter().map(key).collect::<Vec<_>>(),
                b.iter().map(key).collect::<Vec<_>>(),
                "values of {data}"
            );
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "error of {data}");
            assert_eq!(a.code(), b.code(), "error code of {data}");
        }
        _ => panic!("{data}: one pass gave {new:?}, the Map gave {old:?}"),
    }
    new
}

const COLUMNS: &[Option<&str>] = &[None, Some("a"), Some("b"), Some("c"), Some("a"), Some("é\"\\")];

#[test]
fn values_match_the_map_binding() {
    for data in [
        r#"{"a":3,"b":2.5,"c":true}"#,
        r#"{"a":false,"b":null,"c":"x"}"#,
        r#"{"a":9007199254740993,"b":18446744073709551615,"c":9223372036854775807}"#,
        r#"{"a":9223372036854775808,"b":-9223372036854775808,"c":-9223372036854775809}"#,
        r#"{"a":-0,"b":0,"c":-0.0}"#,
        r#"{"a":1e2,"b":1E-400,"c":1.7976931348623157e308}"#,
        r#"{"a":3.0,"b":0.1,"c":123456789012345678901234567890}"#,
        r#"{"a":{"k":1},"b":[1,[2,{"x":null}]],"c":{}}"#,
        r#"{"a":"x\"y\\z\u00e9\ud83d\ude00\n","b":"","c":"\u0000"}"#,
        r#"{"a":1,"a":"second","b":[],"b":2}"#,
        r#"{"a":"first","a":{"nested":1}}"#,
        r#"{"\u0061":"escaped key","é\"\\":"quoted key"}"#,
        r#"{"A":1,"a ":2,"":3}"#,
        r#"{}"#,
        r#"  {"a" : 1 , "b":2 }  "#,
        r#"{"extra":[1e5,{"deep":[true,false,null]}],"a":7}"#,
    ] {
        same(data, COLUMNS).unwrap();
    }
}

#[test]
fn errors_match_the_map_binding() {
    for data in [
        "",
        "   ",
        "null",
        "1",
        "\"text\"",
        "[1,2]",
        "true",
        "{",
        r#"{"a":1"#,
        r#"{"a":1,}"#,
        r#"{"a":1} x"#,
        r#"{"a":1}{}"#,
        r#"{"a":1e400}"#,
        r#"{"other":1e400}"#,
        r#"{"other":[-1e309]}"#,
        r#"{"other":{"k":1e400}}"#,
        r#"[1e400]"#,
        r#"[1"#,
        r#"{"a":"\ud800"}"#,
        r#"{"other":"\ud800"}"#,
        r#"{"other":{"\ud800":1}}"#,
        r#"{"\ud800":1}"#,
        r#"{"other":"\x"}"#,
        r#"{"a":01}"#,
        r#"{"a":NaN}"#,
        r#"{"a":'x'}"#,
        r#"{a:1}"#,
        "{\"a\":\"tab\there\"}",
    ] {
        assert!(same(data, COLUMNS).is_err(), "{data} must fail");
    }
}

#[test]
fn nesting_limit_matches_the_map_binding() {
    for depth in [126, 127, 128, 129, 200] {
        let inner = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        same(&format!(r#"{{"a":{inner}}}"#), COLUMNS).ok();
        same(&format!(r#"{{"other":{inner}}}"#), COLUMNS).ok();
    }
    // Past the limit it fails (both ways, as `same` checked).
    let deep = format!(r#"{{"other":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    assert!(ColumnSlots::new(COLUMNS.iter().copied()).read(&deep).is_err());
}

#[test]
fn strings_without_escapes_are_borrowed() {
    let slots = ColumnSlots::new([Some("a"), Some("b")]);
    let values = slots.read(r#"{"a":"plain","b":"esc\"aped"}"#).unwrap();
    assert!(matches!(&values[0], ColumnValue::Text(Cow::Borrowed("plain"))));
    assert!(matches!(&values[1], ColumnValue::Text(Cow::Owned(s)) if s == "esc\"aped"));
}

#[test]
fn many_columns_use_the_hash_lookup_with_the_same_result() {
    let names: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    let columns: Vec<Option<&str>> = std::iter::once(None)
        .chain(names.iter().map(|n| Some(n.as_str())))
        .chain([Some("c3")])
        .collect();
    assert!(ColumnSlots::new(columns.iter().copied()).by_name.is_some());
    let data = format!(
        "{{{}}}",
        (0..45)
            .rev()
            .map(|i| format!("\"c{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let values = same(&data, &columns).unwrap();
    assert_eq!(values[4], ColumnValue::Integer(3));
    assert_eq!(values[41], ColumnValue::Integer(3));
    assert_eq!(values[0], ColumnValue::Null);
}
