//! JSON listing export: the API's IOC record (`GET /api/v1/iocs`), as a JSON
//! array or as JSON Lines.
//!
//! [`IocRecord`] is the one definition of that record; the CSV export and
//! the HTTP listing (which wraps records in its own envelope) use it too.

use super::mapping::{self, Timestamp};
use super::JsonSeq;
use crate::ioc::expiry::Lifetimes;
use crate::ioc::{ConfidenceLevel, Indicator, IocType, Source, Tlp};
use serde::Serialize;
use std::borrow::Borrow;
use std::io::{self, Write};
use uuid::Uuid;

/// The IOC record of the API:
///
/// ```json
/// {"id":"…","type":"ipv4","value":"1.2.3.4","confidence":85,
///  "confidence_level":"high","tlp":"green","tags":["c2"],
///  "sources":[{"name":"eset","reference":"…"}],"techniques":["T1071"],
///  "first_seen":"2024-12-08T14:30:00.000Z","last_seen":"…","added_at":"…",
///  "modified":"…","to_ids":true,"reserved":false,"description":null}
/// ```
///
/// Borrowed from the [`Indicator`]: building one per item allocates
/// nothing (timestamps serialize from a stack buffer). `tlp` is the TLP the IOC is exported with (its
/// own, or derived from confidence). Timestamps: RFC 3339, milliseconds, `Z`.
///
/// The API's listing, record and lookup add `"expires_at"` (its expiry
/// under `[expiry]`, `null` when its type never expires) and `"expired"`
/// ([`IocRecord::with_expiry`]); the file exports leave both out.
#[derive(Debug, Clone, Serialize)]
pub struct IocRecord<'a> {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub ioc_type: IocType,
    pub value: &'a str,
    pub confidence: u8,
    pub confidence_level: ConfidenceLevel,
    pub tlp: Tlp,
    pub tags: &'a [String],
    pub sources: &'a [Source],
    pub techniques: &'a [String],
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub added_at: Timestamp,
    pub modified: Timestamp,
    pub to_ids: bool,
    pub reserved: bool,
    pub description: Option<&'a str>,
    /// `Some(None)` prints `null` (never expires); `None` leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<Timestamp>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<bool>,
}

impl<'a> IocRecord<'a> {
    /// The record of `i`; `tlp` overrides the IOC's TLP when given.
    pub fn new(i: &'a Indicator, tlp: Option<Tlp>) -> IocRecord<'a> {
        IocRecord {
            id: i.id,
            ioc_type: i.ioc_type,
            value: &i.value,
            confidence: i.confidence,
            confidence_level: i.level(),
            tlp: mapping::tlp(i, tlp),
            tags: &i.tags,
            sources: &i.sources,
            techniques: &i.techniques,
            first_seen: Timestamp(i.first_seen),
            last_seen: Timestamp(i.last_seen),
            added_at: Timestamp(i.added_at),
            modified: Timestamp(i.modified),
            to_ids: i.to_ids,
            reserved: i.reserved,
            description: i.description.as_deref(),
            expires_at: None,
            expired: None,
        }
    }

    /// The same record with `expires_at` and `expired` (at `now`) under
    /// `lifetimes`.
    pub fn with_expiry(
        mut self,
        i: &Indicator,
        lifetimes: &Lifetimes,
        now: chrono::DateTime<chrono::Utc>,
    ) -> IocRecord<'a> {
        self.expires_at = Some(lifetimes.expires_at(i).map(Timestamp));
        self.expired = Some(lifetimes.is_expired(i, now));
        self
    }
}

/// Options of the JSON listing export.
#[derive(Debug, Clone, Default)]
pub struct JsonOptions {
    /// One TLP for every record instead of each IOC's own.
    pub tlp: Option<Tlp>,
    /// JSON Lines (one record per line, no array) instead of a JSON array.
    pub lines: bool,
}

/// Writes the records of `items` as a JSON array (`[\n{…},\n{…}\n]\n`) or,
/// with `lines`, one record per line. Returns the number written.
pub fn write_json<W, I>(w: &mut W, items: I, opts: &JsonOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    let mut n = 0u64;
    if opts.lines {
        for item in items {
            serde_json::to_writer(&mut *w, &IocRecord::new(item.borrow(), opts.tlp))
                .map_err(io::Error::from)?;
            w.write_all(b"\n")?;
            n += 1;
        }
        return Ok(n);
    }
    let mut seq = JsonSeq::begin(w)?;
    for item in items {
        seq.item(&IocRecord::new(item.borrow(), opts.tlp))?;
        n += 1;
    }
    seq.end()?.write_all(b"\n")?;
    Ok(n)
}
