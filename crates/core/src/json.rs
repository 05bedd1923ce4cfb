//! The JSON helper functions: `powersync_diff`, `powersync_json_merge`,
//! `powersync_strip_subtype` and `powersync_remove_duplicate_key_encoding`.

use serde_json::Value;

use crate::error::{PsError, PsResult};
use crate::function::{Call, Output};

/// The patch that turns `old` into `new` (spec sql-api.md §4.3). Keys come out sorted because
/// serde_json's default map is ordered by key.
pub fn diff(old: &str, new: &str) -> PsResult<String> {
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

/// Textual concatenation of JSON objects (sql-api.md §4.4), quirks included: no parsing, so
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

/// Undoes the old JS SDK's JSON-encoded subkeys: `a/b/"c"` → `a/b/c` (sql-api.md §4.6).
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
    let old = call.args.text(0).unwrap_or_default();
    let new = call.args.text(1).unwrap_or_default();
    diff(&old, &new).map(Output::Text)
}

pub fn merge_fn(call: &Call) -> PsResult<Output> {
    let texts: Vec<Option<String>> = (0..call.args.len()).map(|i| call.args.text(i)).collect();
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
