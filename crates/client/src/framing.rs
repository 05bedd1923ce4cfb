//! Splitting the `/sync/stream` response body into sync lines (docs/protocol.md, "HTTP stream").

/// The framing chosen from the response `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Ndjson,
    Bson,
}

// The content types and Accept headers are the shared contract (`powersync-protocol`).
pub(crate) use powersync_protocol::framing::BSON_CONTENT_TYPE;
/// `Accept` when only NDJSON is wanted.
pub(crate) use powersync_protocol::framing::NDJSON_CONTENT_TYPE as NDJSON_ACCEPT;
/// `Accept` by default: BSON preferred, as the SDKs send it.
pub(crate) use powersync_protocol::framing::PREFER_BSON_ACCEPT as STREAM_ACCEPT;

impl Framing {
    /// Exactly the BSON stream type selects BSON; anything else is NDJSON.
    pub(crate) fn from_content_type(content_type: Option<&str>) -> Framing {
        match content_type {
            Some(ct) if ct == BSON_CONTENT_TYPE => Framing::Bson,
            _ => Framing::Ndjson,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("a sync line is not valid UTF-8")]
    InvalidUtf8,
    #[error("BSON document length {0} is below the minimum of 5")]
    BadBsonLength(i32),
    #[error("the stream ended inside a BSON document ({0} bytes left over)")]
    TruncatedBson(usize),
}

/// One framed line, ready for `line_text` or `line_binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    Text(String),
    Binary(Vec<u8>),
}

/// Incremental framer: feed chunks as they arrive, then `finish` at the end of the body.
pub(crate) struct Framer {
    framing: Framing,
    buf: Vec<u8>,
}

impl Framer {
    pub(crate) fn new(framing: Framing) -> Self {
        Framer {
            framing,
            buf: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Line>, FramingError> {
        self.buf.extend_from_slice(chunk);
        match self.framing {
            Framing::Ndjson => self.take_ndjson(),
            Framing::Bson => self.take_bson(),
        }
    }

    pub(crate) fn finish(mut self) -> Result<Option<Line>, FramingError> {
        let rest = std::mem::take(&mut self.buf);
        match self.framing {
            Framing::Ndjson => text_line(&rest),
            Framing::Bson if rest.is_empty() => Ok(None),
            Framing::Bson => Err(FramingError::TruncatedBson(rest.len())),
        }
    }

    fn take_ndjson(&mut self) -> Result<Vec<Line>, FramingError> {
        let mut lines = Vec::new();
        // '\n' never occurs inside a multi-byte UTF-8 sequence, so splitting bytes is safe.
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            if let Some(line) = text_line(&self.buf[start..start + pos])? {
                lines.push(line);
            }
            start += pos + 1;
        }
        self.buf.drain(..start);
        Ok(lines)
    }

    fn take_bson(&mut self) -> Result<Vec<Line>, FramingError> {
        let mut docs = Vec::new();
        let mut start = 0;
        while self.buf.len() - start >= 4 {
            let header: [u8; 4] = self.buf[start..start + 4].try_into().expect("4 bytes");
            let len = i32::from_le_bytes(header);
            if len < 5 {
                return Err(FramingError::BadBsonLength(len));
            }
            let len = len as usize;
            if self.buf.len() - start < len {
                break;
            }
            docs.push(Line::Binary(self.buf[start..start + len].to_vec()));
            start += len;
        }
        self.buf.drain(..start);
        Ok(docs)
    }
}

fn text_line(bytes: &[u8]) -> Result<Option<Line>, FramingError> {
    let text = std::str::from_utf8(bytes).map_err(|_| FramingError::InvalidUtf8)?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| Line::Text(text.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(framing: Framing, chunks: &[&[u8]]) -> Result<Vec<Line>, FramingError> {
        let mut f = Framer::new(framing);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(f.push(c)?);
        }
        out.extend(f.finish()?);
        Ok(out)
    }

    fn text(s: &str) -> Line {
        Line::Text(s.to_string())
    }

    #[test]
    fn content_type_selects_framing() {
        assert_eq!(Framing::from_content_type(Some(BSON_CONTENT_TYPE)), Framing::Bson);
        assert_eq!(
            Framing::from_content_type(Some("application/x-ndjson")),
            Framing::Ndjson
        );
        assert_eq!(
            Framing::from_content_type(Some("application/vnd.powersync.bson-stream; x=1")),
            Framing::Ndjson
        );
        assert_eq!(Framing::from_content_type(None), Framing::Ndjson);
    }

    #[test]
    fn ndjson_lines_across_chunks() {
        let lines = feed(Framing::Ndjson, &[b"{\"a\":", b"1}\n  \n{\"b\"", b":2}\r\n\n{\"c\":3}"]).unwrap();
        assert_eq!(lines, vec![text("{\"a\":1}"), text("{\"b\":2}"), text("{\"c\":3}")]);
    }

    #[test]
    fn ndjson_every_split_point_gives_the_same_lines() {
        let body = "{\"x\":\"é€\"}\n{\"y\":2}\n".as_bytes();
        for split in 0..=body.len() {
            let lines = feed(Framing::Ndjson, &[&body[..split], &body[split..]]).unwrap();
            assert_eq!(
                lines,
                vec![text("{\"x\":\"é€\"}"), text("{\"y\":2}")],
                "split at {split}"
            );
        }
    }

    #[test]
    fn ndjson_rejects_invalid_utf8() {
        assert_eq!(feed(Framing::Ndjson, &[b"\xff\xfe\n"]), Err(FramingError::InvalidUtf8));
    }

    fn bson_doc(payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() + 5) as i32;
        let mut d = len.to_le_bytes().to_vec();
        d.extend_from_slice(payload);
        d.push(0);
        d
    }

    #[test]
    fn bson_documents_across_chunks() {
        let a = bson_doc(b"\x10a\x00\x01\x00\x00\x00");
        let b = bson_doc(b"");
        let mut body = a.clone();
        body.extend_from_slice(&b);
        for split in 0..=body.len() {
            for split2 in split..=body.len() {
                let lines = feed(Framing::Bson, &[&body[..split], &body[split..split2], &body[split2..]]).unwrap();
                assert_eq!(lines, vec![Line::Binary(a.clone()), Line::Binary(b.clone())]);
            }
        }
    }

    #[test]
    fn bson_length_below_five_is_an_error() {
        assert_eq!(
            feed(Framing::Bson, &[&4i32.to_le_bytes()]),
            Err(FramingError::BadBsonLength(4))
        );
        assert_eq!(
            feed(Framing::Bson, &[&(-1i32).to_le_bytes()]),
            Err(FramingError::BadBsonLength(-1))
        );
    }

    #[test]
    fn bson_truncated_at_end_is_an_error() {
        let a = bson_doc(b"abc");
        assert_eq!(
            feed(Framing::Bson, &[&a[..a.len() - 1]]),
            Err(FramingError::TruncatedBson(a.len() - 1))
        );
        assert_eq!(feed(Framing::Bson, &[&a[..2]]), Err(FramingError::TruncatedBson(2)));
    }
}
