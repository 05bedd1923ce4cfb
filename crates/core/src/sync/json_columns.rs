//! Reading the values of declared columns straight from an op's data text, in one borrowed pass
//! (the direct-table and raw-table put without a `Rest` source).
//!
//! The result is what building a `serde_json::Map` and looking each column up in it gives (the
//! binding rules of `row_writer`): the same parser runs over the whole text, so invalid JSON,
//! numbers out of range, lone surrogates, nesting deeper than 128 and trailing characters fail
//! with the same message at the same position, and a non-object fails with "expected oplog
//! data to be an object" only after the text parsed. A key given twice binds its last value
//! (`Map::insert` replaces). What differs is the cost: nothing is allocated per key or value,
//! except strings with escapes; values of other keys are parsed (so that they fail as before)
//! but not kept.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{ErrorKind, PsError, PsResult};

/// A column's value as it is bound: integers that fit 64 bits, other numbers as REAL, booleans
/// as 0/1, strings as TEXT, anything else (null, arrays, objects, a missing key) as NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValue<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(Cow<'a, str>),
}

/// Where each JSON key goes: the slots of the statement parameters bound from it.
#[derive(Debug)]
pub struct ColumnSlots {
    /// Distinct key names with the parameter slots each fills.
    names: Vec<(String, Vec<usize>)>,
    /// Index into `names` by key, for tables with many columns (a linear scan is cheaper below).
    by_name: Option<HashMap<String, usize>>,
    /// The number of slots (parameters).
    len: usize,
}

/// Above this many distinct columns keys are looked up in a hash map.
const LINEAR_LOOKUP_MAX: usize = 16;

impl ColumnSlots {
    /// `columns`: for each parameter, the column it binds (`None`: not bound from the data).
    pub fn new<'c>(columns: impl IntoIterator<Item = Option<&'c str>>) -> ColumnSlots {
        let mut names: Vec<(String, Vec<usize>)> = Vec::new();
        let mut len = 0;
        for (slot, column) in columns.into_iter().enumerate() {
            len = slot + 1;
            let Some(column) = column else { continue };
            match names.iter_mut().find(|(n, _)| n == column) {
                Some((_, slots)) => slots.push(slot),
                None => names.push((column.to_owned(), vec![slot])),
            }
        }
        let by_name = (names.len() > LINEAR_LOOKUP_MAX)
            .then(|| names.iter().enumerate().map(|(i, (n, _))| (n.clone(), i)).collect());
        ColumnSlots { names, by_name, len }
    }

    /// Whether any parameter is bound from the data.
    pub fn any(&self) -> bool {
        !self.names.is_empty()
    }

    fn find(&self, key: &str) -> Option<usize> {
        match &self.by_name {
            Some(map) => map.get(key).copied(),
            None => self.names.iter().position(|(n, _)| n == key),
        }
    }

    /// Parses `data` (a JSON object) and returns one value per slot: the value of the slot's
    /// column, NULL for slots without a column or whose key is missing.
    pub fn read<'a>(&self, data: &'a str) -> PsResult<Vec<ColumnValue<'a>>> {
        let mut values = vec![ColumnValue::Null; self.len];
        let mut de = serde_json::Deserializer::from_str(data);
        let parsed = (&mut de)
            .deserialize_any(TopVisitor {
                slots: self,
                values: &mut values,
            })
            .and_then(|is_object| de.end().map(|()| is_object));
        match parsed {
            Ok(true) => Ok(values),
            Ok(false) => Err(PsError::invalid_argument("expected oplog data to be an object")),
            Err(e) => Err(PsError::new(ErrorKind::InvalidLocalData(e.to_string()))),
        }
    }
}

/// The top-level value: an object fills the slots (`true`); anything else is parsed through and
/// reported as not an object (`false`).
struct TopVisitor<'s, 'v, 'a> {
    slots: &'s ColumnSlots,
    values: &'v mut [ColumnValue<'a>],
}

impl<'de, 's, 'v> Visitor<'de> for TopVisitor<'s, 'v, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(name) = map.next_key_seed(KeySeed(self.slots))? {
            match name {
                Some(name) => {
                    let value = map.next_value_seed(ValueSeed)?;
                    let slots = &self.slots.names[name].1;
                    if let Some((last, rest)) = slots.split_last() {
                        for &slot in rest {
                            self.values[slot] = value.clone();
                        }
                        self.values[*last] = value;
                    }
                }
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        skip_seq(seq).map(|()| false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// A key: the index of its column in `ColumnSlots::names`, or `None` for other keys. The key is
/// parsed as a string (escapes decoded and checked, as for a `Map` key), then only compared.
struct KeySeed<'s>(&'s ColumnSlots);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.find(key))
    }
}

/// A column's value (see [`ColumnValue`]); arrays and objects are parsed through to NULL.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = ColumnValue<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ColumnValue<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = ColumnValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<ColumnValue<'de>, E> {
        Ok(ColumnValue::Integer(b as i64))
    }
    fn visit_i64<E>(self, i: i64) -> Result<ColumnValue<'de>, E> {
        Ok(ColumnValue::Integer(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<ColumnValue<'de>, E> {
        // `Number::as_i64` of a positive integer beyond i64, then `as_f64`.
        Ok(match i64::try_from(u) {
            Ok(i) => ColumnValue::Integer(i),
            Err(_) => ColumnValue::Real(u as f64),
        })
    }
    fn visit_f64<E>(self, f: f64) -> Result<ColumnValue<'de>, E> {
        Ok(ColumnValue::Real(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<ColumnValue<'de>, E> {
        Ok(ColumnValue::Text(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<ColumnValue<'de>, E> {
        Ok(ColumnValue::Text(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<ColumnValue<'de>, E> {
        Ok(ColumnValue::Text(Cow::Owned(s)))
    }
    fn visit_unit<E>(self) -> Result<ColumnValue<'de>, E> {
        Ok(ColumnValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ColumnValue<'de>, A::Error> {
        skip_seq(seq).map(|()| ColumnValue::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ColumnValue<'de>, A::Error> {
        skip_map(map).map(|()| ColumnValue::Null)
    }
}

/// A value that is parsed completely and dropped. Not `IgnoredAny`: serde_json's skipping does
/// not check number ranges or `\u` escapes, which building a `Map` does.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        skip_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        skip_map(map)
    }
}

/// A string key of a skipped object, decoded (and so checked) as a `Map` key is.
struct SkipKey;

impl<'de> DeserializeSeed<'de> for SkipKey {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(Skip)
    }
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element_seed(Skip)?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_key_seed(SkipKey)?.is_some() {
        map.next_value_seed(Skip)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
