//! A decode-only BSON reader for `line_binary` sync lines: a serde `Deserializer` over the borrowed
//! bytes of one document (docs/decisions.md explains why not the `bson` crate).
//!
//! Every length comes from untrusted input, so each one is checked against the bytes of the
//! enclosing document before use and nothing is allocated from it. Recursion follows the nesting
//! of documents and arrays, and stops at `MAX_DEPTH` levels even inside values that are skipped,
//! so a hostile line cannot exhaust the stack.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::forward_to_deserialize_any;

/// Deepest nesting of documents and arrays, the top-level document included (serde_json stops at
/// 128 for the same reason).
pub const MAX_DEPTH: usize = 128;

const DOUBLE: u8 = 0x01;
const STRING: u8 = 0x02;
const DOCUMENT: u8 = 0x03;
const ARRAY: u8 = 0x04;
const BINARY: u8 = 0x05;
const BOOL: u8 = 0x08;
const NULL: u8 = 0x0A;
const INT32: u8 = 0x10;
const INT64: u8 = 0x12;

/// Why a document could not be decoded; `at` is a byte offset into the line.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    UnexpectedEnd {
        at: usize,
    },
    PastDocumentEnd {
        at: usize,
    },
    InvalidLength {
        len: i32,
        at: usize,
    },
    MissingNul {
        at: usize,
    },
    UnterminatedKey {
        at: usize,
    },
    EarlyDocumentEnd {
        at: usize,
    },
    InvalidUtf8 {
        at: usize,
    },
    InvalidBool {
        value: u8,
        at: usize,
    },
    UnknownType {
        element_type: u8,
        at: usize,
    },
    UnsupportedType {
        element_type: u8,
        at: usize,
    },
    NotSingleKey {
        at: usize,
    },
    TooDeep,
    /// A message from serde or one of the line types (`invalid type: ...`), kept verbatim.
    Custom(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::UnexpectedEnd { at } => write!(f, "unexpected end of input at byte {at}"),
            Error::PastDocumentEnd { at } => write!(f, "value at byte {at} runs past the end of its document"),
            Error::InvalidLength { len, at } => write!(f, "invalid length {len} at byte {at}"),
            Error::MissingNul { at } => write!(f, "missing NUL terminator at byte {at}"),
            Error::UnterminatedKey { at } => write!(f, "unterminated key at byte {at}"),
            Error::EarlyDocumentEnd { at } => write!(f, "document ends at byte {at}, before its declared length"),
            Error::InvalidUtf8 { at } => write!(f, "invalid UTF-8 in string at byte {at}"),
            Error::InvalidBool { value, at } => write!(f, "invalid boolean 0x{value:02x} at byte {at}"),
            Error::UnknownType { element_type, at } => {
                write!(f, "unknown element type 0x{element_type:02x} at byte {at}")
            }
            Error::UnsupportedType { element_type, at } => {
                write!(f, "unsupported element type 0x{element_type:02x} at byte {at}")
            }
            Error::NotSingleKey { at } => write!(f, "expected a document with exactly one key at byte {at}"),
            Error::TooDeep => write!(f, "documents nested deeper than {MAX_DEPTH} levels"),
            Error::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, Error>;

/// Decodes the first element of the document in `input` as a map (or externally tagged enum) of
/// that one element. Like the reference, whatever follows the first element is not read: more
/// keys, the final byte and bytes past the declared length.
pub fn from_first_element<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T> {
    let mut reader = Reader {
        input,
        pos: 0,
        limit: input.len(),
        depth: 1,
    };
    let declared = reader.length(5)?;
    if declared > input.len() {
        return Err(Error::UnexpectedEnd { at: input.len() });
    }
    // The first element may use every declared byte, the terminator's too.
    reader.limit = declared;
    T::deserialize(FirstElement { reader: &mut reader })
}

/// A cursor over the line. `limit` is the end of the innermost open document: no read goes past
/// it, so a length that is wrong for its document is found where it is read.
struct Reader<'de> {
    input: &'de [u8],
    pos: usize,
    limit: usize,
    /// Open documents and arrays, the top-level document included.
    depth: usize,
}

impl<'de> Reader<'de> {
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        let at = self.pos;
        match at.checked_add(n) {
            Some(end) if end <= self.limit => {
                self.pos = end;
                Ok(&self.input[at..end])
            }
            _ if self.limit == self.input.len() => Err(Error::UnexpectedEnd { at }),
            _ => Err(Error::PastDocumentEnd { at }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn int32(&mut self) -> Result<i32> {
        self.array().map(i32::from_le_bytes)
    }

    /// An int32 length of at least `min`.
    fn length(&mut self, min: usize) -> Result<usize> {
        let at = self.pos;
        let len = self.int32()?;
        usize::try_from(len)
            .ok()
            .filter(|&n| n >= min)
            .ok_or(Error::InvalidLength { len, at })
    }

    /// The bytes of a NUL-terminated key, the NUL consumed.
    fn cstring(&mut self) -> Result<&'de [u8]> {
        let at = self.pos;
        let rest = self.input.get(at..self.limit).unwrap_or_default();
        let n = rest.iter().position(|&b| b == 0).ok_or(Error::UnterminatedKey { at })?;
        self.pos = at + n + 1;
        Ok(&rest[..n])
    }

    /// The bytes of a length-prefixed string (length includes the NUL), the NUL checked.
    fn string_bytes(&mut self) -> Result<&'de [u8]> {
        let len = self.length(1)?;
        let bytes = self.take(len)?;
        match bytes.split_last() {
            Some((0, text)) => Ok(text),
            _ => Err(Error::MissingNul { at: self.pos - 1 }),
        }
    }

    fn string(&mut self) -> Result<&'de str> {
        let start = self.pos + 4;
        utf8(self.string_bytes()?, start)
    }

    /// Enters the document or array whose length prefix is next; returns the enclosing limit, to
    /// be handed back to `close`.
    fn open(&mut self) -> Result<usize> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::TooDeep);
        }
        let start = self.pos;
        let len = self.length(5)?;
        self.pos = start;
        self.take(len)?;
        self.pos = start + 4;
        self.depth += 1;
        Ok(std::mem::replace(&mut self.limit, start + len))
    }

    /// Leaves the open document once its terminator has been read by `element`.
    fn close(&mut self, outer_limit: usize) -> Result<()> {
        if self.pos != self.limit {
            return Err(Error::EarlyDocumentEnd { at: self.pos - 1 });
        }
        self.limit = outer_limit;
        self.depth -= 1;
        Ok(())
    }

    /// The next element's type and key, the reader left at its value; `None` at the terminator.
    fn element(&mut self) -> Result<Option<Element<'de>>> {
        let at = self.pos;
        if at >= self.limit {
            // The elements used up the document, its terminator's byte included.
            return Err(Error::MissingNul { at: self.limit - 1 });
        }
        let element_type = self.take(1)?[0];
        if element_type == 0 {
            return Ok(None);
        }
        let key = self.cstring()?;
        Ok(Some(Element { element_type, at, key }))
    }

    /// Moves past a value without decoding it, checking its structure (and nesting) as it goes.
    fn skip(&mut self, element_type: u8, at: usize) -> Result<()> {
        let fixed = match element_type {
            DOUBLE | INT64 | 0x09 | 0x11 => 8,
            // Strings, JavaScript code, symbols.
            STRING | 0x0D | 0x0E => {
                self.string_bytes()?;
                0
            }
            DOCUMENT | ARRAY => {
                let outer = self.open()?;
                while let Some(element) = self.element()? {
                    self.skip(element.element_type, element.at)?;
                }
                return self.close(outer);
            }
            BINARY => self.length(0)?.checked_add(1).ok_or(Error::UnexpectedEnd { at })?,
            // Undefined, null, min key, max key.
            0x06 | NULL | 0x7F | 0xFF => 0,
            // ObjectId.
            0x07 => 12,
            BOOL => 1,
            // Regular expression: pattern and options.
            0x0B => {
                self.cstring()?;
                self.cstring()?;
                0
            }
            // DBPointer: a string and an ObjectId.
            0x0C => {
                self.string_bytes()?;
                12
            }
            // Code with scope: its int32 total covers the length itself, a string and a document.
            0x0F => self.length(14)? - 4,
            INT32 => 4,
            // Decimal128.
            0x13 => 16,
            _ => return Err(Error::UnknownType { element_type, at }),
        };
        self.take(fixed).map(drop)
    }
}

fn utf8(bytes: &[u8], at: usize) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
        at: at + e.valid_up_to(),
    })
}

struct Element<'de> {
    element_type: u8,
    /// Where its type byte is.
    at: usize,
    key: &'de [u8],
}

impl<'de> Element<'de> {
    fn key(&self) -> Result<&'de str> {
        utf8(self.key, self.at + 1)
    }
}

/// The value of one element; the reader stands at its first byte.
struct Value<'a, 'de> {
    reader: &'a mut Reader<'de>,
    element_type: u8,
    at: usize,
}

impl<'a, 'de> Value<'a, 'de> {
    fn of(reader: &'a mut Reader<'de>, element: &Element<'de>) -> Self {
        Value {
            reader,
            element_type: element.element_type,
            at: element.at,
        }
    }
}

impl<'de> de::Deserializer<'de> for Value<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let reader = self.reader;
        match self.element_type {
            DOUBLE => visitor.visit_f64(f64::from_le_bytes(reader.array()?)),
            STRING => visitor.visit_borrowed_str(reader.string()?),
            DOCUMENT | ARRAY => {
                let outer = reader.open()?;
                let mut entries = Entries {
                    reader: &mut *reader,
                    pending: None,
                    done: false,
                    only_first: false,
                };
                let value = if self.element_type == DOCUMENT {
                    visitor.visit_map(&mut entries)?
                } else {
                    visitor.visit_seq(&mut entries)?
                };
                entries.drain()?;
                reader.close(outer)?;
                Ok(value)
            }
            BINARY => {
                let len = reader.length(0)?;
                reader.take(1)?; // subtype
                visitor.visit_borrowed_bytes(reader.take(len)?)
            }
            BOOL => {
                let at = reader.pos;
                match reader.take(1)?[0] {
                    0 => visitor.visit_bool(false),
                    1 => visitor.visit_bool(true),
                    value => Err(Error::InvalidBool { value, at }),
                }
            }
            NULL => visitor.visit_unit(),
            INT32 => visitor.visit_i32(i32::from_le_bytes(reader.array()?)),
            INT64 => visitor.visit_i64(i64::from_le_bytes(reader.array()?)),
            element_type => {
                // Measured first, so an unknown type is reported as such.
                reader.skip(element_type, self.at)?;
                Err(Error::UnsupportedType {
                    element_type,
                    at: self.at,
                })
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.element_type == NULL {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    /// Externally tagged: a string names a unit variant, a document of one key any variant.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.element_type {
            STRING => visitor.visit_enum(BorrowedStrDeserializer::new(self.reader.string()?)),
            DOCUMENT => {
                let reader = self.reader;
                let start = reader.pos;
                let outer = reader.open()?;
                let element = reader.element()?.ok_or(Error::NotSingleKey { at: start })?;
                let value = visitor.visit_enum(Variant {
                    reader: &mut *reader,
                    element,
                })?;
                if reader.element()?.is_some() {
                    return Err(Error::NotSingleKey { at: start });
                }
                reader.close(outer)?;
                Ok(value)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.reader.skip(self.element_type, self.at)?;
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// The elements of an open document (as map entries) or array (as items; keys ignored).
struct Entries<'a, 'de> {
    reader: &'a mut Reader<'de>,
    /// An element whose key was returned and whose value is still to be read.
    pending: Option<Element<'de>>,
    /// The terminator has been read (or, with `only_first`, the first element).
    done: bool,
    /// The top-level document: yields its first element only.
    only_first: bool,
}

impl<'de> Entries<'_, 'de> {
    fn next(&mut self) -> Result<Option<Element<'de>>> {
        if self.done {
            return Ok(None);
        }
        let element = self.reader.element()?;
        self.done = element.is_none() || self.only_first;
        Ok(element)
    }

    /// Skips what the visitor left unread, so the reader ends at the terminator either way.
    fn drain(&mut self) -> Result<()> {
        if let Some(element) = self.pending.take() {
            self.reader.skip(element.element_type, element.at)?;
        }
        while let Some(element) = self.next()? {
            self.reader.skip(element.element_type, element.at)?;
        }
        Ok(())
    }
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if let Some(element) = self.pending.take() {
            // The visitor skipped a value: move past it.
            self.reader.skip(element.element_type, element.at)?;
        }
        let Some(element) = self.next()? else {
            return Ok(None);
        };
        let key = seed.deserialize(BorrowedStrDeserializer::new(element.key()?))?;
        self.pending = Some(element);
        Ok(Some(key))
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value> {
        let element = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a map value was requested before its key"))?;
        seed.deserialize(Value::of(self.reader, &element))
    }
}

impl<'de> SeqAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.next()? {
            Some(element) => seed.deserialize(Value::of(self.reader, &element)).map(Some),
            None => Ok(None),
        }
    }
}

/// One element as an externally tagged enum: its key names the variant, its value the content.
struct Variant<'a, 'de> {
    reader: &'a mut Reader<'de>,
    element: Element<'de>,
}

impl<'a, 'de> EnumAccess<'de> for Variant<'a, 'de> {
    type Error = Error;
    type Variant = Value<'a, 'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Value<'a, 'de>)> {
        let name = seed.deserialize(BorrowedStrDeserializer::new(self.element.key()?))?;
        Ok((name, Value::of(self.reader, &self.element)))
    }
}

impl<'de> VariantAccess<'de> for Value<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

/// The top-level document, reduced to its first element (see `from_first_element`).
struct FirstElement<'a, 'de> {
    reader: &'a mut Reader<'de>,
}

impl<'de> de::Deserializer<'de> for FirstElement<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_map(Entries {
            reader: self.reader,
            pending: None,
            done: false,
            only_first: true,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let element = self.reader.element()?.ok_or(Error::NotSingleKey { at: 0 })?;
        visitor.visit_enum(Variant {
            reader: self.reader,
            element,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests;
