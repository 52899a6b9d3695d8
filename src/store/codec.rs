//! The on-disk encoding of records: one leading format byte, then bincode 2
//! (standard config) of a private, compact mirror of the domain struct
//! (times as i64 microseconds, not RFC 3339 strings). This is the only place
//! that knows the encoding, so moving to another format touches one file.
//!
//! **Extension tail.** Fields added after format 1 was frozen follow the
//! bincode body as a second bincode value, [`IndicatorExt`], written only
//! when one of them is set. bincode's `decode_from_slice` stops after the
//! body, so an older iocd reads such a record and ignores the tail (and
//! rewrites it without it: only the direction is lost), while records
//! written before the tail existed decode with every extension field empty.
//! No format bump, no conversion, either way.

use crate::ioc::{Direction, Indicator, IocType, Source, Tlp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Current record format. Bump it and keep a decoder for the old one when
/// the layout of [`IndicatorV1`] changes.
const FORMAT_V1: u8 = 1;

/// Why stored bytes could not be decoded (corruption or a newer format).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty record")]
    Empty,
    #[error("record format {0} is unknown to this iocd version (newer data directory?)")]
    UnknownFormat(u8),
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

#[derive(Serialize, Deserialize)]
struct IndicatorV1 {
    id: [u8; 16],
    ioc_type: u8,
    value: String,
    first_seen: i64,
    last_seen: i64,
    added_at: i64,
    modified: i64,
    confidence: u8,
    tlp: Option<Tlp>,
    tags: Vec<String>,
    sources: Vec<(String, Option<String>)>,
    techniques: Vec<String>,
    description: Option<String>,
    to_ids: bool,
    reserved: bool,
}

/// The extension tail (see the module docs). Fields are only ever
/// appended, each decoding from its absence as "unset".
#[derive(Serialize, Deserialize, Default)]
struct IndicatorExt {
    /// Per source, in `sources` order: 0 none, 1 [`Direction::Src`],
    /// 2 [`Direction::Dst`] (MISP `ip-src`/`ip-dst` kept for the export).
    directions: Vec<u8>,
}

fn direction_code(d: Option<Direction>) -> u8 {
    match d {
        None => 0,
        Some(Direction::Src) => 1,
        Some(Direction::Dst) => 2,
    }
}

fn direction_of(code: u8) -> Option<Direction> {
    match code {
        1 => Some(Direction::Src),
        2 => Some(Direction::Dst),
        _ => None,
    }
}

/// Microseconds since the Unix epoch.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// Inverse of [`micros`]; out-of-range values clamp to the epoch.
pub fn from_micros(m: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(m).unwrap_or_default()
}

/// Encodes an indicator as `[FORMAT_V1] ++ bincode(IndicatorV1)`.
pub fn encode_indicator(i: &Indicator) -> Vec<u8> {
    let v = IndicatorV1 {
        id: *i.id.as_bytes(),
        ioc_type: i.ioc_type.code(),
        value: i.value.clone(),
        first_seen: micros(i.first_seen),
        last_seen: micros(i.last_seen),
        added_at: micros(i.added_at),
        modified: micros(i.modified),
        confidence: i.confidence,
        tlp: i.tlp,
        tags: i.tags.clone(),
        sources: i
            .sources
            .iter()
            .map(|s| (s.name.clone(), s.reference.clone()))
            .collect(),
        techniques: i.techniques.clone(),
        description: i.description.clone(),
        to_ids: i.to_ids,
        reserved: i.reserved,
    };
    let mut out = vec![FORMAT_V1];
    // Encoding plain owned data into a Vec cannot fail.
    let body = bincode::serde::encode_to_vec(&v, bincode::config::standard()).unwrap_or_default();
    out.extend_from_slice(&body);
    if i.sources.iter().any(|s| s.direction.is_some()) {
        let ext = IndicatorExt {
            directions: i
                .sources
                .iter()
                .map(|s| direction_code(s.direction))
                .collect(),
        };
        let tail =
            bincode::serde::encode_to_vec(&ext, bincode::config::standard()).unwrap_or_default();
        out.extend_from_slice(&tail);
    }
    out
}

/// Decodes bytes written by [`encode_indicator`].
pub fn decode_indicator(b: &[u8]) -> Result<Indicator, CodecError> {
    let (&fmt, body) = b.split_first().ok_or(CodecError::Empty)?;
    if fmt != FORMAT_V1 {
        return Err(CodecError::UnknownFormat(fmt));
    }
    let (v, used): (IndicatorV1, usize) =
        bincode::serde::decode_from_slice(body, bincode::config::standard())
            .map_err(|e| CodecError::Corrupt(e.to_string()))?;
    let ext: IndicatorExt = match body.get(used..) {
        Some(tail) if !tail.is_empty() => {
            bincode::serde::decode_from_slice(tail, bincode::config::standard())
                .map(|(e, _)| e)
                .map_err(|e| CodecError::Corrupt(format!("extension: {e}")))?
        }
        _ => IndicatorExt::default(),
    };
    let ioc_type = IocType::from_code(v.ioc_type)
        .ok_or_else(|| CodecError::Corrupt(format!("type code {}", v.ioc_type)))?;
    Ok(Indicator {
        id: Uuid::from_bytes(v.id),
        ioc_type,
        value: v.value,
        first_seen: from_micros(v.first_seen),
        last_seen: from_micros(v.last_seen),
        added_at: from_micros(v.added_at),
        modified: from_micros(v.modified),
        confidence: v.confidence,
        tlp: v.tlp,
        tags: v.tags,
        sources: v
            .sources
            .into_iter()
            .enumerate()
            .map(|(k, (name, reference))| Source {
                name,
                reference,
                direction: ext.directions.get(k).copied().and_then(direction_of),
            })
            .collect(),
        techniques: v.techniques,
        description: v.description,
        to_ids: v.to_ids,
        reserved: v.reserved,
    })
}

/// Encodes any serde value with the same versioned framing (API keys,
/// tombstones).
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    encode_as(FORMAT_V1, v)
}

/// Decodes bytes written by [`encode`].
pub fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, CodecError> {
    let (fmt, body) = split_format(b)?;
    if fmt != FORMAT_V1 {
        return Err(CodecError::UnknownFormat(fmt));
    }
    decode_body(body)
}

/// [`encode`] with another leading format byte, for a record type whose
/// layout grew (bincode is not self-describing, so a new field needs a new
/// format number and the old layout keeps its decoder).
pub fn encode_as<T: Serialize>(format: u8, v: &T) -> Vec<u8> {
    let mut out = vec![format];
    out.extend(bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap_or_default());
    out
}

/// Splits stored bytes into (format byte, body) so the caller can pick the
/// layout to decode the body with ([`decode_body`]).
pub fn split_format(b: &[u8]) -> Result<(u8, &[u8]), CodecError> {
    let (&fmt, body) = b.split_first().ok_or(CodecError::Empty)?;
    Ok((fmt, body))
}

/// Decodes a body (the bytes after the format byte) as `T`.
pub fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| CodecError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::indicator_id;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = from_micros(1_700_000_000_123_456);
        let i = Indicator {
            id: indicator_id(IocType::Domain, "evil.com"),
            ioc_type: IocType::Domain,
            value: "evil.com".into(),
            first_seen: t,
            last_seen: t,
            added_at: t,
            modified: t,
            confidence: 80,
            tlp: Some(Tlp::AmberStrict),
            tags: vec!["apt".into()],
            sources: vec![Source {
                name: "eset".into(),
                reference: Some("x".into()),
                direction: None,
            }],
            techniques: vec!["T1071".into()],
            description: None,
            to_ids: true,
            reserved: false,
        };
        let b = encode_indicator(&i);
        assert_eq!(decode_indicator(&b).unwrap(), i);
        assert!(matches!(decode_indicator(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode_indicator(&[9, 1, 2]),
            Err(CodecError::UnknownFormat(9))
        ));
        assert!(matches!(
            decode_indicator(&b[..b.len() / 2]),
            Err(CodecError::Corrupt(_))
        ));
    }

    #[test]
    fn direction_tail_round_trips_and_old_decoders_ignore_it() {
        let t = from_micros(1_700_000_000_000_000);
        let mut i = Indicator {
            id: indicator_id(IocType::Ipv4, "203.0.113.9"),
            ioc_type: IocType::Ipv4,
            value: "203.0.113.9".into(),
            first_seen: t,
            last_seen: t,
            added_at: t,
            modified: t,
            confidence: 50,
            tlp: None,
            tags: vec![],
            sources: vec![
                Source::new("a", None),
                Source {
                    name: "b".into(),
                    reference: Some("Op X".into()),
                    direction: Some(Direction::Dst),
                },
            ],
            techniques: vec![],
            description: None,
            to_ids: true,
            reserved: true,
        };
        let plain = {
            let mut p = i.clone();
            p.sources[1].direction = None;
            encode_indicator(&p)
        };
        let with_tail = encode_indicator(&i);
        assert!(with_tail.len() > plain.len());
        assert_eq!(decode_indicator(&with_tail).unwrap(), i);
        // What format-1 decoders before the tail do: the body alone.
        let (old, _): (IndicatorV1, usize) =
            bincode::serde::decode_from_slice(&with_tail[1..], bincode::config::standard())
                .unwrap();
        assert_eq!(old.sources.len(), 2);
        // A record without a tail (every record stored before) has none.
        i.sources[1].direction = None;
        assert_eq!(decode_indicator(&plain).unwrap(), i);
    }
}
