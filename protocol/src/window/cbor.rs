//! The binary window upload: the same batch as the JSON one
//! (`api::WindowBatch`), in CBOR (RFC 8949), histograms as byte strings of
//! their V2 + deflate octets instead of base64 text. Chosen by Content-Type
//! (`application/cbor`); the controller takes both and says so in its hello
//! answer (`Accept-Post`), and a client sends CBOR only to a controller that
//! said so (an old one would refuse the body as malformed JSON).
//!
//! ciborium, not minicbor: it is serde-based, so the batch, the envelope and
//! every counter are the very types (and field names) the JSON upload uses,
//! with no second set of annotations to keep in step.

use super::parts::{Base64Bytes, HistBytes, WindowParts};
use crate::api::{WindowBatch, WindowUpload};

/// Content-Type of the JSON upload.
pub const JSON: &str = "application/json";
/// Content-Type of the binary upload.
pub const CBOR: &str = "application/cbor";
/// The header a controller's hello answer lists the upload encodings it
/// takes in (`application/json, application/cbor`).
pub const ACCEPT_POST: &str = "accept-post";

/// How a window batch is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Json,
    Cbor,
}

impl Encoding {
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => JSON,
            Encoding::Cbor => CBOR,
        }
    }

    /// The encoding a Content-Type names: none is JSON (as before there was
    /// a choice); an unknown one is None (the controller answers 415).
    pub fn of_content_type(value: Option<&str>) -> Option<Encoding> {
        let Some(v) = value else {
            return Some(Encoding::Json);
        };
        let media = v.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case(JSON) {
            Some(Encoding::Json)
        } else if media.eq_ignore_ascii_case(CBOR) {
            Some(Encoding::Cbor)
        } else {
            None
        }
    }

    /// Whether an `Accept-Post` value lists this encoding.
    pub fn listed_in(self, accept_post: &str) -> bool {
        accept_post
            .split(',')
            .any(|m| Encoding::of_content_type(Some(m)) == Some(self) && !m.trim().is_empty())
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::Cbor => "cbor",
        }
    }
}

/// A batch as the binary upload carries it.
pub type BinaryBatch = WindowBatch<WindowParts<HistBytes>>;

/// Why a batch does not encode or transcode.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{0}")]
    Cbor(String),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// The CBOR octets of a batch.
pub fn encode(batch: &BinaryBatch) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256 + 512 * batch.windows.len());
    ciborium::into_writer(batch, &mut out).map_err(|e| CodecError::Cbor(e.to_string()))?;
    Ok(out)
}

/// Reads CBOR octets as a batch (its histograms not decoded yet).
pub fn decode(body: &[u8]) -> Result<BinaryBatch, CodecError> {
    ciborium::from_reader(body).map_err(|e| CodecError::Cbor(e.to_string()))
}

/// A JSON batch (as spooled by an agent) as CBOR: the histograms' base64
/// decoded to octets, nothing inflated or checked (the controller does that).
pub fn json_to_cbor(json: &[u8]) -> Result<Vec<u8>, CodecError> {
    let batch: WindowBatch<WindowParts<Base64Bytes>> = serde_json::from_slice(json)?;
    let windows = batch
        .windows
        .into_iter()
        .map(|w| WindowUpload {
            seq: w.seq,
            target: w.target,
            start_unix_ms: w.start_unix_ms,
            duration_ms: w.duration_ms,
            window: w
                .window
                .try_map(|h| Ok::<_, ()>(HistBytes(h.0.clone())))
                .unwrap_or_else(|_| unreachable!("infallible")),
            timestamping: w.timestamping,
            ssid: w.ssid,
        })
        .collect();
    encode(&WindowBatch {
        probe: batch.probe,
        windows,
    })
}

/// A CBOR batch as JSON, the other way round.
pub fn cbor_to_json(body: &[u8]) -> Result<Vec<u8>, CodecError> {
    let batch = decode(body)?;
    let windows = batch
        .windows
        .iter()
        .map(|w| {
            Ok(WindowUpload {
                seq: w.seq,
                target: w.target.clone(),
                start_unix_ms: w.start_unix_ms,
                duration_ms: w.duration_ms,
                window: serde_json::value::RawValue::from_string(w.window.to_json()?)?,
                timestamping: w.timestamping,
                ssid: w.ssid,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    Ok(serde_json::to_vec(&WindowBatch {
        probe: batch.probe,
        windows,
    })?)
}
