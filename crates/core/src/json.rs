//! The JSON helper functions: `powersync_diff`, `powersync_json_merge`,
//! `powersync_strip_subtype` and `powersync_remove_duplicate_key_encoding`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};

/// The patch that turns `old` into `new` (docs/sql-api.md, "Scalar functions"). Keys come out sorted because
/// serde_json's default map is ordered by key.
pub fn diff(old: &str, new: &str) -> PsResult<String> {
    match diff_borrowed(old, new) {
        Some(patch) => Ok(patch),
        None => diff_general(old, new),
    }
}

/// `diff` over fully parsed values: the definition, and the path for every input the borrowed
/// path declines (including all invalid ones, so errors come from here).
fn diff_general(old: &str, new: &str) -> PsResult<String> {
    let new: Value = serde_json::from_str(new).map_err(|e| PsError::json_argument(&e))?;
    let old: Value = serde_json::from_str(old).map_err(|e| PsError::json_argument(&e))?;
    let (Value::Object(mut new), Value::Object(mut old)) = (new, old) else {
        return Err(PsError::invalid_argument("expected two JSON objects"));
    };
    new.retain(|_, v| !v.is_null());
    old.retain(|_, v| !v.is_null());
    if !old.is_empty() {
        for (key, old_value) in &old {
            match new.get(key) {
                None => {
                    new.insert(key.clone(), Value::Null);
                }
                Some(new_value) if new_value == old_value => {
                    new.remove(key);
                }
                Some(_) => {}
            }
        }
    }
    Ok(serde_json::to_string(&Value::Object(new)).expect("serialising a Value cannot fail"))
}

/// The same patch as `diff_general`, computed on the raw text of each value: the view triggers
/// call this for every written row, and building a `Value` tree per row dominated its cost.
/// Values whose text serde_json would print differently (floats, escaped strings, nested
/// objects, ...) are re-printed through `Value`; `None` when a key needs unescaping or the input
/// does not parse, and the general path answers instead.
fn diff_borrowed(old: &str, new: &str) -> Option<String> {
    let new: BTreeMap<&str, &RawValue> = serde_json::from_str(new).ok()?;
    let old: BTreeMap<&str, &RawValue> = serde_json::from_str(old).ok()?;
    let mut patch: BTreeMap<&str, Cow<'_, str>> = BTreeMap::new();
    for (&key, &value) in &new {
        if is_null(value) {
            continue;
        }
        match old.get(key) {
            Some(&old_value) if !is_null(old_value) && same_value(value, old_value)? => {}
            _ => {
                patch.insert(key, printed(value)?);
            }
        }
    }
    for (&key, &old_value) in &old {
        if !is_null(old_value) && new.get(key).is_none_or(|v| is_null(v)) {
            patch.insert(key, Cow::Borrowed("null"));
        }
    }
    let mut out = String::with_capacity(new.values().map(|v| v.get().len() + 8).sum::<usize>() + 2);
    out.push('{');
    for (i, (key, value)) in patch.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Borrowed keys contain no escapes, and valid JSON has no raw control characters in
        // strings: the key prints as it was written.
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        out.push_str(value);
    }
    out.push('}');
    Some(out)
}

fn is_null(value: &RawValue) -> bool {
    value.get() == "null"
}

/// Whether serde_json prints this value exactly as written: strings without escapes, `true`,
/// `false`, `null` and integers of up to 18 digits (`-0` reads as a float).
fn prints_as_written(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    match bytes.first() {
        Some(b'"') => !bytes.contains(&b'\\'),
        Some(b't' | b'f' | b'n') => true,
        Some(_) => {
            let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
            !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) && raw != "-0"
        }
        None => false,
    }
}

/// The value as serde_json prints it.
fn printed(value: &RawValue) -> Option<Cow<'_, str>> {
    let raw = value.get();
    if prints_as_written(raw) {
        return Some(Cow::Borrowed(raw));
    }
    let parsed: Value = serde_json::from_str(raw).ok()?;
    serde_json::to_string(&parsed).ok().map(Cow::Owned)
}

/// `Value` equality: text comparison when both print as written (then equal text is equal
/// value and vice versa), parsed comparison otherwise (`1.0` = `1.00`, `"\u0061"` = `"a"`).
fn same_value(a: &RawValue, b: &RawValue) -> Option<bool> {
    let (a, b) = (a.get(), b.get());
    if prints_as_written(a) && prints_as_written(b) {
        return Some(a == b);
    }
    let a: Value = serde_json::from_str(a).ok()?;
    let b: Value = serde_json::from_str(b).ok()?;
    Some(a == b)
}

/// Textual concatenation of JSON objects (docs/sql-api.md, "Scalar functions"), quirks included: no parsing, so
/// duplicate keys and whitespace stay, and an empty object after a non-empty one leaves a comma.
pub fn merge<'a>(objects: impl IntoIterator<Item = Option<&'a str>>) -> PsResult<String> {
    let mut out = String::from("{");
    for object in objects {
        let inner = object
            .filter(|s| s.len() >= 2 && s.starts_with('{') && s.ends_with('}'))
            .map(|s| &s[1..s.len() - 1])
            .ok_or_else(|| PsError::invalid_argument("Expected json object"))?;
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(inner);
    }
    out.push('}');
    Ok(out)
}

/// Undoes the old JS SDK's JSON-encoded subkeys: `a/b/"c"` → `a/b/c` (docs/sql-api.md, "Scalar functions").
pub fn remove_duplicate_key_encoding(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    if bytes.len() < 2 || *bytes.last()? != b'"' {
        return None;
    }
    // Scan backwards from before the closing quote for a quote not escaped by an odd run of
    // backslashes.
    let mut i = bytes.len() - 1;
    // A quote at the very start does not count (observed: `"key"` gives NULL).
    let opening = loop {
        i -= 1;
        if i == 0 {
            return None;
        }
        if bytes[i] == b'"' {
            let backslashes = bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count();
            if backslashes % 2 == 0 {
                break i;
            }
        }
    };
    let decoded: String = serde_json::from_str(&key[opening..]).ok()?;
    Some(format!("{}{}", &key[..opening], decoded))
}

pub fn diff_fn(call: &Call) -> PsResult<Output> {
    let old = call.args.text_borrowed(0).unwrap_or_default();
    let new = call.args.text_borrowed(1).unwrap_or_default();
    diff(&old, &new).map(Output::Text)
}

/// SQL NULL arguments are skipped (0.5.4); every other argument must be an object's text.
pub fn merge_fn(call: &Call) -> PsResult<Output> {
    let texts: Vec<Option<String>> = (0..call.args.len())
        .filter(|&i| call.args.value_type(i) != rusqlite::ffi::SQLITE_NULL)
        .map(|i| call.args.text(i))
        .collect();
    merge(texts.iter().map(Option::as_deref)).map(Output::Text)
}

pub fn strip_subtype_fn(call: &Call) -> PsResult<Output> {
    Ok(if call.args.len() == 1 {
        Output::ArgumentWithoutSubtype(0)
    } else {
        Output::Null
    })
}

pub fn remove_duplicate_key_encoding_fn(call: &Call) -> PsResult<Output> {
    let key = call
        .args
        .text_if_text(0)
        .ok_or_else(|| PsError::invalid_argument("Expected a text argument"))?;
    Ok(remove_duplicate_key_encoding(&key).map_or(Output::Null, Output::Text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_examples() {
        assert_eq!(diff("{}", "{}").unwrap(), "{}");
        assert_eq!(diff(r#"{"a":1}"#, r#"{"a":2}"#).unwrap(), r#"{"a":2}"#);
        assert_eq!(diff(r#"{"a":1,"b":2}"#, r#"{"a":1}"#).unwrap(), r#"{"b":null}"#);
        assert_eq!(diff(r#"{"a":null}"#, "{}").unwrap(), "{}");
        assert_eq!(diff("{}", r#"{"a":null,"b":"x"}"#).unwrap(), r#"{"b":"x"}"#);
        assert_eq!(diff(r#"{"a":1}"#, r#"{"a":1.0}"#).unwrap(), r#"{"a":1.0}"#);
        assert_eq!(diff(r#"{"a":1.00}"#, r#"{"a":1.0}"#).unwrap(), "{}");
        assert_eq!(
            diff(r#"{"b":1,"a":2}"#, r#"{"z":1,"a":3,"b":1}"#).unwrap(),
            r#"{"a":3,"z":1}"#
        );
    }

    #[test]
    fn diff_number_and_string_formatting() {
        let input = r#"{"a":1e2,"b":1.00,"c":12345678901234567890123,"d":"é/\u00e9\/","e":0.1,"f":-0.0,"g":1.5e300,"h":18446744073709551615,"i":-9223372036854775808,"j":{"z":1,"a":2},"k":"\u0001"}"#;
        assert_eq!(
            diff("{}", input).unwrap(),
            r#"{"a":100.0,"b":1.0,"c":1.2345678901234568e+22,"d":"é/é/","e":0.1,"f":-0.0,"g":1.5e+300,"h":18446744073709551615,"i":-9223372036854775808,"j":{"a":2,"z":1},"k":"\u0001"}"#
        );
    }

    #[test]
    fn borrowed_diff_matches_the_general_one() {
        let values = [
            "1",
            "1.0",
            "1.00",
            "-0",
            "0",
            "-7",
            "\"a\"",
            "\"\\u0061\"",
            "null",
            "true",
            "false",
            "{\"b\":1,\"a\":2}",
            "{\"a\":2,\"b\":1}",
            "[1,2]",
            "12345678901234567890123",
            "123456789012345678",
            "1e2",
            "100.0",
            "\"é\"",
            "\"\\/\"",
            "\"/\"",
            "2.5",
        ];
        let keys = ["a", "b", "é", "z"];
        // Every pair of values under one key, present or absent on either side, with a second
        // key that stays equal or changes: each case must give the general result byte for byte.
        let mut checked = 0;
        for (i, old_value) in values.iter().enumerate() {
            for (j, new_value) in values.iter().enumerate() {
                let key = keys[(i + j) % keys.len()];
                let cases = [
                    (
                        format!(r#"{{"{key}":{old_value},"k":1}}"#),
                        format!(r#"{{"k":1,"{key}":{new_value}}}"#),
                    ),
                    (format!(r#"{{"{key}":{old_value}}}"#), "{}".to_string()),
                    ("{}".to_string(), format!(r#"{{ "{key}" : {new_value} , "k":2 }}"#)),
                    (
                        format!(r#"{{"{key}":{old_value},"{key}":{new_value}}}"#),
                        format!(r#"{{"{key}":{old_value}}}"#),
                    ),
                ];
                for (old, new) in cases {
                    let general = diff_general(&old, &new).unwrap();
                    assert_eq!(diff(&old, &new).unwrap(), general, "diff({old}, {new})");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, values.len() * values.len() * 4);
    }

    #[test]
    fn trigger_rows_take_the_borrowed_path() {
        // What the view triggers pass (json_object of the columns): no Value tree needed.
        let old = r#"{"name":"item 1","qty":1,"price":1.25,"done":0,"owner":null}"#;
        let new = r#"{"name":"item 1","qty":2,"price":1.25,"done":1,"owner":"u"}"#;
        assert_eq!(
            diff_borrowed(old, new).as_deref(),
            Some(r#"{"done":1,"owner":"u","qty":2}"#)
        );
        assert_eq!(
            diff_borrowed("{}", new).as_deref(),
            Some(r#"{"done":1,"name":"item 1","owner":"u","price":1.25,"qty":2}"#)
        );
        // An escaped key needs unescaping: the general path answers.
        assert_eq!(diff_borrowed("{}", r#"{"\u0061":1}"#), None);
        assert_eq!(diff("{}", r#"{"\u0061":1}"#).unwrap(), r#"{"a":1}"#);
    }

    #[test]
    fn diff_errors() {
        let e = diff("[1]", "{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: expected two JSON objects. cause: unknown"
        );
        let e = diff("", "{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: . cause: EOF while parsing a value at line 1 column 0"
        );
        let e = diff("{}", "not json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: . cause: expected ident at line 1 column 2"
        );
    }

    #[test]
    fn merge_examples() {
        assert_eq!(merge([]).unwrap(), "{}");
        assert_eq!(
            merge([Some(r#"{"a":1}"#), Some(r#"{"b":2}"#), Some("{}")]).unwrap(),
            r#"{"a":1,"b":2,}"#
        );
        assert_eq!(merge([Some("{}"), Some(r#"{"b":2}"#)]).unwrap(), r#"{"b":2}"#);
        assert_eq!(
            merge([Some(r#"{ "a":1 }"#), Some("{bogus}")]).unwrap(),
            r#"{ "a":1 ,bogus}"#
        );
        assert!(merge([Some(r#"{"a":1}"#), Some("[1]")]).is_err());
        assert!(merge([None]).is_err());
        assert!(merge([Some("{")]).is_err());
    }

    #[test]
    fn duplicate_key_encoding() {
        let f = remove_duplicate_key_encoding;
        assert_eq!(f(r#"foo/bar/"baz""#).as_deref(), Some("foo/bar/baz"));
        assert_eq!(f("foo/bar/baz"), None);
        assert_eq!(
            f(r#"foo/bar/"nested/subkey""#).as_deref(),
            Some("foo/bar/nested/subkey")
        );
        assert_eq!(
            f(r#"foo/bar/"escaped\"key""#).as_deref(),
            Some(r#"foo/bar/escaped"key"#)
        );
        assert_eq!(f(r#""key""#), None);
        assert_eq!(f(r#"a/b/"unterminated"#), None);
        assert_eq!(f(r#"foo/bar/"escaped\\key""#).as_deref(), Some(r"foo/bar/escaped\key"));
        assert_eq!(f(r#"foo/bar/"/\\"subkey""#).as_deref(), Some(r#"foo/bar/"/\\subkey"#));
        assert_eq!(f(r#"""#), None);
    }
}
