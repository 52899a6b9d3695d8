//! The one merge rule for re-sightings (docs/store.md, "Merge rule").
//!
//! Every way two reports of one IOC meet goes through here: two rows of one
//! file, two files of one `iocd import`, two items of one `POST
//! /api/v1/iocs`, a later import of a known IOC, and the layout-1 records an
//! older iocd wrote into a converted store. So a set of observations gives
//! the same stored record however it is split into batches and calls (a
//! property test in `store/tests.rs` checks it).
//!
//! The rule, for a stored record `r` and an observation `o` seen at `s`
//! (`o.seen`, or the commit time when the source gave none):
//! - `first_seen = min(r.first_seen, s)`, `last_seen = max(r.last_seen, s)`;
//! - `confidence` = the highest stated (a record starts at the observation's
//!   confidence, or [`DEFAULT_CONFIDENCE`] when it states none);
//! - `tlp` = the most restrictive stated;
//! - tags, ATT&CK techniques and sources (name + reference) = the union in
//!   arrival order, the first [`MAX_TAGS`] / [`MAX_TECHNIQUES`] /
//!   [`MAX_SOURCES`] kept; tags and techniques are kept sorted;
//! - `description` = the first one given; `to_ids` and `reserved` = any.
//!
//! Pure functions: no I/O, no clock (the caller passes the commit time).

use super::{Indicator, Observation, Source, DEFAULT_CONFIDENCE};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Most sources one IOC keeps (one hot IOC seen by thousands of feeds
/// cannot grow its record without limit).
pub const MAX_SOURCES: usize = 64;
/// Most tags one IOC keeps.
pub const MAX_TAGS: usize = 64;
/// Most ATT&CK techniques one IOC keeps.
pub const MAX_TECHNIQUES: usize = 64;

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T, cap: usize) -> bool {
    if v.len() < cap && !v.contains(&x) {
        v.push(x);
        true
    } else {
        false
    }
}

/// Adds `tags`, `techniques` and `sources` to `r` (union, capped, tags and
/// techniques sorted). Returns whether anything was added.
fn union_into<'a>(
    r: &mut Indicator,
    tags: impl IntoIterator<Item = &'a String>,
    techniques: impl IntoIterator<Item = &'a String>,
    sources: impl IntoIterator<Item = &'a Source>,
) -> bool {
    let mut tags_added = false;
    for x in tags {
        tags_added |= push_unique(&mut r.tags, x.clone(), MAX_TAGS);
    }
    if tags_added {
        r.tags.sort();
    }
    let mut tech_added = false;
    for x in techniques {
        tech_added |= push_unique(&mut r.techniques, x.clone(), MAX_TECHNIQUES);
    }
    if tech_added {
        r.techniques.sort();
    }
    let mut src_added = false;
    for s in sources {
        src_added |= push_unique(&mut r.sources, s.clone(), MAX_SOURCES);
    }
    tags_added || tech_added || src_added
}

/// The record a first observation creates, committed at `now` (which is
/// also its `added_at`/`modified` until the store assigns its index time).
pub fn new_record(id: Uuid, o: &Observation, now: DateTime<Utc>) -> Indicator {
    let seen = o.seen.unwrap_or(now);
    let mut r = Indicator {
        id,
        ioc_type: o.ioc_type,
        value: o.value.clone(),
        first_seen: seen,
        last_seen: seen,
        added_at: now,
        modified: now,
        confidence: o.confidence.unwrap_or(DEFAULT_CONFIDENCE).min(100),
        tlp: o.tlp,
        tags: Vec::new(),
        sources: Vec::new(),
        techniques: Vec::new(),
        description: o.description.clone(),
        to_ids: o.to_ids,
        reserved: o.reserved,
    };
    union_into(&mut r, &o.tags, &o.techniques, &o.source);
    r
}

/// What merging one observation into a record changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Nothing at all.
    None,
    /// Only `last_seen` moved later (a plain re-sighting: the store writes
    /// a small patch and the record keeps its place in the time order).
    LastSeen,
    /// Content changed (anything else): the record is re-indexed at the
    /// commit time, so pollers see it again.
    Content,
}

/// Merges observation `o` into `r` in place by the rule above; `now` is the
/// commit time, used when `o` states no time.
pub fn merge(r: &mut Indicator, o: &Observation, now: DateTime<Utc>) -> Change {
    let seen = o.seen.unwrap_or(now);
    let mut content = false;
    if seen < r.first_seen {
        r.first_seen = seen;
        content = true;
    }
    let moved = seen > r.last_seen;
    if moved {
        r.last_seen = seen;
    }
    if let Some(c) = o.confidence.map(|c| c.min(100)) {
        if c > r.confidence {
            r.confidence = c;
            content = true;
        }
    }
    if o.tlp.is_some() && o.tlp > r.tlp {
        r.tlp = o.tlp;
        content = true;
    }
    content |= union_into(r, &o.tags, &o.techniques, &o.source);
    if r.description.is_none() && o.description.is_some() {
        r.description = o.description.clone();
        content = true;
    }
    if o.to_ids && !r.to_ids {
        r.to_ids = true;
        content = true;
    }
    if o.reserved && !r.reserved {
        r.reserved = true;
        content = true;
    }
    match (content, moved) {
        (true, _) => Change::Content,
        (false, true) => Change::LastSeen,
        (false, false) => Change::None,
    }
}

/// Merges two stored versions of one indicator (a layout-1 record an older
/// iocd wrote into a converted store, and the live one): the union of what
/// each knows, by the same rule; the earlier `added_at` is kept.
pub fn merge_indicators(a: &Indicator, b: &Indicator) -> Indicator {
    let mut r = a.clone();
    r.first_seen = a.first_seen.min(b.first_seen);
    r.last_seen = a.last_seen.max(b.last_seen);
    r.added_at = a.added_at.min(b.added_at);
    r.confidence = a.confidence.max(b.confidence);
    r.tlp = a.tlp.max(b.tlp);
    union_into(&mut r, &b.tags, &b.techniques, &b.sources);
    if r.description.is_none() {
        r.description = b.description.clone();
    }
    r.to_ids |= b.to_ids;
    r.reserved |= b.reserved;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{IocType, Tlp};

    fn at(day: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2016, 1, day, 0, 0, 0).unwrap()
    }

    fn obs(day: u32, src: &str) -> Observation {
        Observation {
            ioc_type: IocType::Domain,
            value: "dup.example.com".into(),
            reserved: false,
            seen: Some(at(day)),
            confidence: None,
            tlp: None,
            tags: vec![format!("t-{src}")],
            source: Some(Source {
                name: src.into(),
                reference: Some(format!("ref-{src}")),
                direction: None,
            }),
            techniques: Vec::new(),
            description: None,
            to_ids: true,
        }
    }

    #[test]
    fn earliest_first_seen_latest_last_seen_every_source() {
        let now = at(30);
        let a = obs(20, "b");
        let b = obs(1, "a");
        let mut r = new_record(a.id(), &a, now);
        assert_eq!(merge(&mut r, &b, now), Change::Content);
        assert_eq!((r.first_seen, r.last_seen), (at(1), at(20)));
        let names: Vec<_> = r.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(r.tags, ["t-a", "t-b"]);
        // A later sighting with nothing new only moves last_seen.
        let mut c = obs(25, "a");
        c.tags = vec!["t-b".into()];
        assert_eq!(merge(&mut r, &c, now), Change::LastSeen);
        assert_eq!(r.last_seen, at(25));
        assert_eq!(merge(&mut r, &c, now), Change::None);
    }

    #[test]
    fn confidence_and_tlp_take_the_strongest() {
        let now = at(30);
        let mut a = obs(1, "a");
        a.confidence = Some(30);
        a.tlp = Some(Tlp::Amber);
        let mut b = obs(1, "a");
        b.confidence = Some(90);
        b.tlp = Some(Tlp::Green);
        let mut r = new_record(a.id(), &a, now);
        assert_eq!(r.confidence, 30);
        merge(&mut r, &b, now);
        assert_eq!((r.confidence, r.tlp), (90, Some(Tlp::Amber)));
    }

    #[test]
    fn caps_keep_the_first_arrivals() {
        let now = at(30);
        let mut a = obs(1, "a");
        a.tags = (0..MAX_TAGS + 10)
            .rev()
            .map(|n| format!("{n:03}"))
            .collect();
        let r = new_record(a.id(), &a, now);
        assert_eq!(r.tags.len(), MAX_TAGS);
        // The first 64 given (73 down to 10), sorted.
        assert_eq!(r.tags.first().map(String::as_str), Some("010"));
        assert_eq!(r.tags.last().map(String::as_str), Some("073"));
    }
}
