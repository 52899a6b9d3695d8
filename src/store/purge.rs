//! Purging a source (`iocd purge --source NAME`): removes every record
//! that source alone reported, e.g. the demo data (`iocd-demo`) an
//! evaluation install loaded, or a feed imported by mistake.
//!
//! Unlike [`Store::delete`] (a false positive), a purge leaves **no
//! tombstone**: the values were not judged wrong, so a later import of
//! the same value by another source stores it again. Records that other
//! sources reported too are kept unchanged (the purged source stays in
//! their `sources`) and counted as `kept_shared`. Timeline counters are
//! history and are not decremented (docs/store.md, "Timeline counters").

use super::{count_key, read_u64, Query, Store, StoreError};
use crate::ioc::IocType;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// Records removed in one atomic sled batch.
const CHUNK: usize = 4096;

/// What [`Store::purge_source`] did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PurgeReport {
    /// The source purged, as given.
    pub source: String,
    /// Records removed (the source was their only one), by type.
    pub removed: BTreeMap<IocType, u64>,
    /// Records the source shares with other sources: kept.
    pub kept_shared: u64,
}

impl PurgeReport {
    /// Records removed over all types.
    pub fn removed_total(&self) -> u64 {
        self.removed.values().sum()
    }
}

impl Store {
    /// Removes every record whose only source is `source`
    /// (case-insensitive, as the listing's `source` filter), in atomic
    /// chunks of [`CHUNK`] records, then flushes. An interrupted purge
    /// leaves whole chunks removed and the rest intact; running it again
    /// finishes it.
    pub fn purge_source(&self, source: &str) -> Result<PurgeReport, StoreError> {
        let mut report = PurgeReport {
            source: source.to_string(),
            ..PurgeReport::default()
        };
        let q = Query {
            source: Some(source.to_string()),
            ..Query::default()
        };
        let mut doomed: Vec<(Uuid, IocType)> = Vec::new();
        for i in self.scan(&q) {
            let i = i?;
            if i.sources
                .iter()
                .all(|s| s.name.eq_ignore_ascii_case(source))
            {
                doomed.push((i.id, i.ioc_type));
            } else {
                report.kept_shared += 1;
            }
        }
        for chunk in doomed.chunks(CHUNK) {
            for (ty, n) in self.remove_records(chunk)? {
                *report.removed.entry(ty).or_insert(0) += n;
            }
        }
        self.flush()?;
        Ok(report)
    }

    /// Removes these records (no tombstones) in one atomic batch: each
    /// block is read once and all its removed records marked gone in its
    /// patch. Returns the records actually removed, by type.
    fn remove_records(
        &self,
        ids: &[(Uuid, IocType)],
    ) -> Result<BTreeMap<IocType, u64>, StoreError> {
        let _last = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut by_loc: BTreeMap<_, Vec<Uuid>> = BTreeMap::new();
        for (id, _) in ids {
            if let Some(loc) = self.locate(id)? {
                by_loc.entry(loc).or_default().push(*id);
            }
        }
        let mut removed: BTreeMap<IocType, u64> = BTreeMap::new();
        let mut gone: Vec<Uuid> = Vec::new();
        let mut batch = sled::Batch::default();
        for (loc, ids) in by_loc {
            let Some((mut touched, bytes)) = self.touch(loc)? else {
                continue;
            };
            for id in ids {
                if let Some(rec) = Self::record_in(&touched, &bytes, &id)? {
                    touched.mark(id, super::PatchOp::Gone);
                    *removed.entry(rec.ioc_type).or_insert(0) += 1;
                    gone.push(id);
                }
            }
            touched.write(self, &mut batch)?;
        }
        let mut counts: HashMap<IocType, u64> = HashMap::new();
        for (&ty, &n) in &removed {
            let cur = self
                .iocs
                .get(count_key(ty))?
                .map(|v| read_u64(&v))
                .unwrap_or(0);
            counts.insert(ty, cur.saturating_sub(n));
        }
        for (ty, n) in counts {
            batch.insert(&count_key(ty)[..], &n.to_be_bytes()[..]);
        }
        let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
        self.iocs.apply_batch(batch)?;
        self.generation.fetch_add(1, Ordering::Release);
        if let Some(ix) = self
            .index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            for id in &gone {
                ix.remove(id);
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{detect, Observation, Source};

    fn obs(v: &str, source: &str) -> Observation {
        let mut o = Observation::new(detect(v).unwrap());
        o.source = Some(Source::new(source, None));
        o
    }

    #[test]
    fn purge_removes_sole_source_records_keeps_shared_and_leaves_no_tombstone() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        // 5000 demo domains (more than one chunk and many blocks), one IP
        // shared with a real feed, and real-only records.
        let mut batch: Vec<Observation> = (0..5000)
            .map(|i| obs(&format!("d{i}.demo.example"), "iocd-demo"))
            .collect();
        batch.push(obs("192.0.2.7", "iocd-demo"));
        batch.push(obs("192.0.2.7", "feed-a"));
        batch.push(obs("evil.example.net", "feed-a"));
        batch.push(obs("198.51.100.9", "feed-b"));
        s.ingest(batch).unwrap();
        assert_eq!(s.total().unwrap(), 5003);

        let r = s.purge_source("IOCD-demo").unwrap();
        assert_eq!(r.removed.get(&IocType::Domain), Some(&5000));
        assert_eq!(r.removed_total(), 5000);
        assert_eq!(r.kept_shared, 1);
        assert_eq!(s.total().unwrap(), 3);
        assert_eq!(s.counts().unwrap()[&IocType::Domain], 1);
        assert_eq!(s.counts().unwrap()[&IocType::Ipv4], 2);
        // Nothing of the source alone is left, the shared one is.
        let left: Vec<String> = s
            .scan(&Query::default())
            .map(|i| i.unwrap().value)
            .collect();
        assert_eq!(left.len(), 3);
        assert!(
            left.iter().all(|v| !v.ends_with(".demo.example")),
            "{left:?}"
        );
        assert!(left.contains(&"192.0.2.7".to_string()));
        // No tombstone: re-importing a purged value stores it again.
        let id = crate::ioc::indicator_id(IocType::Domain, "d1.demo.example");
        assert!(s.tombstone(&id).unwrap().is_none());
        assert!(s.get(&id).unwrap().is_none());
        let again = s.ingest(vec![obs("d1.demo.example", "feed-c")]).unwrap();
        assert_eq!(again.new, 1);
        // The store is consistent, and a second purge finds nothing.
        assert!(s.verify(false).unwrap().is_consistent());
        assert_eq!(s.purge_source("iocd-demo").unwrap().removed_total(), 0);
    }
}
