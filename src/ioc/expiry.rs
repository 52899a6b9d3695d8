//! Expiry (decay) of IOCs: a lifetime per IOC type, counted from the last
//! sighting by any source.
//!
//! An IP address or a URL stops being worth blocking some weeks after the
//! last report of it (infrastructure is rented, re-used, cleaned up); a file
//! hash stays what it is. So each type has a lifetime in days (0: never
//! expires), and an IOC is expired once `now >= last_seen + lifetime`.
//!
//! Why computed at read time and never stored: the store keeps no expiry
//! state at all, so
//! - a changed lifetime (`[expiry]` in the config, reloadable) applies to
//!   every stored IOC at once, in both directions;
//! - a re-sighting revives an IOC by the merge rule alone (`last_seen` =
//!   max of the sightings, see docs/store.md), with no sweep to run and no
//!   tombstone to undo;
//! - nothing is ever deleted: an expired IOC is only hidden from listings,
//!   exports, TAXII and rules unless the reader asks for it
//!   (`include_expired=true`, `iocd export --include-expired`).
//!
//! The check is one add and one compare per decoded record
//! ([`ExpiryFilter::admits`]), applied inside the store scan before a page
//! is counted, so pages stay full and cursors stay exact (see
//! `store/query.rs`).

use super::{Indicator, IocType};
use chrono::{DateTime, Utc};

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// Lifetime of each IOC type, microseconds; 0 means never expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Indexed by [`IocType::code`].
    micros: [i64; IocType::ALL.len()],
}

impl Default for Lifetimes {
    /// Never: no type expires.
    fn default() -> Self {
        Lifetimes::never()
    }
}

impl Lifetimes {
    /// No type expires.
    pub fn never() -> Lifetimes {
        Lifetimes {
            micros: [0; IocType::ALL.len()],
        }
    }

    /// Lifetimes from a number of days per type (0: never).
    pub fn from_days(days: impl Fn(IocType) -> u32) -> Lifetimes {
        let mut micros = [0; IocType::ALL.len()];
        for t in IocType::ALL {
            micros[t.code() as usize] = i64::from(days(t)) * DAY_MICROS;
        }
        Lifetimes { micros }
    }

    /// The lifetime of `t` in whole days; 0 when it never expires.
    pub fn days(&self, t: IocType) -> u32 {
        (self.micros[t.code() as usize] / DAY_MICROS) as u32
    }

    /// Whether any type has a lifetime (otherwise nothing ever expires and
    /// scans need no filter).
    pub fn any(&self) -> bool {
        self.micros.iter().any(|m| *m > 0)
    }

    /// When `i` expires, microseconds since the epoch: `last_seen +
    /// lifetime(type)`; `None` when its type never expires.
    pub fn expires_at_micros(&self, i: &Indicator) -> Option<i64> {
        let life = self.micros[i.ioc_type.code() as usize];
        (life > 0).then(|| i.last_seen.timestamp_micros().saturating_add(life))
    }

    /// When `i` expires (see [`Lifetimes::expires_at_micros`]); `None` when
    /// never.
    pub fn expires_at(&self, i: &Indicator) -> Option<DateTime<Utc>> {
        self.expires_at_micros(i)
            .and_then(DateTime::<Utc>::from_timestamp_micros)
    }

    /// Whether `i` is expired at `now` (`now >= last_seen + lifetime`).
    pub fn is_expired(&self, i: &Indicator, now: DateTime<Utc>) -> bool {
        self.expires_at_micros(i)
            .is_some_and(|e| now.timestamp_micros() >= e)
    }

    /// Whether a re-sighting that moved an IOC of type `t` from
    /// `old_last_seen` to `new_last_seen` must re-index it (move it to the
    /// head of the time order, with a new `modified`), although nothing
    /// else about it changed. Two cases, both only for a type with a
    /// lifetime `L`:
    /// - **revival**: it was expired at `now` and is live again, so pollers
    ///   (`since=`, TAXII `added_after=`) that passed it while it was hidden
    ///   receive it again;
    /// - **drift**: `last_seen` moved by at least `L / 2`, so the
    ///   `valid_until` a poller holds is never more than half a lifetime
    ///   behind the stored one.
    ///
    /// Otherwise a later `last_seen` is patched in place (cheap; the
    /// record keeps its place), see docs/store.md, "Merge rule".
    pub fn reindexes(
        &self,
        t: IocType,
        old_last_seen: DateTime<Utc>,
        new_last_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        let life = self.micros[t.code() as usize];
        if life == 0 {
            return false;
        }
        let (old, new, now) = (
            old_last_seen.timestamp_micros(),
            new_last_seen.timestamp_micros(),
            now.timestamp_micros(),
        );
        let revived = now >= old.saturating_add(life) && now < new.saturating_add(life);
        revived || new.saturating_sub(old) >= life / 2
    }

    /// The filter that admits the IOCs not expired at `now`; `None` when no
    /// type expires (no filter needed).
    pub fn filter_at(&self, now: DateTime<Utc>) -> Option<ExpiryFilter> {
        self.any().then(|| ExpiryFilter {
            lifetimes: *self,
            now: now.timestamp_micros(),
        })
    }
}

/// A record filter: admits the IOCs not expired at a fixed instant. Fixed
/// for a whole request, so every page of one scan agrees on what is
/// expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryFilter {
    lifetimes: Lifetimes,
    /// The instant, microseconds since the epoch.
    now: i64,
}

impl ExpiryFilter {
    /// Whether `i` is still live: its type never expires, or `now <
    /// last_seen + lifetime`.
    #[inline]
    pub fn admits(&self, i: &Indicator) -> bool {
        let life = self.lifetimes.micros[i.ioc_type.code() as usize];
        life == 0 || self.now < i.last_seen.timestamp_micros().saturating_add(life)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{detect, indicator_id, merge::new_record, Indicator, Observation};
    use chrono::Duration;

    fn ioc(raw: &str, last_seen: DateTime<Utc>) -> Indicator {
        let n = detect(raw).unwrap();
        let id = indicator_id(n.ioc_type, &n.value);
        new_record(id, &Observation::new(n), last_seen)
    }

    #[test]
    fn expired_exactly_at_last_seen_plus_lifetime() {
        let l = Lifetimes::from_days(|t| if t == IocType::Ipv4 { 30 } else { 0 });
        let seen = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ip = ioc("198.51.100.7", seen);
        let hash = ioc("44d88612fea8a8f36de82e1278abb02f", seen);
        let at = seen + Duration::days(30);
        assert_eq!(l.expires_at(&ip), Some(at));
        assert_eq!(l.expires_at(&hash), None);
        assert!(!l.is_expired(&ip, at - Duration::microseconds(1)));
        assert!(l.is_expired(&ip, at));
        assert!(!l.is_expired(&hash, at + Duration::days(9999)));
        let f = l.filter_at(at).unwrap();
        assert!(!f.admits(&ip));
        assert!(f.admits(&hash));
        assert!(l
            .filter_at(at - Duration::microseconds(1))
            .unwrap()
            .admits(&ip));
        assert_eq!(Lifetimes::never().filter_at(at), None);
        assert_eq!(l.days(IocType::Ipv4), 30);
    }

    #[test]
    fn reindexes_on_revival_and_on_half_a_lifetime() {
        let l = Lifetimes::from_days(|t| if t == IocType::Ipv4 { 30 } else { 0 });
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let d = Duration::days;
        // A day later: patched in place.
        assert!(!l.reindexes(IocType::Ipv4, t0, t0 + d(1), t0 + d(1)));
        // Just under half a lifetime: still in place; at half: re-indexed.
        assert!(!l.reindexes(
            IocType::Ipv4,
            t0,
            t0 + d(15) - Duration::microseconds(1),
            t0 + d(16)
        ));
        assert!(l.reindexes(IocType::Ipv4, t0, t0 + d(15), t0 + d(16)));
        // Expired at now (day 31); a sighting dated day 2 revives it
        // (day 2 + 30 > day 31) although it moved last_seen by one day.
        assert!(l.reindexes(IocType::Ipv4, t0, t0 + d(2), t0 + d(31)));
        // ... one dated day 1 minus a second does not: still expired.
        assert!(!l.reindexes(
            IocType::Ipv4,
            t0,
            t0 + d(1) - Duration::seconds(1),
            t0 + d(31)
        ));
        // Types that never expire never re-index.
        assert!(!l.reindexes(IocType::Sha256, t0, t0 + d(999), t0 + d(999)));
    }
}
