//! Response framing of `/sync/stream`: NDJSON or a stream of BSON documents, chosen from the
//! request's `Accept` header like the real service does.

use serde::Serialize;

// The content types are the shared contract (`powersync-protocol`).
pub(crate) use powersync_protocol::framing::{BSON_CONTENT_TYPE as BSON, NDJSON_CONTENT_TYPE as NDJSON};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Ndjson,
    Bson,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FramingError {
    #[error("encoding a JSON line: {0}")]
    Json(#[from] serde_json::Error),
    #[error("encoding a BSON line: {0}")]
    Bson(#[from] bson::error::Error),
}

/// The `q` value of each media range in an Accept header (missing q = 1; bad q = 0).
fn quality(accept: &str, media: &str) -> Option<f32> {
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let name = parts.next()?;
            if !name.eq_ignore_ascii_case(media) {
                return None;
            }
            let q = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .unwrap_or(1.0);
            Some(q)
        })
        .reduce(f32::max)
}

impl Framing {
    /// BSON when the client lists it with a quality at least as high as NDJSON's (and above 0);
    /// NDJSON otherwise, including a missing or `*/*` Accept header.
    pub(crate) fn from_accept(accept: Option<&str>) -> Framing {
        let Some(accept) = accept else { return Framing::Ndjson };
        match (quality(accept, BSON), quality(accept, NDJSON)) {
            (Some(b), n) if b > 0.0 && b >= n.unwrap_or(0.0) => Framing::Bson,
            _ => Framing::Ndjson,
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Framing::Ndjson => NDJSON,
            Framing::Bson => BSON,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Framing::Ndjson => "ndjson",
            Framing::Bson => "bson",
        }
    }

    pub(crate) fn encode<T: Serialize>(self, line: &T) -> Result<Vec<u8>, FramingError> {
        match self {
            Framing::Ndjson => {
                let mut bytes = serde_json::to_vec(line)?;
                bytes.push(b'\n');
                Ok(bytes)
            }
            Framing::Bson => Ok(bson::serialize_to_vec(line)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::Line;

    #[test]
    fn accept_negotiation() {
        assert_eq!(Framing::from_accept(None), Framing::Ndjson);
        assert_eq!(Framing::from_accept(Some("*/*")), Framing::Ndjson);
        assert_eq!(Framing::from_accept(Some(NDJSON)), Framing::Ndjson);
        assert_eq!(Framing::from_accept(Some(BSON)), Framing::Bson);
        let sdk = powersync_protocol::framing::PREFER_BSON_ACCEPT;
        assert_eq!(Framing::from_accept(Some(sdk)), Framing::Bson);
        let prefers_json = "application/vnd.powersync.bson-stream;q=0.5, application/x-ndjson";
        assert_eq!(Framing::from_accept(Some(prefers_json)), Framing::Ndjson);
        assert_eq!(
            Framing::from_accept(Some("application/vnd.powersync.bson-stream;q=0")),
            Framing::Ndjson
        );
    }

    #[test]
    fn both_framings_encode_the_same_line() {
        let line = Line::CheckpointComplete { last_op_id: "7".into() };
        assert_eq!(
            Framing::Ndjson.encode(&line).unwrap(),
            b"{\"checkpoint_complete\":{\"last_op_id\":\"7\"}}\n"
        );
        let doc = Framing::Bson.encode(&line).unwrap();
        let len = i32::from_le_bytes(doc[..4].try_into().unwrap());
        assert_eq!(len as usize, doc.len());
        let back: bson::Document = bson::deserialize_from_slice(&doc).unwrap();
        assert_eq!(
            back.get_document("checkpoint_complete")
                .unwrap()
                .get_str("last_op_id")
                .unwrap(),
            "7"
        );
    }
}
