//! MISP event export (`GET /api/v1/iocs/misp`), as `docs/spec/misp-export.md`
//! describes it: one `Event` with one `Attribute` per IOC, ready for MISP's
//! `/events/add` (MISP core format).
//!
//! Output, streamed in one pass:
//!
//! ```text
//! {"Event":{"threat_level_id":"2","analysis":"2","distribution":"3","published":false,
//!  "Attribute":[ {…} × N ],
//!  "uuid":"…","info":"iocd IOCs — 2026-05-15 to 2026-05-17","date":"2026-05-17",
//!  "timestamp":"1779000000","Tag":[{"name":"tlp:amber"}, …]}}
//! ```
//!
//! The event fields that depend on the attributes (uuid, info's date range,
//! timestamp, the TLP tag) follow the attribute array: JSON objects are
//! unordered and MISP reads them in any order, and writing them last is what
//! lets a million attributes stream without being held in memory.
//!
//! Event uuid: deterministic from the content, UUIDv5 of the info text, the
//! attribute count, the XOR of the attribute uuids and the newest
//! modification time. Exporting the same IOCs in the same state twice gives
//! the same event, so MISP recognizes a repeated import instead of creating
//! a duplicate event; any change to the selection gives a new event. A
//! caller that keeps one MISP event per feed sets [`MispOptions::event_uuid`].
//!
//! ATT&CK techniques are not in the spec's type table, so `mitre_attack`
//! IOCs are not attributes: each becomes an event tag
//! `misp-galaxy:mitre-attack-pattern="<Name> - <Txxxx>"` (the MISP ATT&CK
//! galaxy's cluster value), and the techniques of other IOCs become the same
//! galaxy tags on their attributes.

use super::{mapping, JsonSeq};
use crate::ioc::{attack, Indicator, Tlp, ID_NAMESPACE};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::borrow::{Borrow, Cow};
use std::collections::BTreeSet;
use std::io::{self, Write};
use uuid::Uuid;

/// Options of the MISP export.
#[derive(Debug, Clone)]
pub struct MispOptions {
    /// One TLP for every attribute and the event instead of each IOC's own.
    pub tlp: Option<Tlp>,
    /// Start of the date range named in `info` (the query's `since`);
    /// default: the oldest exported modification time.
    pub since: Option<DateTime<Utc>>,
    /// End of the range (the query's `until`, or the request time); default:
    /// the newest exported modification time.
    pub until: Option<DateTime<Utc>>,
    /// Text before the date range in `info` (default "iocd IOCs").
    pub info_prefix: String,
    /// A fixed event uuid instead of the content-derived one.
    pub event_uuid: Option<Uuid>,
}

impl Default for MispOptions {
    fn default() -> Self {
        MispOptions {
            tlp: None,
            since: None,
            until: None,
            info_prefix: "iocd IOCs".to_string(),
            event_uuid: None,
        }
    }
}

/// MISP tag name of a TLP level (the `tlp` taxonomy: `tlp:clear`,
/// `tlp:amber+strict`, ...).
pub fn tlp_tag(t: Tlp) -> String {
    format!("tlp:{}", t.as_str())
}

/// MISP ATT&CK galaxy tag of a technique:
/// `misp-galaxy:mitre-attack-pattern="Application Layer Protocol - T1071"`.
/// Unknown ids (revoked, newer than the table) use the id as name.
pub fn attack_tag(id: &str) -> String {
    let name = attack::technique(id).map(|t| t.name.as_str()).unwrap_or(id);
    format!("misp-galaxy:mitre-attack-pattern=\"{name} - {id}\"")
}

#[derive(Serialize)]
struct Tag {
    name: String,
}

/// One attribute (MISP core format §2.3). Strings where MISP uses strings
/// (`timestamp` is unix seconds as text).
#[derive(Serialize)]
struct Attribute<'a> {
    uuid: Uuid,
    #[serde(rename = "type")]
    ty: &'static str,
    category: &'static str,
    value: &'a str,
    to_ids: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<Cow<'a, str>>,
    timestamp: String,
    first_seen: mapping::Timestamp,
    last_seen: mapping::Timestamp,
    #[serde(rename = "Tag")]
    tags: Vec<Tag>,
}

/// Event fields written before the attributes: constants only.
const EVENT_HEAD: &str =
    "{\"Event\":{\"threat_level_id\":\"2\",\"analysis\":\"2\",\"distribution\":\"3\",\"published\":false,\"Attribute\":";

/// Event fields written after the attributes.
#[derive(Serialize)]
struct EventTail {
    uuid: Uuid,
    info: String,
    date: String,
    timestamp: String,
    /// Unix seconds as text, like `timestamp` (MISP core format §2.2.1.5;
    /// PyMISP reads it as a datetime). The event is not published
    /// (`published` false): this says when its content was last final.
    publish_timestamp: String,
    #[serde(rename = "Tag")]
    tags: Vec<Tag>,
}

/// Writes one MISP event holding `items` and returns the number of IOCs in
/// it (attributes plus ATT&CK techniques turned into event tags).
///
/// Attribute: `uuid` = the IOC id (deterministic), `type`/`category` from
/// [`mapping`] (ipv4/ipv6 → `ip-src`, or `ip-dst` when a source stated
/// that direction (a MISP import's `ip-dst`), domain, url,
/// md5/sha1/sha256/sha512, email → `email-src` (`email-dst` likewise), cve
/// → `vulnerability`; Network activity, Payload delivery, External
/// analysis), `value`, `to_ids` (the IOC's; always false for
/// `vulnerability`), `comment` ([`mapping::comment`]: the description,
/// else `C2 IP from "<report title>"`), `timestamp` (modified, unix
/// seconds), `first_seen`/`last_seen`, `Tag` = TLP, tags, ATT&CK galaxy tags.
///
/// Event: `threat_level_id` "2" (medium), `analysis` "2" (completed),
/// `distribution` "3" (all communities), `published` false (the importing
/// analyst decides), `info` "<prefix> — <from> to <to>", `date`, `timestamp`
/// (newest attribute), `Tag` = the most restrictive TLP of the attributes (or
/// the override) and the ATT&CK galaxy tags, `publish_timestamp` (= the
/// event `timestamp`).
pub fn write_misp<W, I>(w: &mut W, items: I, opts: &MispOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    w.write_all(EVENT_HEAD.as_bytes())?;
    let mut seq = JsonSeq::begin(w)?;
    // `n`: attributes written (what callers report); `seen`: records read
    // (named in the event uuid, which must not change with this rule).
    let mut n = 0u64;
    let mut seen = 0u64;
    let mut max_tlp: Option<Tlp> = None;
    let mut techniques: BTreeSet<String> = BTreeSet::new();
    let mut oldest: Option<DateTime<Utc>> = None;
    let mut newest: Option<DateTime<Utc>> = None;
    let mut id_xor = 0u128;
    for item in items {
        let i = item.borrow();
        seen += 1;
        oldest = Some(oldest.map_or(i.modified, |t| t.min(i.modified)));
        newest = Some(newest.map_or(i.modified, |t| t.max(i.modified)));
        id_xor ^= i.id.as_u128();
        let Some(kind) = mapping::mapping(i.ioc_type).misp else {
            // mitre_attack: an event galaxy tag. The set holds one short
            // string per distinct technique id (ATT&CK has ~700), not per IOC.
            techniques.insert(i.value.clone());
            continue;
        };
        n += 1;
        let tlp = mapping::tlp(i, opts.tlp);
        max_tlp = max_tlp.max(Some(tlp));
        let mut tags = Vec::with_capacity(1 + i.tags.len() + i.techniques.len());
        tags.push(Tag { name: tlp_tag(tlp) });
        tags.extend(i.tags.iter().map(|t| Tag { name: t.clone() }));
        tags.extend(i.techniques.iter().map(|t| Tag {
            name: attack_tag(t),
        }));
        seq.item(&Attribute {
            uuid: i.id,
            ty: mapping::misp_type(i, &kind),
            category: kind.category,
            value: &i.value,
            to_ids: i.to_ids && kind.to_ids,
            comment: mapping::comment(i),
            timestamp: i.modified.timestamp().to_string(),
            first_seen: mapping::Timestamp(i.first_seen),
            last_seen: mapping::Timestamp(i.last_seen),
            tags,
        })?;
    }
    let w = seq.end()?;

    let until = opts.until.or(newest).unwrap_or_else(Utc::now);
    let since = opts.since.or(oldest).unwrap_or(until);
    let date = until.format("%Y-%m-%d").to_string();
    // A `since` after `until` (a date in the future) selects nothing: say
    // so instead of printing an inverted range.
    let info = if since > until {
        format!(
            "{} — none since {} (after {date})",
            opts.info_prefix,
            since.format("%Y-%m-%d")
        )
    } else {
        format!(
            "{} — {} to {}",
            opts.info_prefix,
            since.format("%Y-%m-%d"),
            date
        )
    };
    let timestamp = newest.unwrap_or(until).timestamp();
    let uuid = opts.event_uuid.unwrap_or_else(|| {
        let name = format!("misp-event:{info}:{seen}:{id_xor:032x}:{timestamp}");
        Uuid::new_v5(&ID_NAMESPACE, name.as_bytes())
    });
    let event_tlp = opts.tlp.or(max_tlp).unwrap_or(Tlp::Clear);
    let mut tags = vec![Tag {
        name: tlp_tag(event_tlp),
    }];
    tags.extend(techniques.iter().map(|t| Tag {
        name: attack_tag(t),
    }));
    let tail = EventTail {
        uuid,
        info,
        date,
        timestamp: timestamp.to_string(),
        publish_timestamp: timestamp.to_string(),
        tags,
    };
    // Splice the tail's fields into the open Event object: `,"uuid":…}}`.
    let tail = serde_json::to_string(&tail).map_err(io::Error::from)?;
    w.write_all(b",")?;
    w.write_all(&tail.as_bytes()[1..])?;
    w.write_all(b"}\n")?;
    Ok(n)
}
