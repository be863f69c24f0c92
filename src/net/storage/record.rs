//! One write-ahead-log record as bytes.
//!
//! ```text
//! length: u32 LE | crc: u32 LE | payload (length bytes)
//! ```
//!
//! The CRC32 (`crc32fast`) covers the four length bytes and the payload, so a damaged length
//! is caught as surely as a damaged payload. The payload's first byte says what it is:
//!
//! - `1` append: the log index (u64 LE), then the entry as JSON;
//! - `2` truncate: the first index removed (u64 LE).

use crate::ids::LogIndex;
use crate::message::Entry;

/// Bytes before a record's payload: its length and its CRC.
pub(super) const HEADER_BYTES: usize = 8;

/// Longest payload a record may have. Entries are far smaller (a client frame is at most
/// 128 KiB); a length above this is damage, not data.
pub(super) const MAX_PAYLOAD_BYTES: usize = 16 << 20;

const APPEND: u8 = 1;
const TRUNCATE: u8 = 2;

/// What one record says happened to the log.
#[derive(Clone, Debug)]
pub(super) enum Record {
    /// The entry at `index` was appended (the log ended at `index - 1`).
    Append { index: LogIndex, entry: Entry },
    /// Every entry at `from` and after was removed.
    Truncate { from: LogIndex },
}

/// Append to `out` the record of `entry` appended at `index`.
pub(super) fn encode_append(out: &mut Vec<u8>, index: LogIndex, entry: &Entry) {
    let start = begin(out, APPEND);
    out.extend_from_slice(&index.0.to_le_bytes());
    serde_json::to_writer(&mut *out, entry).expect("a log entry serializes (no maps, no floats)");
    finish(out, start);
}

/// Append to `out` the record of the log truncated from `from`.
pub(super) fn encode_truncate(out: &mut Vec<u8>, from: LogIndex) {
    let start = begin(out, TRUNCATE);
    out.extend_from_slice(&from.0.to_le_bytes());
    finish(out, start);
}

/// Reserve the header and write the kind byte; returns where the record starts.
fn begin(out: &mut Vec<u8>, kind: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    out.push(kind);
    start
}

/// Fill in the length and CRC of the record that starts at `start`.
fn finish(out: &mut [u8], start: usize) {
    let payload = &out[start + HEADER_BYTES..];
    assert!(
        payload.len() <= MAX_PAYLOAD_BYTES,
        "a log record of {} bytes (entries are bounded by the wire's frame limits)",
        payload.len()
    );
    let len = (payload.len() as u32).to_le_bytes();
    let crc = checksum(len, payload).to_le_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + HEADER_BYTES].copy_from_slice(&crc);
}

fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(payload);
    hasher.finalize()
}

/// Why the bytes at an offset are not a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Bad {
    /// The file ends inside the record (or its header): what a write cut short leaves.
    Partial(String),
    /// The length is impossible or the CRC does not match: damage, or a torn write.
    Checksum(String),
    /// The CRC matches but the payload makes no sense: written wrong, never torn.
    Payload(String),
}

impl Bad {
    /// A crash in the middle of writing could have left this (if nothing valid follows).
    pub(super) fn could_be_torn(&self) -> bool {
        !matches!(self, Bad::Payload(_))
    }

    pub(super) fn reason(&self) -> &str {
        match self {
            Bad::Partial(r) | Bad::Checksum(r) | Bad::Payload(r) => r,
        }
    }
}

/// The record at `at` in `bytes` and the offset just after it; `Ok(None)` at the end.
pub(super) fn read(bytes: &[u8], at: usize) -> Result<Option<(Record, usize)>, Bad> {
    if at == bytes.len() {
        return Ok(None);
    }
    let payload = frame(bytes, at)?;
    let end = at + HEADER_BYTES + payload.len();
    Ok(Some((decode(payload)?, end)))
}

/// The payload of the record at `at`, if its header and CRC are sound.
fn frame(bytes: &[u8], at: usize) -> Result<&[u8], Bad> {
    let rest = &bytes[at..];
    if rest.len() < HEADER_BYTES {
        return Err(Bad::Partial(format!(
            "the file ends {} bytes into a record header",
            rest.len()
        )));
    }
    let len_bytes: [u8; 4] = rest[..4].try_into().expect("4 bytes");
    let crc = u32::from_le_bytes(rest[4..HEADER_BYTES].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || len > MAX_PAYLOAD_BYTES {
        return Err(Bad::Checksum(format!(
            "impossible record length {len} (1 to {MAX_PAYLOAD_BYTES})"
        )));
    }
    if rest.len() - HEADER_BYTES < len {
        return Err(Bad::Partial(format!(
            "the record says {len} bytes and the file ends after {}",
            rest.len() - HEADER_BYTES
        )));
    }
    let payload = &rest[HEADER_BYTES..HEADER_BYTES + len];
    let actual = checksum(len_bytes, payload);
    if actual != crc {
        return Err(Bad::Checksum(format!(
            "CRC mismatch (stored {crc:08x}, computed {actual:08x})"
        )));
    }
    Ok(payload)
}

fn decode(payload: &[u8]) -> Result<Record, Bad> {
    let (&kind, body) = payload
        .split_first()
        .expect("length checked to be at least 1");
    let index = |body: &[u8]| -> Result<(LogIndex, usize), Bad> {
        let bytes: [u8; 8] = body
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Bad::Payload("record too short for its log index".to_owned()))?;
        Ok((LogIndex(u64::from_le_bytes(bytes)), 8))
    };
    match kind {
        APPEND => {
            let (index, used) = index(body)?;
            let entry: Entry = serde_json::from_slice(&body[used..])
                .map_err(|e| Bad::Payload(format!("append record at index {index}: {e}")))?;
            if index.0 == 0 {
                return Err(Bad::Payload("append record at index 0".to_owned()));
            }
            Ok(Record::Append { index, entry })
        }
        TRUNCATE => {
            let (from, used) = index(body)?;
            if body.len() != used {
                return Err(Bad::Payload(format!(
                    "truncate record with {} stray bytes",
                    body.len() - used
                )));
            }
            if from.0 == 0 {
                return Err(Bad::Payload("truncate record from index 0".to_owned()));
            }
            Ok(Record::Truncate { from })
        }
        other => Err(Bad::Payload(format!("unknown record kind {other}"))),
    }
}

/// The first offset after `from` where a sound record (header and CRC) begins, if any: a
/// damaged record followed by one is not a torn tail. Cheap on real data: most offsets
/// fail the length check at once.
pub(super) fn next_sound_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&at| frame(bytes, at).is_ok())
}
