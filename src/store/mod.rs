//! The sled store: the only module that knows key layouts (DESIGN.md).
//!
//! All IOC data lives in ONE sled tree, `iocs`, under one-byte key
//! prefixes, so a whole ingest chunk is one atomic `apply_batch` (sled
//! batches are atomic per tree; no orphan index entry after a crash):
//!
//! - `T ++ type (u8) ++ modified micros (u64 BE) ++ id (16)` → the record
//!   ([`codec`]). The record *is* the time index entry: a listing, an
//!   export or a TAXII page is one sequential range scan with no random
//!   reads. Keyed by when the *current version* was stored, so updates move
//!   to the end of their type's range and pollers see them.
//! - `I ++ id` → `type ++ modified micros` (9 bytes): where an id's record
//!   is, for dedupe on ingest and lookups by id.
//! - `C ++ type` → u64 BE: live indicators per type.
//! - `X ++ id` → tombstone of a deleted false positive (also held in
//!   memory: tombstones are few and checked for every observation).
//!
//! Queries without a type filter merge the eleven per-type ranges by
//! `(micros, id)` (see `query.rs`), so there is no second, global time
//! index to keep in step: a new IOC costs one read and two inserts.
//!
//! API keys live in their own tree, `keys` (see [`keys`]).
//!
//! [`backup`] copies both trees consistently; [`verify`] checks (and
//! repairs) the invariants above.
//!
//! Writers are serialized by one mutex that also hands out strictly
//! increasing chunk timestamps, so two chunks never share an index time and
//! a cursor never skips a record committed after it was issued. Readers of
//! the index take the read side of `commit`, so a page never sees half a
//! chunk.

pub mod backup;
pub mod codec;
pub mod keys;
mod query;
pub mod verify;

pub use query::{Cursor, Page, Query};

use crate::ioc::{Indicator, IocType, Observation, Source, DEFAULT_CONFIDENCE};
use chrono::{DateTime, Utc};
use codec::{decode_indicator, encode_indicator, from_micros, micros};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use uuid::Uuid;

/// Upper bounds on merged lists, so one hot IOC seen by thousands of
/// sources cannot grow its record without limit.
const MAX_SOURCES: usize = 64;
const MAX_TAGS: usize = 64;
const MAX_TECHNIQUES: usize = 64;
/// Observations written per atomic batch. sled keeps every node version a
/// batch replaces until the batch ends: at 8192, importing 1M IOCs peaked
/// at 450 MiB; at 512 (with a 16 MiB cache) it stays near 270 MiB, no
/// slower (benches/import.sh).
const CHUNK: usize = 512;

/// sled page-cache budget of a serving or importing store.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Key prefixes in the `iocs` tree.
const P_RECORD: u8 = b'T';
const P_POINTER: u8 = b'I';
const P_COUNT: u8 = b'C';
const P_TOMBSTONE: u8 = b'X';

/// Store failures. None of these is a client's fault (HTTP 500 / CLI exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record {key}: {source}")]
    Codec {
        key: String,
        #[source]
        source: codec::CodecError,
    },
    #[error(
        "the data directory {path} is in use by another iocd process (or not writable): {source}"
    )]
    Locked { path: String, source: sled::Error },
}

/// What one ingest did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Indicators stored for the first time.
    pub new: u64,
    /// Known indicators whose content changed (sources, tags, confidence ...).
    pub updated: u64,
    /// Known indicators seen again with nothing new.
    pub unchanged: u64,
    /// Observations of deleted (tombstoned) indicators, not re-added.
    pub suppressed: u64,
}

impl IngestReport {
    /// Adds another report's counts to this one.
    pub fn add(&mut self, o: &IngestReport) {
        self.new += o.new;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.suppressed += o.suppressed;
    }
}

/// A false-positive removal kept so re-imports do not silently re-add it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tombstone {
    pub ioc_type: IocType,
    pub value: String,
    /// Microseconds since the epoch.
    pub deleted_at: i64,
    pub reason: Option<String>,
}

/// Oldest and newest `modified` time in the store.
pub type TimeRange = (DateTime<Utc>, DateTime<Utc>);

/// The IOC store over one sled database.
pub struct Store {
    db: sled::Db,
    /// Records, pointers, counters and tombstones under key prefixes.
    iocs: sled::Tree,
    pub(crate) keys: sled::Tree,
    /// Ids of tombstones (mirror of the `X` keys).
    tombstoned: RwLock<HashSet<Uuid>>,
    /// Last chunk timestamp handed out (micros); the writer mutex.
    writer: Mutex<i64>,
    /// Write side held while a chunk is applied; index readers take the
    /// read side.
    commit: RwLock<()>,
    /// See [`Store::generation`].
    generation: AtomicU64,
}

fn pointer_key(id: &Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = P_POINTER;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

fn tombstone_key(id: &Uuid) -> [u8; 17] {
    let mut k = pointer_key(id);
    k[0] = P_TOMBSTONE;
    k
}

/// `T ++ type ++ micros ++ id`.
fn record_key(ty: IocType, t: i64, id: &Uuid) -> [u8; 26] {
    let mut k = [0u8; 26];
    k[0] = P_RECORD;
    k[1] = ty.code();
    k[2..10].copy_from_slice(&(t.max(0) as u64).to_be_bytes());
    k[10..].copy_from_slice(id.as_bytes());
    k
}

fn pointer_value(ty: IocType, t: i64) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[0] = ty.code();
    v[1..].copy_from_slice(&(t.max(0) as u64).to_be_bytes());
    v
}

fn parse_pointer(v: &[u8]) -> Option<(IocType, i64)> {
    if v.len() != 9 {
        return None;
    }
    Some((IocType::from_code(v[0])?, read_u64(&v[1..]) as i64))
}

fn count_key(ty: IocType) -> [u8; 2] {
    [P_COUNT, ty.code()]
}

/// True when `e` is sled's "could not acquire lock" failure. sled 0.34
/// wraps the `WouldBlock` of its `flock` in an `ErrorKind::Other` error
/// whose text is all that identifies it.
fn is_lock_busy(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || e.to_string().starts_with("could not acquire lock")
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// Errors: [`StoreError::Locked`] when another process holds it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Like [`Store::open`] with a page-cache budget in bytes: a one-pass
    /// sequential scan (an export) gains nothing from a large cache.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(500));
        // sled releases its file lock when its last background thread lets
        // go of the database, a moment after the previous holder dropped it
        // (a server just stopped, or an earlier open in this process): retry
        // a busy lock briefly before reporting it as held by another process.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut pause = std::time::Duration::from_millis(10);
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if is_lock_busy(&e) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(StoreError::Locked {
                        path: path.display().to_string(),
                        source: e,
                    })
                }
            }
        };
        let iocs = db.open_tree("iocs")?;
        let mut tombstoned = HashSet::new();
        for kv in iocs.scan_prefix([P_TOMBSTONE]) {
            let (k, _) = kv?;
            if let Ok(id) = Uuid::from_slice(&k[1..]) {
                tombstoned.insert(id);
            }
        }
        Ok(Store {
            keys: db.open_tree("keys")?,
            iocs,
            db,
            tombstoned: RwLock::new(tombstoned),
            writer: Mutex::new(0),
            commit: RwLock::new(()),
            generation: AtomicU64::new(0),
        })
    }

    /// A counter that changes whenever IOC data changes (every committed
    /// ingest chunk, every delete, a verify repair) in this process. Read it before
    /// computing something from the store: the result is current as long
    /// as the counter still has that value.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    fn next_batch_time(last: &mut i64) -> i64 {
        let now = micros(Utc::now());
        *last = now.max(*last + 1);
        *last
    }

    /// Stores a batch of observations: dedupes within the batch, merges with
    /// stored records (last_seen, sources, tags, techniques merged; highest
    /// confidence kept; most restrictive TLP kept), moves changed records to
    /// the end of the time order, in atomic chunks of up to 512
    /// observations, then flushes. Returns only after the data is durable.
    pub fn ingest(&self, batch: Vec<Observation>) -> Result<IngestReport, StoreError> {
        let mut report = IngestReport::default();
        // Merge duplicates inside the batch first, keeping first-seen order.
        let mut order: Vec<Uuid> = Vec::with_capacity(batch.len());
        let mut merged: HashMap<Uuid, Observation> = HashMap::with_capacity(batch.len());
        for mut o in batch {
            o.sanitize();
            let id = o.id();
            match merged.get_mut(&id) {
                Some(prev) => {
                    merge_observation(prev, o);
                    report.unchanged += 1;
                }
                None => {
                    order.push(id);
                    merged.insert(id, o);
                }
            }
        }
        let mut last = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for chunk in order.chunks(CHUNK) {
            let t = Self::next_batch_time(&mut last);
            let obs: Vec<(&Uuid, &Observation)> = chunk
                .iter()
                .filter_map(|id| merged.get(id).map(|o| (id, o)))
                .collect();
            let r = self.commit_chunk(t, &obs)?;
            report.add(&r);
        }
        drop(last);
        self.flush()?;
        Ok(report)
    }

    /// Reads what it needs (the caller holds `writer`, so nothing changes
    /// underneath), then applies one atomic batch.
    fn commit_chunk(
        &self,
        t: i64,
        obs: &[(&Uuid, &Observation)],
    ) -> Result<IngestReport, StoreError> {
        let mut r = IngestReport::default();
        let mut batch = sled::Batch::default();
        let mut new_per_type = [0u64; IocType::ALL.len()];
        let tombstoned = self.tombstoned.read().unwrap_or_else(|p| p.into_inner());
        for (id, o) in obs {
            if tombstoned.contains(id) {
                r.suppressed += 1;
                continue;
            }
            let old = match self
                .iocs
                .get(pointer_key(id))?
                .as_deref()
                .and_then(parse_pointer)
            {
                Some((ty, ot)) => self.record_at(ty, ot, id)?.map(|rec| (rec, ot)),
                None => None,
            };
            match old {
                None => {
                    let rec = new_record(**id, o, t);
                    batch.insert(&record_key(rec.ioc_type, t, id)[..], encode_indicator(&rec));
                    batch.insert(&pointer_key(id)[..], &pointer_value(rec.ioc_type, t)[..]);
                    new_per_type[rec.ioc_type.code() as usize] += 1;
                    r.new += 1;
                }
                Some((old, ot)) => {
                    let (rec, changed) = merge_record(&old, o, t);
                    let ty = old.ioc_type;
                    if changed {
                        batch.remove(&record_key(ty, ot, id)[..]);
                        batch.insert(&record_key(ty, t, id)[..], encode_indicator(&rec));
                        batch.insert(&pointer_key(id)[..], &pointer_value(ty, t)[..]);
                        r.updated += 1;
                    } else {
                        if rec.last_seen != old.last_seen {
                            batch.insert(&record_key(ty, ot, id)[..], encode_indicator(&rec));
                        }
                        r.unchanged += 1;
                    }
                }
            }
        }
        drop(tombstoned);
        for ty in IocType::ALL {
            let n = new_per_type[ty.code() as usize];
            if n > 0 {
                let cur = self
                    .iocs
                    .get(count_key(ty))?
                    .map(|v| read_u64(&v))
                    .unwrap_or(0);
                batch.insert(&count_key(ty)[..], &(cur + n).to_be_bytes()[..]);
            }
        }
        let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
        self.iocs.apply_batch(batch)?;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(r)
    }

    fn record_at(&self, ty: IocType, t: i64, id: &Uuid) -> Result<Option<Indicator>, StoreError> {
        match self.iocs.get(record_key(ty, t, id))? {
            Some(b) => decode_indicator(&b)
                .map(Some)
                .map_err(|e| StoreError::Codec {
                    key: id.to_string(),
                    source: e,
                }),
            None => Ok(None),
        }
    }

    /// The indicator with this id, if stored (tombstoned ones are gone).
    pub fn get(&self, id: &Uuid) -> Result<Option<Indicator>, StoreError> {
        match self
            .iocs
            .get(pointer_key(id))?
            .as_deref()
            .and_then(parse_pointer)
        {
            Some((ty, t)) => self.record_at(ty, t, id),
            None => Ok(None),
        }
    }

    /// The tombstone for this id, if it was deleted.
    pub fn tombstone(&self, id: &Uuid) -> Result<Option<Tombstone>, StoreError> {
        match self.iocs.get(tombstone_key(id))? {
            Some(b) => codec::decode(&b).map(Some).map_err(|e| StoreError::Codec {
                key: id.to_string(),
                source: e,
            }),
            None => Ok(None),
        }
    }

    /// Deletes an indicator as a false positive: removes the record and its
    /// pointer and leaves a tombstone, atomically, then flushes. Returns the
    /// removed indicator, or `None` if it was not stored.
    pub fn delete(
        &self,
        id: &Uuid,
        reason: Option<String>,
    ) -> Result<Option<Indicator>, StoreError> {
        let _last = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(old) = self.get(id)? else {
            return Ok(None);
        };
        let tomb = Tombstone {
            ioc_type: old.ioc_type,
            value: old.value.clone(),
            deleted_at: micros(Utc::now()),
            reason,
        };
        let cur = self
            .iocs
            .get(count_key(old.ioc_type))?
            .map(|v| read_u64(&v))
            .unwrap_or(0);
        let mut batch = sled::Batch::default();
        batch.remove(&record_key(old.ioc_type, micros(old.modified), id)[..]);
        batch.remove(&pointer_key(id)[..]);
        batch.insert(
            &count_key(old.ioc_type)[..],
            &cur.saturating_sub(1).to_be_bytes()[..],
        );
        batch.insert(&tombstone_key(id)[..], codec::encode(&tomb));
        {
            let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
            self.iocs.apply_batch(batch)?;
            self.generation.fetch_add(1, Ordering::Release);
            self.tombstoned
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(*id);
        }
        self.flush()?;
        Ok(Some(old))
    }

    /// Live indicators per type (every type present, zeros included).
    pub fn counts(&self) -> Result<BTreeMap<IocType, u64>, StoreError> {
        let mut m: BTreeMap<IocType, u64> = IocType::ALL.iter().map(|t| (*t, 0)).collect();
        for kv in self.iocs.scan_prefix([P_COUNT]) {
            let (k, v) = kv?;
            if let Some(t) = k.get(1).and_then(|c| IocType::from_code(*c)) {
                m.insert(t, read_u64(&v));
            }
        }
        Ok(m)
    }

    /// Total live indicators.
    pub fn total(&self) -> Result<u64, StoreError> {
        Ok(self.counts()?.values().sum())
    }

    /// Number of tombstones.
    pub fn tombstone_count(&self) -> usize {
        self.tombstoned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Counts per source name (a full scan of the records: for `iocd stats`
    /// and the statistics endpoint, not for hot paths).
    pub fn source_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut m = BTreeMap::new();
        for kv in self.iocs.scan_prefix([P_RECORD]) {
            let (k, v) = kv?;
            let i = decode_indicator(&v).map_err(|e| StoreError::Codec {
                key: format!("{k:?}"),
                source: e,
            })?;
            for s in &i.sources {
                *m.entry(s.name.clone()).or_insert(0) += 1;
            }
        }
        Ok(m)
    }

    /// Oldest and newest index time (`modified`) of stored indicators.
    pub fn time_range(&self) -> Result<Option<TimeRange>, StoreError> {
        let mut lo: Option<u64> = None;
        let mut hi: Option<u64> = None;
        for ty in IocType::ALL {
            let mut it = self.iocs.scan_prefix([P_RECORD, ty.code()]);
            if let Some((k, _)) = it.next().transpose()? {
                let t = read_u64(&k[2..10]);
                lo = Some(lo.map_or(t, |x| x.min(t)));
            }
            if let Some((k, _)) = it.next_back().transpose()? {
                let t = read_u64(&k[2..10]);
                hi = Some(hi.map_or(t, |x| x.max(t)));
            }
        }
        Ok(match (lo, hi) {
            (Some(a), Some(b)) => Some((from_micros(a as i64), from_micros(b as i64))),
            _ => None,
        })
    }
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(a)
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T, cap: usize) -> bool {
    if v.len() < cap && !v.contains(&x) {
        v.push(x);
        true
    } else {
        false
    }
}

/// Folds a second observation of the same IOC (same batch) into the first.
fn merge_observation(a: &mut Observation, b: Observation) {
    a.seen = match (a.seen, b.seen) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    a.confidence = match (a.confidence, b.confidence) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    a.tlp = a.tlp.max(b.tlp);
    for t in b.tags {
        push_unique(&mut a.tags, t, MAX_TAGS);
    }
    for t in b.techniques {
        push_unique(&mut a.techniques, t, MAX_TECHNIQUES);
    }
    if a.source.is_none() {
        a.source = b.source;
    }
    if a.description.is_none() {
        a.description = b.description;
    }
    a.to_ids |= b.to_ids;
    a.reserved |= b.reserved;
}

fn new_record(id: Uuid, o: &Observation, t: i64) -> Indicator {
    let now = from_micros(t);
    let seen = o.seen.unwrap_or(now);
    let mut tags = o.tags.clone();
    tags.sort();
    tags.dedup();
    tags.truncate(MAX_TAGS);
    let mut techniques = o.techniques.clone();
    techniques.sort();
    techniques.dedup();
    techniques.truncate(MAX_TECHNIQUES);
    Indicator {
        id,
        ioc_type: o.ioc_type,
        value: o.value.clone(),
        first_seen: seen,
        last_seen: seen,
        added_at: now,
        modified: now,
        confidence: o.confidence.unwrap_or(DEFAULT_CONFIDENCE).min(100),
        tlp: o.tlp,
        tags,
        sources: o.source.iter().cloned().collect(),
        techniques,
        description: o.description.clone(),
        to_ids: o.to_ids,
        reserved: o.reserved,
    }
}

/// Merges an observation into a stored record. Returns the new record and
/// whether its content (anything but `last_seen`) changed.
fn merge_record(old: &Indicator, o: &Observation, t: i64) -> (Indicator, bool) {
    let mut r = old.clone();
    let seen = o.seen.unwrap_or_else(|| from_micros(t));
    r.last_seen = r.last_seen.max(seen);
    r.first_seen = r.first_seen.min(seen);
    if let Some(c) = o.confidence {
        r.confidence = r.confidence.max(c.min(100));
    }
    if o.tlp.is_some() {
        r.tlp = r.tlp.max(o.tlp);
    }
    let mut tags_changed = false;
    for x in &o.tags {
        tags_changed |= push_unique(&mut r.tags, x.clone(), MAX_TAGS);
    }
    if tags_changed {
        r.tags.sort();
    }
    let mut tech_changed = false;
    for x in &o.techniques {
        tech_changed |= push_unique(&mut r.techniques, x.clone(), MAX_TECHNIQUES);
    }
    if tech_changed {
        r.techniques.sort();
    }
    if let Some(s) = &o.source {
        push_unique::<Source>(&mut r.sources, s.clone(), MAX_SOURCES);
    }
    if r.description.is_none() {
        r.description = o.description.clone();
    }
    r.to_ids |= o.to_ids;
    r.reserved |= o.reserved;
    let changed = r.first_seen != old.first_seen
        || r.confidence != old.confidence
        || r.tlp != old.tlp
        || r.tags != old.tags
        || r.techniques != old.techniques
        || r.sources != old.sources
        || r.description != old.description
        || r.to_ids != old.to_ids;
    if changed {
        r.modified = from_micros(t);
    }
    (r, changed)
}

#[cfg(test)]
mod tests;
