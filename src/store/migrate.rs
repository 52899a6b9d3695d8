//! Conversion of a layout-1 store (one `T` record and one `I` pointer per
//! IOC) to layout 2 (blocks), run by [`Store::open`] when `T` keys exist.
//!
//! Records that shared an index time (one layout-1 chunk) and a type
//! become one block at that time; `retime.rs` then gives each its own time
//! (never earlier), so cursors issued before the upgrade resume at or
//! before where they left off. Each block
//! is written in the same atomic batch that removes its `T` keys and their
//! pointers, so an interrupted conversion resumes at the next open with
//! nothing lost or doubled. A record that does not decode is left under
//! its `T` key for `iocd verify` to report.

use super::block::PatchOp;
use super::block::{encode_block, encode_ids};
use super::codec::decode_indicator;
use super::index::Loc;
use super::{
    loc_key, merge_indicators, read_u64, Pending, Store, StoreError, P_BLOCK, P_HEADER,
    P_LEGACY_POINTER, P_LEGACY_RECORD,
};
use crate::ioc::{Indicator, IocType};
use uuid::Uuid;

/// Records per atomic conversion batch (whole groups only).
const MIGRATE_BATCH: usize = 4096;

/// A parsed layout-1 record key `T ++ type ++ t ++ id`.
fn parse_legacy_key(k: &[u8]) -> Option<(IocType, i64, Uuid)> {
    if k.len() != 26 {
        return None;
    }
    let ty = IocType::from_code(k[1])?;
    let t = read_u64(&k[2..10]) as i64;
    Some((ty, t, Uuid::from_slice(&k[10..]).ok()?))
}

fn pointer_key(id: &Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = P_LEGACY_POINTER;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

impl Store {
    /// Converts layout-1 keys to blocks; returns the records converted.
    pub(super) fn migrate_layout1(&self) -> Result<u64, StoreError> {
        if self.iocs.scan_prefix([P_LEGACY_RECORD]).next().is_none()
            && self.iocs.scan_prefix([P_LEGACY_POINTER]).next().is_none()
        {
            return Ok(0);
        }
        tracing::info!("converting the store to layout 2 (packed blocks)");
        // Blocks already present mean the store was converted before and
        // an older iocd wrote to it since: records it wrote for IOCs that
        // already live in blocks are merged into them, not copied.
        let live = if self.iocs.scan_prefix([P_BLOCK]).next().is_some() {
            Some(self.build_index()?)
        } else {
            None
        };
        let mut conflicts: Vec<(Loc, Vec<u8>, Indicator)> = Vec::new();
        let mut converted = 0u64;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0usize;
        let mut group: Vec<Indicator> = Vec::new();
        let mut group_loc: Option<Loc> = None;
        let flush_group = |batch: &mut sled::Batch, loc: Loc, group: &mut Vec<Indicator>| {
            if group.is_empty() {
                return;
            }
            batch.insert(
                &loc_key(P_HEADER, loc)[..],
                encode_ids(group.iter().map(|r| r.id)),
            );
            batch.insert(&loc_key(P_BLOCK, loc)[..], encode_block(group));
            group.clear();
        };
        for kv in self.iocs.scan_prefix([P_LEGACY_RECORD]) {
            let (k, v) = kv?;
            let Some((ty, t, id)) = parse_legacy_key(&k) else {
                continue;
            };
            let Ok(rec) = decode_indicator(&v) else {
                continue;
            };
            if let Some(at) = live.as_ref().and_then(|ix| ix.get(&id)) {
                conflicts.push((*at, k.to_vec(), rec));
                continue;
            }
            let loc = Loc::new(ty, t);
            if group_loc != Some(loc) {
                if let Some(prev) = group_loc {
                    flush_group(&mut batch, prev, &mut group);
                    if in_batch >= MIGRATE_BATCH {
                        self.iocs.apply_batch(std::mem::take(&mut batch))?;
                        in_batch = 0;
                    }
                }
                group_loc = Some(loc);
            }
            batch.remove(&k[..]);
            batch.remove(&pointer_key(&id)[..]);
            group.push(rec);
            in_batch += 1;
            converted += 1;
        }
        if let Some(loc) = group_loc {
            flush_group(&mut batch, loc, &mut group);
        }
        self.iocs.apply_batch(batch)?;
        // Pointers of records that no longer exist.
        let mut batch = sled::Batch::default();
        for kv in self.iocs.scan_prefix([P_LEGACY_POINTER]) {
            batch.remove(kv?.0);
        }
        self.iocs.apply_batch(batch)?;
        converted += self.merge_conflicts(conflicts)?;
        self.flush()?;
        tracing::info!(records = converted, "store converted to layout 2");
        Ok(converted)
    }

    /// Merges layout-1 records into the live records of the same IOCs:
    /// each merged record moves to a new block (patching its old copy
    /// away), its `T` key goes in the same atomic batch, and the counter
    /// the older iocd raised for it is taken back.
    fn merge_conflicts(
        &self,
        mut conflicts: Vec<(Loc, Vec<u8>, Indicator)>,
    ) -> Result<u64, StoreError> {
        if conflicts.is_empty() {
            return Ok(0);
        }
        tracing::warn!(
            records = conflicts.len(),
            "an older iocd wrote to this converted store; merging its records"
        );
        let n = conflicts.len() as u64;
        conflicts.sort_by_key(|c| c.0);
        let mut last = self.newest_block_time()?;
        let mut pending = Pending::default();
        let mut it = conflicts.into_iter().peekable();
        while let Some((loc, key, rec)) = it.next() {
            let mut group = vec![(key, rec)];
            while it.peek().is_some_and(|c| c.0 == loc) {
                if let Some((_, k, r)) = it.next() {
                    group.push((k, r));
                }
            }
            let block = self.touch(loc)?;
            let mut block = block;
            for (key, rec) in group {
                let current = match &block {
                    Some((t, bytes)) => Store::record_in(t, bytes, &rec.id)?,
                    None => None,
                };
                match (current, block.as_mut()) {
                    (Some(cur), Some((t, _))) => {
                        t.mark(rec.id, PatchOp::Gone);
                        pending.count_fix[rec.ioc_type.code() as usize] -= 1;
                        pending.add(merge_indicators(&cur, &rec), false);
                    }
                    _ => pending.add(rec, false),
                }
                pending.remove.push(key);
            }
            if let Some((t, _)) = block {
                pending.touched.push(t);
            }
            if pending.len >= MIGRATE_BATCH {
                self.commit_pending(&mut pending, &mut last)?;
            }
        }
        self.commit_pending(&mut pending, &mut last)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::{encode_indicator, from_micros};
    use super::super::{Query, P_LEGACY_RECORD};
    use super::*;
    use crate::ioc::indicator_id;

    fn legacy_key(ty: IocType, t: i64, id: &Uuid) -> Vec<u8> {
        let mut k = vec![P_LEGACY_RECORD, ty.code()];
        k.extend_from_slice(&(t as u64).to_be_bytes());
        k.extend_from_slice(id.as_bytes());
        k
    }

    fn rec(ty: IocType, v: &str, t: i64) -> Indicator {
        let at = from_micros(t);
        Indicator {
            id: indicator_id(ty, v),
            ioc_type: ty,
            value: v.into(),
            first_seen: at,
            last_seen: at,
            added_at: at,
            modified: at,
            confidence: 60,
            tlp: None,
            tags: vec!["x".into()],
            sources: vec![],
            techniques: vec![],
            description: None,
            to_ids: true,
            reserved: false,
        }
    }

    #[test]
    fn a_layout1_store_converts_keeping_times_counts_and_lookups() {
        let d = tempfile::tempdir().unwrap();
        let t0 = 1_780_000_000_000_000;
        {
            // Write layout-1 keys with sled directly, as iocd 0.1 did.
            let db = sled::open(d.path()).unwrap();
            let iocs = db.open_tree("iocs").unwrap();
            for i in 0..100i64 {
                let ty = if i % 2 == 0 {
                    IocType::Domain
                } else {
                    IocType::Ipv4
                };
                let v = if ty == IocType::Domain {
                    format!("h{i}.example")
                } else {
                    format!("10.0.0.{i}")
                };
                // Ten layout-1 chunks of ten records.
                let r = rec(ty, &v, t0 + i / 10);
                iocs.insert(legacy_key(ty, t0 + i / 10, &r.id), encode_indicator(&r))
                    .unwrap();
                let mut p = vec![ty.code()];
                p.extend_from_slice(&((t0 + i / 10) as u64).to_be_bytes());
                iocs.insert(pointer_key(&r.id), p).unwrap();
            }
            for ty in [IocType::Domain, IocType::Ipv4] {
                iocs.insert([b'C', ty.code()], &50u64.to_be_bytes()[..])
                    .unwrap();
            }
            db.flush().unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.iocs.scan_prefix([P_LEGACY_RECORD]).count(), 0);
        assert_eq!(s.iocs.scan_prefix([P_LEGACY_POINTER]).count(), 0);
        assert_eq!(s.total().unwrap(), 100);
        let page = s
            .page(&Query {
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.items.len(), 100);
        assert!(page
            .items
            .windows(2)
            .all(|w| (w[0].modified, w[0].id) < (w[1].modified, w[1].id)));
        let id = indicator_id(IocType::Domain, "h42.example");
        let got = s.get(&id).unwrap().unwrap();
        // Converted records then get their own index times (retime.rs),
        // never earlier than they had: h42 was in the fifth chunk.
        assert!(got.modified >= from_micros(t0 + 4));
        assert!(page.items.windows(2).all(|w| w[0].modified < w[1].modified));
        assert!(s.verify(false).unwrap().is_consistent());
        // New writes land after every converted record.
        s.ingest(vec![crate::ioc::Observation::new(
            crate::ioc::detect("new.example").unwrap(),
        )])
        .unwrap();
        let newest = s
            .get(&indicator_id(IocType::Domain, "new.example"))
            .unwrap();
        assert!(newest.unwrap().modified > from_micros(t0 + 9));
    }

    #[test]
    fn records_an_older_iocd_wrote_after_conversion_are_merged_not_doubled() {
        let d = tempfile::tempdir().unwrap();
        let t0 = 1_780_000_000_000_000;
        let ids: Vec<Uuid>;
        {
            let s = Store::open(d.path()).unwrap();
            let mut batch = Vec::new();
            for i in 0..40 {
                let mut o = crate::ioc::Observation::new(
                    crate::ioc::detect(&format!("h{i}.example")).unwrap(),
                );
                o.source = Some(crate::ioc::Source {
                    name: "a".into(),
                    reference: None,
                    direction: None,
                });
                batch.push(o);
            }
            s.ingest(batch).unwrap();
            ids = (0..40)
                .map(|i| indicator_id(IocType::Domain, &format!("h{i}.example")))
                .collect();
            // What iocd 0.1 does with this store: it sees no `T` record,
            // so it writes every IOC as new and raises the counter.
            for (i, id) in ids.iter().enumerate().take(30) {
                let mut r = rec(IocType::Domain, &format!("h{i}.example"), t0 + 5);
                assert_eq!(r.id, *id);
                r.sources = vec![crate::ioc::Source {
                    name: "b".into(),
                    reference: None,
                    direction: None,
                }];
                s.iocs
                    .insert(
                        legacy_key(IocType::Domain, t0 + 5, id),
                        encode_indicator(&r),
                    )
                    .unwrap();
            }
            s.iocs
                .insert([b'C', IocType::Domain.code()], &70u64.to_be_bytes()[..])
                .unwrap();
            s.flush().unwrap();
        }
        let s = Store::open(d.path()).unwrap();
        assert_eq!(s.total().unwrap(), 40);
        assert!(s.verify(false).unwrap().is_consistent());
        for (i, id) in ids.iter().enumerate() {
            let got = s.get(id).unwrap().unwrap();
            let names: Vec<&str> = got.sources.iter().map(|x| x.name.as_str()).collect();
            let want: &[&str] = if i < 30 { &["a", "b"] } else { &["a"] };
            assert_eq!(names, want, "{i}");
            if i < 30 {
                assert_eq!(got.tags, vec!["x".to_string()]);
                assert!(got.to_ids);
            }
        }
        let all = s
            .page(&Query {
                limit: 1000,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.items.len(), 40);
    }
}
