//! `iocd verify`: checks the invariants of the key layout (module doc of
//! [`crate::store`]) and repairs what can be repaired.
//!
//! Checked, in two streaming passes (point reads, no per-IOC memory):
//! - every `T` record decodes, and its key agrees with its content (type,
//!   `modified` time, id);
//! - every record has an `I` pointer that points back at it; a record whose
//!   pointer points at another live record is a stale duplicate;
//! - every `I` pointer parses and points at an existing record;
//! - no record or pointer exists for a tombstoned (deleted) id;
//! - each `C` counter equals the number of records of its type;
//! - tombstones and API key records decode.
//!
//! Repair (`--repair`, store not served) applies one atomic batch: the
//! record data is authoritative, so a record without a pointer gets one, a
//! record under the wrong key moves to the right one, a dangling pointer, a
//! stale duplicate, an undecodable record or the remains of a deleted IOC
//! are removed, and counters are rewritten. Undecodable tombstones and key
//! records are reported only: their content cannot be rebuilt.

use super::codec::{decode_indicator, micros};
use super::keys::ApiKeyRecord;
use super::{
    count_key, parse_pointer, pointer_key, pointer_value, read_u64, record_key, Store, StoreError,
    Tombstone, P_COUNT, P_POINTER, P_RECORD, P_TOMBSTONE,
};
use crate::ioc::IocType;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Problems listed in full in a report; beyond this only counted.
const MAX_LISTED: usize = 200;

/// One inconsistency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Stable kind name (`missing_pointer`, `dangling_pointer`, ...).
    pub kind: &'static str,
    /// The IOC id, key id or raw key (hex) concerned.
    pub key: String,
    pub detail: String,
}

/// The outcome of [`Store::verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub records: u64,
    pub pointers: u64,
    pub tombstones: u64,
    pub api_keys: u64,
    /// Per type: records counted by the scan.
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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A parsed `T` key.
fn parse_record_key(k: &[u8]) -> Option<(IocType, i64, Uuid)> {
    if k.len() != 26 {
        return None;
    }
    let ty = IocType::from_code(k[1])?;
    let t = read_u64(&k[2..10]) as i64;
    let id = Uuid::from_slice(&k[10..]).ok()?;
    Some((ty, t, id))
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
        // Pointer changes planned by the record pass: id -> new pointer
        // (None: removed). The pointer pass reads through it.
        let mut planned: HashMap<Uuid, Option<[u8; 9]>> = HashMap::new();
        let mut counted = [0u64; IocType::ALL.len()];

        // Pass 1: records.
        for kv in self.iocs.scan_prefix([P_RECORD]) {
            let (k, v) = kv?;
            rep.records += 1;
            let Some((ty, t, id)) = parse_record_key(&k) else {
                rep.problem(
                    "bad_record_key",
                    hex(&k),
                    "record key of the wrong length or type code".into(),
                );
                fix.remove(&k[..]);
                fixes += 1;
                continue;
            };
            let rec = match decode_indicator(&v) {
                Ok(r) => r,
                Err(e) => {
                    rep.problem(
                        "undecodable_record",
                        id.to_string(),
                        format!("{e}; the record is lost"),
                    );
                    fix.remove(&k[..]);
                    fixes += 1;
                    // Its pointer goes too (a valid copy met later gets a new one).
                    let ptr = self.iocs.get(pointer_key(&id))?;
                    if !planned.contains_key(&id)
                        && ptr.as_deref() == Some(&pointer_value(ty, t)[..])
                    {
                        fix.remove(&pointer_key(&id)[..]);
                        planned.insert(id, None);
                    }
                    continue;
                }
            };
            if tombstoned.contains(&id) {
                rep.problem(
                    "deleted_but_present",
                    id.to_string(),
                    "a record of a deleted (tombstoned) IOC".into(),
                );
                fix.remove(&k[..]);
                fix.remove(&pointer_key(&id)[..]);
                planned.insert(id, None);
                fixes += 1;
                continue;
            }
            let (rty, rt) = (rec.ioc_type, micros(rec.modified));
            if rec.id != id || rty != ty || rt != t {
                rep.problem(
                    "record_key_mismatch",
                    id.to_string(),
                    format!(
                        "key says {}/{t}/{id}, record says {}/{rt}/{}",
                        ty.as_str(),
                        rty.as_str(),
                        rec.id
                    ),
                );
                fix.remove(&k[..]);
                fixes += 1;
                // A copy already at the right key is (or was) checked on
                // its own: this one is a stray duplicate. Otherwise move it.
                if !self.iocs.contains_key(record_key(rty, rt, &rec.id))? {
                    fix.insert(&record_key(rty, rt, &rec.id)[..], &v[..]);
                    fix.insert(&pointer_key(&rec.id)[..], &pointer_value(rty, rt)[..]);
                    planned.insert(rec.id, Some(pointer_value(rty, rt)));
                    counted[rty.code() as usize] += 1;
                }
                continue;
            }
            let here = pointer_value(ty, t);
            let ptr: Option<[u8; 9]> = match planned.get(&id) {
                Some(p) => *p,
                None => self
                    .iocs
                    .get(pointer_key(&id))?
                    .and_then(|p| <[u8; 9]>::try_from(&p[..]).ok()),
            };
            match ptr {
                Some(p) if p == here => counted[ty.code() as usize] += 1,
                None => {
                    rep.problem(
                        "missing_pointer",
                        id.to_string(),
                        "a record without its I pointer".into(),
                    );
                    fix.insert(&pointer_key(&id)[..], &here[..]);
                    planned.insert(id, Some(here));
                    counted[ty.code() as usize] += 1;
                    fixes += 1;
                }
                Some(p) => {
                    let other_live = match parse_pointer(&p) {
                        Some((oty, ot)) => {
                            planned.contains_key(&id)
                                || self.iocs.contains_key(record_key(oty, ot, &id))?
                        }
                        None => false,
                    };
                    if other_live {
                        rep.problem(
                            "stale_duplicate",
                            id.to_string(),
                            "an older copy of a record whose pointer points elsewhere".into(),
                        );
                        fix.remove(&k[..]);
                    } else {
                        rep.problem(
                            "dangling_pointer",
                            id.to_string(),
                            "the pointer points at no record; re-pointed at this one".into(),
                        );
                        fix.insert(&pointer_key(&id)[..], &here[..]);
                        planned.insert(id, Some(here));
                        counted[ty.code() as usize] += 1;
                    }
                    fixes += 1;
                }
            }
        }

        // Pass 2: pointers.
        for kv in self.iocs.scan_prefix([P_POINTER]) {
            let (k, v) = kv?;
            rep.pointers += 1;
            let Ok(id) = Uuid::from_slice(&k[1..]) else {
                rep.problem(
                    "bad_pointer_key",
                    hex(&k),
                    "pointer key of the wrong length".into(),
                );
                fix.remove(&k[..]);
                fixes += 1;
                continue;
            };
            if planned.contains_key(&id) {
                continue; // settled by the record pass
            }
            let Some((ty, t)) = parse_pointer(&v) else {
                rep.problem(
                    "bad_pointer",
                    id.to_string(),
                    format!("pointer value {} does not parse", hex(&v)),
                );
                fix.remove(&k[..]);
                fixes += 1;
                continue;
            };
            if tombstoned.contains(&id) {
                rep.problem(
                    "deleted_but_present",
                    id.to_string(),
                    "a pointer of a deleted (tombstoned) IOC".into(),
                );
                fix.remove(&k[..]);
                fixes += 1;
            } else if !self.iocs.contains_key(record_key(ty, t, &id))? {
                rep.problem(
                    "dangling_pointer",
                    id.to_string(),
                    "the pointer points at no record; removed".into(),
                );
                fix.remove(&k[..]);
                fixes += 1;
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
                Some(&P_RECORD) | Some(&P_POINTER) | Some(&P_COUNT) => {}
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
            match super::codec::decode::<ApiKeyRecord>(&v) {
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
            rep.repaired = true;
        }
        Ok(rep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{detect, Observation};

    fn obs(v: &str) -> Observation {
        Observation::new(detect(v).unwrap())
    }

    #[test]
    fn finds_and_repairs_each_kind_of_damage() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.ingest(vec![
            obs("a.example"),
            obs("b.example"),
            obs("c.example"),
            obs("1.2.3.4"),
        ])
        .unwrap();
        assert!(s.verify(false).unwrap().is_consistent());

        let id = |v: &str| crate::ioc::indicator_id(detect(v).unwrap().ioc_type, v);
        // a: pointer removed. b: record removed (dangling pointer).
        // c: a stale duplicate at an older time. ipv4 counter wrong.
        s.iocs.remove(pointer_key(&id("a.example"))).unwrap();
        let (ty, t) =
            parse_pointer(&s.iocs.get(pointer_key(&id("b.example"))).unwrap().unwrap()).unwrap();
        s.iocs.remove(record_key(ty, t, &id("b.example"))).unwrap();
        let c = s.get(&id("c.example")).unwrap().unwrap();
        let old = record_key(c.ioc_type, micros(c.modified) - 5, &c.id);
        s.iocs
            .insert(old, super::super::codec::encode_indicator(&c))
            .unwrap();
        s.iocs
            .insert(count_key(IocType::Ipv4), &7u64.to_be_bytes()[..])
            .unwrap();

        let r = s.verify(false).unwrap();
        assert!(!r.is_consistent());
        let kinds: Vec<_> = r.problem_counts.keys().copied().collect();
        // The stale c copy is reported as a key mismatch (its content says
        // another time), b's pointer dangles, a lacks its pointer, and the
        // domain and ipv4 counters are off.
        for k in [
            "missing_pointer",
            "dangling_pointer",
            "count_mismatch",
            "record_key_mismatch",
        ] {
            assert!(kinds.contains(&k), "{k} in {kinds:?}");
        }
        assert!(!r.repaired);
        let r = s.verify(true).unwrap();
        assert!(r.repaired);
        let r = s.verify(false).unwrap();
        assert!(r.is_consistent(), "{:?}", r.problems);
        assert_eq!(r.counted["domain"], 2);
        assert_eq!(r.counted["ipv4"], 1);
        assert_eq!(s.total().unwrap(), 3);
        assert!(s.get(&id("a.example")).unwrap().is_some());
        assert!(s.get(&id("b.example")).unwrap().is_none());
    }

    #[test]
    fn undecodable_record_is_dropped_on_repair() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        s.ingest(vec![obs("a.example"), obs("b.example")]).unwrap();
        let i = crate::ioc::indicator_id(IocType::Domain, "a.example");
        let (ty, t) = parse_pointer(&s.iocs.get(pointer_key(&i)).unwrap().unwrap()).unwrap();
        s.iocs
            .insert(record_key(ty, t, &i), &[1u8, 2, 3][..])
            .unwrap();
        let r = s.verify(true).unwrap();
        assert_eq!(r.problem_counts["undecodable_record"], 1);
        let r = s.verify(false).unwrap();
        assert!(r.is_consistent(), "{:?}", r.problems);
        assert_eq!(s.total().unwrap(), 1);
    }
}
