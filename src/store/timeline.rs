//! Statistics timeline counters (issue #14, item 4): IOCs *added* (new
//! records) per hour and type, kept in the `iocs` tree so they change in
//! the same atomic batch as the records they count.
//!
//! Key layout: `A ++ type (u8) ++ hour (u32 BE, hours since the Unix
//! epoch)` → u64 BE count of records of that type whose `added_at` falls in
//! that hour. Day buckets are sums of 24 hour buckets (read side).
//!
//! Rules (docs/store.md, "Timeline counters"):
//! - only new records count; updates and re-sightings do not;
//! - a delete does **not** decrement: the counters are the history of
//!   additions, so a deleted false positive still counts in the hour it
//!   was added;
//! - a store written before the counters existed is backfilled once at
//!   open from the `added_at` of its live records, and `M:timeline` marks
//!   it done; reads never scan records.

use super::{Store, StoreError, P_META};
use crate::ioc::IocType;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Key prefix of the counters (unused by every other `P_*` prefix).
pub(super) const P_TIMELINE: u8 = b'A';
/// Marker key: the counters cover every stored record.
pub(super) const TIMELINE_KEY: &[u8] = b"M:timeline";

const _: () = assert!(TIMELINE_KEY[0] == P_META);

/// Added counts to fold into one batch: `(type, hour)` → records.
pub(super) type Added = BTreeMap<(IocType, u32), u64>;

/// The hour bucket (hours since the epoch) of a time; times before 1970
/// go to hour 0.
pub fn hour_of(t: DateTime<Utc>) -> u32 {
    (t.timestamp().max(0) / 3600).min(u32::MAX as i64) as u32
}

fn key(ty: IocType, hour: u32) -> [u8; 6] {
    let mut k = [0u8; 6];
    k[0] = P_TIMELINE;
    k[1] = ty.code();
    k[2..].copy_from_slice(&hour.to_be_bytes());
    k
}

impl Store {
    /// Adds `added` to the stored counters inside `batch` (read-modify-write
    /// under the writer mutex, like the per-type counters).
    pub(super) fn timeline_add(
        &self,
        batch: &mut sled::Batch,
        added: &Added,
    ) -> Result<(), StoreError> {
        for (&(ty, hour), &n) in added {
            let k = key(ty, hour);
            let cur = self.iocs.get(k)?.map(|v| super::read_u64(&v)).unwrap_or(0);
            batch.insert(&k[..], &(cur + n).to_be_bytes()[..]);
        }
        Ok(())
    }

    /// Added counts per hour in `[from_hour, to_hour]` for `types`: one
    /// range read per type, only non-zero hours returned, each with a count
    /// per type code (`IocType::ALL` order).
    pub fn timeline_hours(
        &self,
        from_hour: u32,
        to_hour: u32,
        types: &[IocType],
    ) -> Result<BTreeMap<u32, [u64; IocType::ALL.len()]>, StoreError> {
        let mut out: BTreeMap<u32, [u64; IocType::ALL.len()]> = BTreeMap::new();
        if from_hour > to_hour {
            return Ok(out);
        }
        for &ty in types {
            for kv in self.iocs.range(key(ty, from_hour)..=key(ty, to_hour)) {
                let (k, v) = kv?;
                if k.len() != 6 {
                    continue;
                }
                let hour = u32::from_be_bytes([k[2], k[3], k[4], k[5]]);
                out.entry(hour).or_insert([0; IocType::ALL.len()])[ty.code() as usize] +=
                    super::read_u64(&v);
            }
        }
        Ok(out)
    }

    /// Backfills the counters once from the live records' `added_at`
    /// (stores written before they existed); a no-op once `M:timeline` is
    /// set. Returns the records counted.
    pub(super) fn backfill_timeline(&self) -> Result<u64, StoreError> {
        if self.iocs.contains_key(TIMELINE_KEY)? {
            return Ok(0);
        }
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut added = Added::new();
        let mut n = 0;
        let q = super::Query::default();
        for i in self.scan(&q) {
            let i = i?;
            *added.entry((i.ioc_type, hour_of(i.added_at))).or_insert(0) += 1;
            n += 1;
        }
        // Old counters (an interrupted earlier backfill never leaves any:
        // the marker is in the same batch) are replaced.
        let mut batch = sled::Batch::default();
        for kv in self.iocs.scan_prefix([P_TIMELINE]) {
            batch.remove(kv?.0);
        }
        for (&(ty, hour), &c) in &added {
            batch.insert(&key(ty, hour)[..], &c.to_be_bytes()[..]);
        }
        batch.insert(TIMELINE_KEY, &[1u8][..]);
        self.iocs.apply_batch(batch)?;
        Ok(n)
    }

    /// Test support: removes the counters and the marker, as in a store
    /// written before they existed.
    #[cfg(test)]
    pub(super) fn drop_timeline(&self) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for kv in self.iocs.scan_prefix([P_TIMELINE]) {
            batch.remove(kv?.0);
        }
        batch.remove(TIMELINE_KEY);
        self.iocs.apply_batch(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{detect, Observation};

    fn obs(v: &str) -> Observation {
        Observation::new(detect(v).unwrap())
    }

    /// Sums per type of every counter, from the counters themselves.
    fn sums(s: &Store) -> BTreeMap<IocType, u64> {
        let mut m = BTreeMap::new();
        for (_, row) in s.timeline_hours(0, u32::MAX, &IocType::ALL).unwrap() {
            for ty in IocType::ALL {
                let n = row[ty.code() as usize];
                if n > 0 {
                    *m.entry(ty).or_insert(0) += n;
                }
            }
        }
        m
    }

    #[test]
    fn counters_count_new_records_only_and_survive_deletes() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let vals = ["evil.com", "bad.org", "1.2.3.4", "evil.com", "5.6.7.8"];
        s.ingest(vals.iter().map(|v| obs(v)).collect()).unwrap();
        s.ingest(vec![obs("bad.org")]).unwrap();
        // Computed from the input: distinct values per detected type.
        let mut want: BTreeMap<IocType, u64> = BTreeMap::new();
        let distinct: std::collections::BTreeSet<_> = vals.iter().collect();
        for v in distinct {
            *want.entry(detect(v).unwrap().ioc_type).or_insert(0) += 1;
        }
        assert_eq!(sums(&s), want);
        // The counters agree with the live per-type counts.
        for (t, n) in s.counts().unwrap() {
            assert_eq!(want.get(&t).copied().unwrap_or(0), n, "{t:?}");
        }
        // All in the current hour.
        let h = hour_of(Utc::now());
        let rows = s
            .timeline_hours(h.saturating_sub(1), h, &IocType::ALL)
            .unwrap();
        let total: u64 = rows.values().flat_map(|r| r.iter()).sum();
        assert_eq!(total, 4);
        // A delete leaves the history.
        let id = crate::ioc::indicator_id(IocType::Domain, "evil.com");
        s.delete(&id, None).unwrap();
        assert_eq!(sums(&s), want);
    }

    #[test]
    fn backfill_rebuilds_counters_of_an_older_store_once() {
        let d = tempfile::tempdir().unwrap();
        let want = {
            let s = Store::open(d.path()).unwrap();
            s.ingest(vec![obs("a.example"), obs("b.example"), obs("9.9.9.9")])
                .unwrap();
            let want = sums(&s);
            assert_eq!(want.values().sum::<u64>(), 3);
            s.drop_timeline().unwrap();
            assert!(sums(&s).is_empty());
            s.flush().unwrap();
            want
        };
        let s = Store::open(d.path()).unwrap();
        assert_eq!(sums(&s), want);
        // Marker set: a second run counts nothing.
        assert_eq!(s.backfill_timeline().unwrap(), 0);
        // Hours come from added_at.
        let q = crate::store::Query::default();
        let hours: std::collections::BTreeSet<u32> =
            s.scan(&q).map(|i| hour_of(i.unwrap().added_at)).collect();
        let got: std::collections::BTreeSet<u32> = s
            .timeline_hours(0, u32::MAX, &IocType::ALL)
            .unwrap()
            .into_keys()
            .collect();
        assert_eq!(got, hours);
    }
}
