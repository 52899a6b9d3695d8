//! The sled store: the only module that knows key layouts (DESIGN.md).
//!
//! Trees:
//! - `indicators`: id (16 bytes) → [`codec`] record.
//! - `by_added`: `modified micros (u64 BE) ++ id` → (). Time index for
//!   `since`/`until`, TAXII `added_after` and cursor paging. Keyed by the
//!   time the *current version* was stored, so updates move to the end and
//!   pollers see them.
//! - `by_type_added`: `type code (u8) ++ modified micros ++ id` → ().
//! - `counts`: type code → u64 BE, live indicators per type.
//! - `tombstones`: id → deleted IOC (false positives stay out of re-imports).
//! - `keys`: API key id → key record (see [`keys`]).
//!
//! Writers are serialized by one mutex that also hands out strictly
//! increasing batch timestamps, so two batches never share an index time and
//! a cursor never skips a record committed after it was issued. Readers of
//! the index take the read side of `commit`, so they never see half a batch.

pub mod codec;
pub mod keys;
mod query;

pub use query::{Cursor, Page, Query};

use crate::ioc::{Indicator, IocType, Observation, Source, DEFAULT_CONFIDENCE};
use chrono::{DateTime, Utc};
use codec::{decode_indicator, encode_indicator, from_micros, micros};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, RwLock};
use uuid::Uuid;

/// Upper bounds on merged lists, so one hot IOC seen by thousands of
/// sources cannot grow its record without limit.
const MAX_SOURCES: usize = 64;
const MAX_TAGS: usize = 64;
const MAX_TECHNIQUES: usize = 64;
/// Observations written per sled transaction.
const TX_CHUNK: usize = 4096;

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
    #[error("the data directory {path} is in use by another iocd process (or not writable): {source}")]
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

/// The IOC store over one sled database.
pub struct Store {
    db: sled::Db,
    indicators: sled::Tree,
    by_added: sled::Tree,
    by_type_added: sled::Tree,
    counts: sled::Tree,
    tombstones: sled::Tree,
    pub(crate) keys: sled::Tree,
    /// Last batch timestamp handed out (micros); the writer mutex.
    writer: Mutex<i64>,
    /// Write side held while a batch commits; index readers take the read side.
    commit: RwLock<()>,
}

fn time_key(t: i64, id: &Uuid) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&(t.max(0) as u64).to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

fn type_time_key(ty: IocType, t: i64, id: &Uuid) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = ty.code();
    k[1..].copy_from_slice(&time_key(t, id));
    k
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// Errors: [`StoreError::Locked`] when another process holds it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| StoreError::Locked {
                path: path.display().to_string(),
                source: e,
            })?;
        Ok(Store {
            indicators: db.open_tree("indicators")?,
            by_added: db.open_tree("by_added")?,
            by_type_added: db.open_tree("by_type_added")?,
            counts: db.open_tree("counts")?,
            tombstones: db.open_tree("tombstones")?,
            keys: db.open_tree("keys")?,
            db,
            writer: Mutex::new(0),
            commit: RwLock::new(()),
        })
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
    /// confidence kept; most restrictive TLP kept), moves index entries of
    /// changed records, all in sled transactions of up to 4096 observations,
    /// then flushes. Returns only after the data is durable.
    pub fn ingest(&self, batch: Vec<Observation>) -> Result<IngestReport, StoreError> {
        let mut report = IngestReport::default();
        // Merge duplicates inside the batch first, keeping first-seen order.
        let mut order: Vec<Uuid> = Vec::with_capacity(batch.len());
        let mut merged: HashMap<Uuid, Observation> = HashMap::with_capacity(batch.len());
        for o in batch {
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
        for chunk in order.chunks(TX_CHUNK) {
            let t = Self::next_batch_time(&mut last);
            let obs: Vec<(&Uuid, &Observation)> = chunk.iter().filter_map(|id| merged.get(id).map(|o| (id, o))).collect();
            let r = self.commit_chunk(t, &obs)?;
            report.add(&r);
        }
        drop(last);
        self.flush()?;
        Ok(report)
    }

    fn commit_chunk(&self, t: i64, obs: &[(&Uuid, &Observation)]) -> Result<IngestReport, StoreError> {
        let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
        let trees = (
            &self.indicators,
            &self.by_added,
            &self.by_type_added,
            &self.counts,
            &self.tombstones,
        );
        let res = trees.transaction(|(ind, ba, bta, cnt, tomb)| {
            let mut r = IngestReport::default();
            let mut new_per_type = [0u64; 11];
            for (id, o) in obs {
                if tomb.get(id.as_bytes())?.is_some() {
                    r.suppressed += 1;
                    continue;
                }
                let old = match ind.get(id.as_bytes())? {
                    Some(b) => Some(decode_indicator(&b).map_err(|e| {
                        ConflictableTransactionError::Abort(StoreError::Codec {
                            key: id.to_string(),
                            source: e,
                        })
                    })?),
                    None => None,
                };
                match old {
                    None => {
                        let rec = new_record(**id, o, t);
                        ind.insert(id.as_bytes(), encode_indicator(&rec))?;
                        ba.insert(&time_key(t, id)[..], &[][..])?;
                        bta.insert(&type_time_key(rec.ioc_type, t, id)[..], &[][..])?;
                        new_per_type[rec.ioc_type.code() as usize] += 1;
                        r.new += 1;
                    }
                    Some(old) => {
                        let (rec, changed) = merge_record(&old, o, t);
                        if changed {
                            let ot = micros(old.modified);
                            ba.remove(&time_key(ot, id)[..])?;
                            bta.remove(&type_time_key(old.ioc_type, ot, id)[..])?;
                            ba.insert(&time_key(t, id)[..], &[][..])?;
                            bta.insert(&type_time_key(rec.ioc_type, t, id)[..], &[][..])?;
                            r.updated += 1;
                        } else {
                            r.unchanged += 1;
                        }
                        if changed || rec.last_seen != old.last_seen {
                            ind.insert(id.as_bytes(), encode_indicator(&rec))?;
                        }
                    }
                }
            }
            for (code, n) in new_per_type.iter().enumerate() {
                if *n > 0 {
                    let k = [code as u8];
                    let cur = cnt.get(k)?.map(|v| read_u64(&v)).unwrap_or(0);
                    cnt.insert(&k[..], &(cur + n).to_be_bytes()[..])?;
                }
            }
            Ok(r)
        });
        match res {
            Ok(r) => Ok(r),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// The indicator with this id, if stored (tombstoned ones are gone).
    pub fn get(&self, id: &Uuid) -> Result<Option<Indicator>, StoreError> {
        match self.indicators.get(id.as_bytes())? {
            Some(b) => decode_indicator(&b).map(Some).map_err(|e| StoreError::Codec {
                key: id.to_string(),
                source: e,
            }),
            None => Ok(None),
        }
    }

    /// The tombstone for this id, if it was deleted.
    pub fn tombstone(&self, id: &Uuid) -> Result<Option<Tombstone>, StoreError> {
        match self.tombstones.get(id.as_bytes())? {
            Some(b) => codec::decode(&b).map(Some).map_err(|e| StoreError::Codec {
                key: id.to_string(),
                source: e,
            }),
            None => Ok(None),
        }
    }

    /// Deletes an indicator as a false positive: removes the record and its
    /// index entries and leaves a tombstone, atomically, then flushes.
    /// Returns the removed indicator, or `None` if it was not stored.
    pub fn delete(&self, id: &Uuid, reason: Option<String>) -> Result<Option<Indicator>, StoreError> {
        let _last = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
        let Some(old) = self.get(id)? else {
            return Ok(None);
        };
        let tomb = Tombstone {
            ioc_type: old.ioc_type,
            value: old.value.clone(),
            deleted_at: micros(Utc::now()),
            reason,
        };
        let ot = micros(old.modified);
        let trees = (&self.indicators, &self.by_added, &self.by_type_added, &self.counts, &self.tombstones);
        let res: Result<(), TransactionError<StoreError>> = trees.transaction(|(ind, ba, bta, cnt, tb)| {
            ind.remove(id.as_bytes())?;
            ba.remove(&time_key(ot, id)[..])?;
            bta.remove(&type_time_key(old.ioc_type, ot, id)[..])?;
            let k = [old.ioc_type.code()];
            let cur = cnt.get(k)?.map(|v| read_u64(&v)).unwrap_or(0);
            cnt.insert(&k[..], &cur.saturating_sub(1).to_be_bytes()[..])?;
            tb.insert(id.as_bytes(), codec::encode(&tomb))?;
            Ok(())
        });
        match res {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(StoreError::Sled(e)),
        }
        self.flush()?;
        Ok(Some(old))
    }

    /// Live indicators per type (every type present, zeros included).
    pub fn counts(&self) -> Result<BTreeMap<IocType, u64>, StoreError> {
        let mut m: BTreeMap<IocType, u64> = IocType::ALL.iter().map(|t| (*t, 0)).collect();
        for kv in self.counts.iter() {
            let (k, v) = kv?;
            if let Some(t) = k.first().and_then(|c| IocType::from_code(*c)) {
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
        self.tombstones.len()
    }

    /// Counts per source name (a full scan of the records: for `iocd stats`
    /// and the statistics endpoint, not for hot paths).
    pub fn source_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut m = BTreeMap::new();
        for kv in self.indicators.iter() {
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
    pub fn time_range(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let first = self.by_added.first()?;
        let last = self.by_added.last()?;
        Ok(match (first, last) {
            (Some((a, _)), Some((b, _))) => Some((from_micros(read_u64(&a[..8]) as i64), from_micros(read_u64(&b[..8]) as i64))),
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
