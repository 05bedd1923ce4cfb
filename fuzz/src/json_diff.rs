//! `json_diff`: `powersync_diff(old, new)` on two texts split from the input at its first NUL
//! byte (the rest of a NUL-free input is the new object, the old one is `{}`).
//!
//! Invariant: the result is the oracle's, byte for byte. The oracle is written here from the
//! function's definition (docs/sql-functions.md, "Scalar functions"), on fully parsed values, so it
//! checks the core's fast path (the flat scan for `json_object`'s output) against the
//! definition: both texts must parse as JSON objects (otherwise both fail), null
//! members count as absent, and the patch has each changed or added member of `new` and `null`
//! for each member that `old` has and `new` lost, keys in order, printed as serde_json prints.

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::common;

/// The patch by the definition; `None` when either text is not a JSON object.
fn oracle(old: &str, new: &str) -> Option<String> {
    let members = |text: &str| -> Option<Map<String, Value>> {
        match serde_json::from_str::<Value>(text).ok()? {
            Value::Object(map) => Some(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
            _ => None,
        }
    };
    let (new, old) = (members(new)?, members(old)?);
    let changed = new
        .iter()
        .filter(|(key, value)| old.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()));
    let lost = old
        .keys()
        .filter(|key| !new.contains_key(*key))
        .map(|key| (key.clone(), Value::Null));
    let patch: Map<String, Value> = changed.chain(lost).collect();
    Some(Value::Object(patch).to_string())
}

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (old, new) = match text.split_once('\0') {
        Some((old, new)) => (old.to_string(), new.to_string()),
        None => ("{}".to_string(), text.to_string()),
    };
    thread_local! {
        static DB: Connection = common::open();
    }
    let got: Result<String, _> = DB.with(|db| db.query_row("SELECT powersync_diff(?, ?)", [&old, &new], |r| r.get(0)));
    match (oracle(&old, &new), got) {
        (Some(expected), Ok(got)) => assert_eq!(got, expected, "powersync_diff({old:?}, {new:?})"),
        (None, Err(_)) => {}
        (expected, got) => panic!("powersync_diff({old:?}, {new:?}): expected {expected:?}, got {got:?}"),
    }
}
