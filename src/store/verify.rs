//! `iocd verify`: checks the invariants of the key layout (module doc of
//! [`crate::store`]) and repairs what can be repaired.
//!
//! Checked in one streaming pass over the blocks plus the id set of live
//! records (~24 bytes per IOC):
//! - every `B` block decodes, record by record, and each record's type
//!   agrees with its block key;
//! - every block has an `H` header listing exactly its ids; every `H` and
//!   `P` has its block; every patch decodes;
//! - no id is live in two blocks (a stale copy) or live though tombstoned;
//! - each `C` counter equals the number of live records of its type;
//! - no layout-1 key is left; tombstones and API key records decode.
//!
//! Repair (`--repair`, store not served) applies one atomic batch: the
//! blocks are authoritative, so a missing or wrong header is rewritten, an
//! orphan header or patch and an undecodable block are removed, a stale
//! copy or the remains of a deleted IOC are patched away, and counters are
//! rewritten. Undecodable tombstones and key records are reported only:
//! their content cannot be rebuilt.

use super::block::{self, BlockView, Patch, PatchOp};
use super::index::{IdIndex, Loc};
use super::{
    count_key, loc_key, parse_loc_key, read_u64, Store, StoreError, Tombstone, P_BLOCK, P_COUNT,
    P_HEADER, P_META, P_PATCH, P_TOMBSTONE,
};
use crate::ioc::IocType;
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Problems listed in full in a report; beyond this only counted.
const MAX_LISTED: usize = 200;

/// One inconsistency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Stable kind name (`missing_header`, `duplicate_record`, ...).
    pub kind: &'static str,
    /// The IOC id, key id or raw key (hex) concerned.
    pub key: String,
    pub detail: String,
}

/// The outcome of [`Store::verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Live records.
    pub records: u64,
    /// Record blocks.
    pub blocks: u64,
    pub tombstones: u64,
    /// Stored articles.
    pub articles: u64,
    pub api_keys: u64,
    /// Per type: live records counted by the scan.
    pub counted: BTreeMap<String, u64>,
    /// Number of problems of each kind.
    pub problem_counts: BTreeMap<&'static str, u64>,
    /// The first problems found (at most 200).
    pub problems: Vec<Problem>,
    /// True when `repair` was asked and the fixes were applied.
    pub repaired: bool,
    /// Problems that repair cannot fix (undecodable tombstones, key records, unknown keys).
    pub unrepairable: u64,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_consistent(&self) -> bool {
        self.problem_counts.is_empty()
    }

    fn problem(&mut self, kind: &'static str, key: String, detail: String) {
        *self.problem_counts.entry(kind).or_insert(0) += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(Problem { kind, key, detail });
        }
    }
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn loc_name(loc: Loc) -> String {
    format!("{}@{}", loc.ty().as_str(), loc.t())
}

impl Store {
    /// Verifies the store (and repairs it when `repair`). Holds the writer
    /// mutex throughout, so a server's in-flight ingest cannot show up as a
    /// half-written chunk.
    pub fn verify(&self, repair: bool) -> Result<VerifyReport, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tombstoned = self
            .tombstoned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut rep = VerifyReport::default();
        let mut fix = sled::Batch::default();
        let mut fixes = 0u64;
        let mut counted = [0u64; IocType::ALL.len()];
        // Live id -> its block; patches to add (stale copies, deleted ids).
        let mut live: IdIndex = IdIndex::default();
        let mut add_gone: BTreeMap<Loc, Vec<Uuid>> = BTreeMap::new();

        // Pass 1: blocks, with their headers and patches.
        for kv in self.iocs.scan_prefix([P_BLOCK]) {
            let (k, v) = kv?;
            let Some(loc) = parse_loc_key(&k) else {
                rep.problem("bad_block_key", hex(&k), "removed on repair".into());
                fix.remove(&k[..]);
                fixes += 1;
                continue;
            };
            rep.blocks += 1;
            let patch = match self.iocs.get(loc_key(P_PATCH, loc))? {
                None => Patch::default(),
                Some(p) => match Patch::decode(&p) {
                    Ok(p) => p,
                    Err(e) => {
                        rep.problem(
                            "undecodable_patch",
                            loc_name(loc),
                            format!("{e}; removed on repair"),
                        );
                        fix.remove(&loc_key(P_PATCH, loc)[..]);
                        fixes += 1;
                        Patch::default()
                    }
                },
            };
            let recs = BlockView::parse(&v).and_then(|view| {
                let ids: Vec<Uuid> = view.ids().collect();
                block::resolve(&view, Some(&patch)).map(|r| (ids, r))
            });
            let (ids, recs) = match recs {
                Ok(x) => x,
                Err(e) => {
                    rep.problem(
                        "undecodable_block",
                        loc_name(loc),
                        format!("{e}; removed on repair"),
                    );
                    for p in [P_BLOCK, P_HEADER, P_PATCH] {
                        fix.remove(&loc_key(p, loc)[..]);
                    }
                    fixes += 1;
                    continue;
                }
            };
            let header = self.iocs.get(loc_key(P_HEADER, loc))?;
            let want = block::encode_ids(ids.iter().copied());
            if header.as_deref() != Some(&want[..]) {
                let kind = if header.is_none() {
                    "missing_header"
                } else {
                    "header_mismatch"
                };
                rep.problem(kind, loc_name(loc), "rewritten on repair".into());
                fix.insert(&loc_key(P_HEADER, loc)[..], want);
                fixes += 1;
            }
            for rec in recs {
                if rec.ioc_type != loc.ty() {
                    rep.problem(
                        "record_type_mismatch",
                        rec.id.to_string(),
                        format!(
                            "a {} record in a {} block; dropped on repair",
                            rec.ioc_type.as_str(),
                            loc.ty().as_str()
                        ),
                    );
                    add_gone.entry(loc).or_default().push(rec.id);
                    fixes += 1;
                    continue;
                }
                if tombstoned.contains(&rec.id) {
                    rep.problem(
                        "tombstoned_record",
                        rec.id.to_string(),
                        "deleted IOC still stored; removed on repair".into(),
                    );
                    add_gone.entry(loc).or_default().push(rec.id);
                    fixes += 1;
                    continue;
                }
                // Blocks come in (type, t) order: a second live copy of an
                // id is newer than the first, which is the stale one.
                if let Some(older) = live.insert(rec.id, loc) {
                    rep.problem(
                        "duplicate_record",
                        rec.id.to_string(),
                        format!(
                            "also live in {}; the older copy is removed on repair",
                            loc_name(older)
                        ),
                    );
                    add_gone.entry(older).or_default().push(rec.id);
                    fixes += 1;
                    continue;
                }
                counted[loc.ty().code() as usize] += 1;
            }
        }
        rep.records = counted.iter().sum();
        for (loc, ids) in add_gone {
            if let Some((mut t, _)) = self.touch(loc)? {
                for id in ids {
                    t.mark(id, PatchOp::Gone);
                }
                t.write(self, &mut fix)?;
            }
        }
        drop(live);

        // Pass 2: headers and patches without a block, layout-1 leftovers.
        for prefix in [P_HEADER, P_PATCH] {
            for kv in self.iocs.scan_prefix([prefix]) {
                let (k, _) = kv?;
                let orphan = match parse_loc_key(&k) {
                    Some(loc) => !self.iocs.contains_key(loc_key(P_BLOCK, loc))?,
                    None => true,
                };
                if orphan {
                    rep.problem("orphan_block_entry", hex(&k), "removed on repair".into());
                    fix.remove(&k[..]);
                    fixes += 1;
                }
            }
        }

        // Pass 3: counters.
        let mut stored = [None::<u64>; IocType::ALL.len()];
        for kv in self.iocs.scan_prefix([P_COUNT]) {
            let (k, v) = kv?;
            match k.get(1).and_then(|c| IocType::from_code(*c)) {
                Some(ty) if k.len() == 2 && v.len() == 8 => {
                    stored[ty.code() as usize] = Some(read_u64(&v))
                }
                _ => {
                    rep.problem("bad_counter", hex(&k), format!("counter value {}", hex(&v)));
                    fix.remove(&k[..]);
                    fixes += 1;
                }
            }
        }
        for ty in IocType::ALL {
            let (want, have) = (
                counted[ty.code() as usize],
                stored[ty.code() as usize].unwrap_or(0),
            );
            rep.counted.insert(ty.as_str().to_string(), want);
            if want != have {
                rep.problem(
                    "count_mismatch",
                    ty.as_str().to_string(),
                    format!("counter says {have}, records {want}"),
                );
                fix.insert(&count_key(ty)[..], &want.to_be_bytes()[..]);
                fixes += 1;
            }
        }

        // Pass 4: tombstones, unknown prefixes, API keys (report only).
        for kv in self.iocs.iter() {
            let (k, v) = kv?;
            match k.first() {
                Some(&P_BLOCK) | Some(&P_HEADER) | Some(&P_PATCH) | Some(&P_COUNT)
                | Some(&P_META) => {}
                // Timeline counters: history of additions, not checked
                // against live records (deletes leave them; timeline.rs).
                Some(&super::timeline::P_TIMELINE) => {}
                // Articles and their id pointers (store/articles.rs).
                Some(&super::articles::P_ARTICLE) => {
                    rep.articles += 1;
                    if serde_json::from_slice::<crate::articles::Article>(&v).is_err() {
                        rep.problem("undecodable_article", hex(&k), "left in place".into());
                        rep.unrepairable += 1;
                    }
                }
                Some(&super::articles::P_ARTICLE_ID) => {}
                Some(&P_TOMBSTONE) => {
                    rep.tombstones += 1;
                    if super::codec::decode::<Tombstone>(&v).is_err() || k.len() != 17 {
                        rep.problem("undecodable_tombstone", hex(&k), "left in place".into());
                        rep.unrepairable += 1;
                    }
                }
                _ => {
                    rep.problem(
                        "unknown_key",
                        hex(&k),
                        "a key this iocd version does not know; left in place".into(),
                    );
                    rep.unrepairable += 1;
                }
            }
        }
        for kv in self.keys.iter() {
            let (k, v) = kv?;
            rep.api_keys += 1;
            match super::keys::decode_key(&v) {
                Ok(r) if r.id.as_bytes() == &k[..] => {}
                Ok(r) => {
                    rep.problem(
                        "api_key_mismatch",
                        String::from_utf8_lossy(&k).into_owned(),
                        format!("stored under another id ({})", r.id),
                    );
                    rep.unrepairable += 1;
                }
                Err(e) => {
                    rep.problem(
                        "undecodable_api_key",
                        String::from_utf8_lossy(&k).into_owned(),
                        format!("{e}; left in place"),
                    );
                    rep.unrepairable += 1;
                }
            }
        }

        if repair && fixes > 0 {
            let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
            self.iocs.apply_batch(fix)?;
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Release);
            drop(_w);
            self.flush()?;
            self.drop_index();
            rep.repaired = true;
        }
        Ok(rep)
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::encode_indicator;
    use super::*;
    use crate::ioc::{detect, Observation};

    fn obs(v: &str) -> Observation {
        Observation::new(detect(v).unwrap())
    }

    fn id(v: &str) -> Uuid {
        crate::ioc::indicator_id(detect(v).unwrap().ioc_type, v)
    }

    fn block_of(s: &Store, v: &str) -> Loc {
        s.index_mut().unwrap().as_ref().unwrap()[&id(v)]
    }

    #[test]
    fn finds_and_repairs_each_kind_of_damage() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.ingest(vec![obs("a.example"), obs("b.example"), obs("1.2.3.4")])
            .unwrap();
        s.ingest(vec![obs("c.example")]).unwrap();
        assert!(s.verify(false).unwrap().is_consistent());

        // a/b's block loses its header; c gets a stale copy in a/b's older
        // block; an orphan patch; the ipv4 counter is wrong.
        let ab = block_of(&s, "a.example");
        s.iocs.remove(loc_key(P_HEADER, ab)).unwrap();
        let c = s.get(&id("c.example")).unwrap().unwrap();
        let mut recs = block::resolve(
            &BlockView::parse(&s.iocs.get(loc_key(P_BLOCK, ab)).unwrap().unwrap()).unwrap(),
            None,
        )
        .unwrap();
        recs.push(c.clone());
        s.iocs
            .insert(loc_key(P_BLOCK, ab), block::encode_block(&mut recs))
            .unwrap();
        s.iocs
            .insert(
                loc_key(P_PATCH, Loc::new(IocType::Md5, 5)),
                Patch::default().encode(),
            )
            .unwrap();
        s.iocs
            .insert(count_key(IocType::Ipv4), &7u64.to_be_bytes()[..])
            .unwrap();

        let r = s.verify(false).unwrap();
        let kinds: Vec<_> = r.problem_counts.keys().copied().collect();
        for k in [
            "missing_header",
            "duplicate_record",
            "orphan_block_entry",
            "count_mismatch",
        ] {
            assert!(kinds.contains(&k), "{k} in {kinds:?}");
        }
        assert!(!r.repaired);
        assert!(s.verify(true).unwrap().repaired);
        let r = s.verify(false).unwrap();
        assert!(r.is_consistent(), "{:?}", r.problems);
        assert_eq!(r.counted["domain"], 3);
        assert_eq!(r.counted["ipv4"], 1);
        assert_eq!(s.total().unwrap(), 4);
        // The live c is the newer one, with its own content.
        assert_eq!(s.get(&id("c.example")).unwrap().unwrap(), c);
        let all = s
            .page(&super::super::Query {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.items.len(), 4);
    }

    #[test]
    fn undecodable_block_is_dropped_on_repair() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.ingest(vec![obs("a.example")]).unwrap();
        s.ingest(vec![obs("b.example")]).unwrap();
        let a = block_of(&s, "a.example");
        let mut bad = encode_indicator(&s.get(&id("a.example")).unwrap().unwrap());
        bad.truncate(4);
        s.iocs.insert(loc_key(P_BLOCK, a), bad).unwrap();
        let r = s.verify(true).unwrap();
        assert_eq!(r.problem_counts["undecodable_block"], 1);
        let r = s.verify(false).unwrap();
        assert!(r.is_consistent(), "{:?}", r.problems);
        assert_eq!(s.total().unwrap(), 1);
        assert!(s.get(&id("a.example")).unwrap().is_none());
        assert!(s.get(&id("b.example")).unwrap().is_some());
    }
}
