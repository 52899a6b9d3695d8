//! The sled store: the only module that knows key layouts (docs/design.md).
//!
//! All IOC data lives in ONE sled tree, `iocs`, under one-byte key
//! prefixes, so a whole ingest chunk is one atomic `apply_batch` (sled
//! batches are atomic per tree; no half-written chunk after a crash).
//! Store layout 2:
//!
//! - `B ++ type (u8) ++ t (u64 BE micros)` → a block ([`block`]): the
//!   records of one type whose current version was committed at index time
//!   `t`, sorted by id, at most [`block::BLOCK_RECORDS`] per block. Every
//!   block gets its own `t` from the writer, so `(t, id)` orders records
//!   totally and is the listing/TAXII cursor. A listing, an export or a
//!   TAXII page is one sequential range scan over blocks.
//! - `H ++ type ++ t` → the block's ids (16 bytes each): what the in-memory
//!   id index ([`index`]) is rebuilt from, without reading records.
//! - `P ++ type ++ t` → the block's patch: records that left it (changed,
//!   so moved to a newer block; or deleted) and newer `last_seen` times of
//!   re-sightings with nothing new. Folded into the block when it grows.
//! - `C ++ type` → u64 BE: live indicators per type.
//! - `A ++ type ++ hour (u32 BE)` → u64 BE: IOCs added in that hour
//!   (the statistics timeline, see [`timeline`]).
//! - `X ++ id` → tombstone of a deleted false positive (also held in
//!   memory: tombstones are few and checked for every observation).
//!
//! Layout 1 (`T ++ type ++ t ++ id` → one record, `I ++ id` → pointer) is
//! converted at open ([`Store::open`]); its blocks keep each record's time,
//! so cursors issued before the upgrade stay valid.
//!
//! Queries without a type filter merge the eleven per-type block ranges by
//! `(t, id)` (see `query.rs`). A new IOC costs ~1/32 of a sled insert; a
//! re-sighting an id-index lookup, one record read and a patch update.
//!
//! API keys live in their own tree, `keys` (see [`keys`]); the rate-limit
//! buckets kept across restarts in `quotas` (see [`quotas`]).
//!
//! [`backup`] copies both trees consistently; [`verify`] checks (and
//! repairs) the invariants above.
//!
//! Writers are serialized by one mutex that also hands out strictly
//! increasing block times (never below the newest stored block, even if
//! the clock steps back), so a cursor never skips a record committed after
//! it was issued. Readers of blocks take the read side of `commit`, so a
//! page never sees half a chunk.

pub mod articles;
pub mod backup;
pub mod block;
pub mod codec;
pub mod index;
pub mod keys;
mod migrate;
pub mod purge;
mod query;
pub mod quotas;
pub(crate) mod retime;
pub mod timeline;
pub mod verify;

pub use query::{Cursor, Page, Query};

use crate::ioc::expiry::Lifetimes;
use crate::ioc::merge::{self, merge_indicators, Change};
use crate::ioc::{Indicator, IocType, Observation};
use block::{BlockView, Patch, PatchOp, BLOCK_RECORDS};
use chrono::{DateTime, Utc};
use codec::{from_micros, micros};
use index::{IdIndex, Loc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockWriteGuard};
use uuid::Uuid;

/// Observations written per atomic batch. A chunk of 4096 new IOCs is
/// ~130 blocks: few sled items, so sled's per-batch memory stays small,
/// and the known IOCs of a chunk are read in one ordered pass.
const CHUNK: usize = 4096;

/// sled page-cache budget of a serving or importing store.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Key prefixes in the `iocs` tree.
const P_BLOCK: u8 = b'B';
const P_HEADER: u8 = b'H';
const P_PATCH: u8 = b'P';
const P_COUNT: u8 = b'C';
const P_TOMBSTONE: u8 = b'X';
/// Store-wide markers (`M:retimed`, see `retime.rs`).
const P_META: u8 = b'M';
/// Layout 1 keys, converted at open.
const P_LEGACY_RECORD: u8 = b'T';
const P_LEGACY_POINTER: u8 = b'I';

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

/// What one ingest did, counted per observation as if each came in its
/// own call (so the counts do not depend on how observations are split
/// into batches): `new + updated + unchanged + suppressed` = observations
/// handed in. Two rows of one file for the same IOC count one new and one
/// updated (or unchanged, when the second adds nothing).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Observations that stored an IOC for the first time.
    pub new: u64,
    /// Observations that changed a known IOC's content (first_seen,
    /// sources, tags, confidence ...), known from the store or from earlier
    /// in the same call.
    pub updated: u64,
    /// Observations of a known IOC with nothing new (at most a later
    /// last_seen).
    pub unchanged: u64,
    /// Observations of deleted (tombstoned) indicators, not re-added.
    pub suppressed: u64,
}

impl IngestReport {
    /// Counts one observation merged into a known IOC.
    fn count(&mut self, c: Change) {
        match c {
            Change::Content => self.updated += 1,
            Change::LastSeen | Change::None => self.unchanged += 1,
        }
    }

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
    /// Blocks, headers, patches, counters and tombstones under key prefixes.
    iocs: sled::Tree,
    pub(crate) keys: sled::Tree,
    /// Ids of tombstones (mirror of the `X` keys).
    tombstoned: RwLock<HashSet<Uuid>>,
    /// Last block time handed out (micros); the writer mutex.
    writer: Mutex<i64>,
    /// Write side held while a chunk is applied; block readers take the
    /// read side.
    commit: RwLock<()>,
    /// See [`Store::generation`].
    generation: AtomicU64,
    /// id → block, built on first use (`None` until then, or after a
    /// repair). Changed only by holders of `writer`.
    index: RwLock<Option<IdIndex>>,
    /// The expiry lifetimes ingest re-indexes revived records under
    /// ([`Store::set_lifetimes`]; none until set).
    lifetimes: RwLock<Lifetimes>,
}

fn tombstone_key(id: &Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = P_TOMBSTONE;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

/// `prefix ++ type ++ t`: the block (`B`), header (`H`) or patch (`P`) key
/// of the block at `loc`.
fn loc_key(prefix: u8, loc: Loc) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = prefix;
    k[1] = loc.ty().code();
    k[2..].copy_from_slice(&(loc.t() as u64).to_be_bytes());
    k
}

/// Inverse of [`loc_key`] (any prefix); `None` for a malformed key.
fn parse_loc_key(k: &[u8]) -> Option<Loc> {
    if k.len() != 10 {
        return None;
    }
    let ty = IocType::from_code(k[1])?;
    let t = read_u64(&k[2..]);
    if t >> 59 != 0 {
        return None;
    }
    Some(Loc::new(ty, t as i64))
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

fn codec_err(loc: Loc, e: codec::CodecError) -> StoreError {
    StoreError::Codec {
        key: format!("block {} t={}", loc.ty().as_str(), loc.t()),
        source: e,
    }
}

/// An existing block an ingest or delete patches: its size and patch
/// (the block bytes are read again only if it must be rewritten).
struct Touched {
    loc: Loc,
    len: usize,
    patch: Patch,
    dirty: bool,
}

impl Touched {
    fn mark(&mut self, id: Uuid, op: PatchOp) {
        self.patch.ops.insert(id, op);
        self.dirty = true;
    }

    /// Adds the block's new state to `batch`: the patch, or the block
    /// rewritten with it folded in, or nothing left when no record is.
    fn write(self, store: &Store, batch: &mut sled::Batch) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        let (b, h, p) = (
            loc_key(P_BLOCK, self.loc),
            loc_key(P_HEADER, self.loc),
            loc_key(P_PATCH, self.loc),
        );
        if self.patch.gone() >= self.len {
            batch.remove(&b[..]);
            batch.remove(&h[..]);
            batch.remove(&p[..]);
        } else if block::needs_fold(self.len, &self.patch) {
            let Some(bytes) = store.iocs.get(b)? else {
                return Ok(());
            };
            let view = BlockView::parse(&bytes).map_err(|e| codec_err(self.loc, e))?;
            let mut recs =
                block::resolve(&view, Some(&self.patch)).map_err(|e| codec_err(self.loc, e))?;
            let value = block::encode_block(&mut recs);
            batch.insert(&h[..], block::encode_ids(recs.iter().map(|r| r.id)));
            batch.insert(&b[..], value);
            batch.remove(&p[..]);
        } else {
            batch.insert(&p[..], self.patch.encode());
        }
        Ok(())
    }
}

/// Writes collected for the next atomic chunk of an ingest.
#[derive(Default)]
struct Pending {
    /// Per type code: records for new blocks, and whether each is new.
    fresh: [Vec<(Indicator, bool)>; IocType::ALL.len()],
    /// Old blocks with new patch entries.
    touched: Vec<Touched>,
    /// Observations in `fresh` and `touched`.
    len: usize,
    /// Keys removed in the same batch (layout-1 records being merged).
    remove: Vec<Vec<u8>>,
    /// Per type code: counter corrections beyond the new records.
    count_fix: [i64; IocType::ALL.len()],
}

impl Pending {
    fn add(&mut self, rec: Indicator, new: bool) {
        self.fresh[rec.ioc_type.code() as usize].push((rec, new));
        self.len += 1;
    }
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`, converting
    /// a layout-1 store to layout 2 first.
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
        let store = Store {
            keys: db.open_tree("keys")?,
            iocs,
            db,
            tombstoned: RwLock::new(tombstoned),
            writer: Mutex::new(0),
            commit: RwLock::new(()),
            generation: AtomicU64::new(0),
            index: RwLock::new(None),
            lifetimes: RwLock::new(Lifetimes::never()),
        };
        store.migrate_layout1()?;
        store.retime_shared_blocks()?;
        store.backfill_timeline()?;
        let newest = store.newest_block_time()?;
        *store.writer.lock().unwrap_or_else(|p| p.into_inner()) = newest;
        Ok(store)
    }

    /// The last index time any stored record may have (0 for an empty
    /// store): the newest block's time plus the microseconds its records
    /// may span ([`BLOCK_RECORDS`]), so the next block starts after all of
    /// them.
    fn newest_block_time(&self) -> Result<i64, StoreError> {
        let mut t = 0;
        for ty in IocType::ALL {
            if let Some((k, _)) = self
                .iocs
                .scan_prefix([P_BLOCK, ty.code()])
                .next_back()
                .transpose()?
            {
                if let Some(loc) = parse_loc_key(&k) {
                    t = t.max(loc.t() + BLOCK_RECORDS as i64 - 1);
                }
            }
        }
        Ok(t)
    }

    /// Sets the expiry lifetimes (`[expiry]`) ingest applies: a
    /// re-sighting that revives an expired IOC, or moves its `last_seen` by
    /// half a lifetime or more, re-indexes the record instead of patching
    /// `last_seen` in place ([`Lifetimes::reindexes`]). Every process that
    /// ingests sets it from its config (and `serve` again on reload);
    /// without it no re-sighting re-indexes.
    pub fn set_lifetimes(&self, lifetimes: Lifetimes) {
        *self.lifetimes.write().unwrap_or_else(|p| p.into_inner()) = lifetimes;
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

    /// The time of a new block of `records` records: after every time
    /// handed out before (`last`, even if the clock stepped back) and not
    /// before now. Its records take `t, t+1, ...` (one microsecond each),
    /// so `last` moves to the block's last record time.
    fn next_block_time(last: &mut i64, records: usize) -> i64 {
        let now = micros(Utc::now());
        let t = now.max(*last + 1);
        *last = t + records.max(1) as i64 - 1;
        t
    }

    /// Reads every block header and patch into a fresh id index.
    fn build_index(&self) -> Result<IdIndex, StoreError> {
        let mut ix = IdIndex::default();
        for kv in self.iocs.scan_prefix([P_HEADER]) {
            let (k, v) = kv?;
            if let Some(loc) = parse_loc_key(&k) {
                index::add_block(&mut ix, loc, block::decode_ids(&v));
            }
        }
        for kv in self.iocs.scan_prefix([P_PATCH]) {
            let (k, v) = kv?;
            let (Some(loc), Ok(p)) = (parse_loc_key(&k), Patch::decode(&v)) else {
                continue;
            };
            for (id, op) in &p.ops {
                if *op == PatchOp::Gone && ix.get(id) == Some(&loc) {
                    ix.remove(id);
                }
            }
        }
        Ok(ix)
    }

    /// The id index, built if needed, for a holder of `writer`.
    fn index_mut(&self) -> Result<RwLockWriteGuard<'_, Option<IdIndex>>, StoreError> {
        let mut g = self.index.write().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(self.build_index()?);
        }
        Ok(g)
    }

    /// Where `id`'s record is, if stored.
    fn locate(&self, id: &Uuid) -> Result<Option<Loc>, StoreError> {
        {
            let g = self.index.read().unwrap_or_else(|p| p.into_inner());
            if let Some(ix) = g.as_ref() {
                return Ok(ix.get(id).copied());
            }
        }
        Ok(self
            .index_mut()?
            .as_ref()
            .and_then(|ix| ix.get(id).copied()))
    }

    /// Forgets the id index (after a repair changed blocks underneath it).
    fn drop_index(&self) {
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn patch_at(&self, loc: Loc) -> Result<Patch, StoreError> {
        match self.iocs.get(loc_key(P_PATCH, loc))? {
            Some(v) => Patch::decode(&v).map_err(|e| codec_err(loc, e)),
            None => Ok(Patch::default()),
        }
    }

    /// Reads the block at `loc` and its patch: `None` if the block is gone.
    fn touch(&self, loc: Loc) -> Result<Option<(Touched, sled::IVec)>, StoreError> {
        let Some(bytes) = self.iocs.get(loc_key(P_BLOCK, loc))? else {
            return Ok(None);
        };
        let len = BlockView::parse(&bytes)
            .map_err(|e| codec_err(loc, e))?
            .len();
        let t = Touched {
            loc,
            len,
            patch: self.patch_at(loc)?,
            dirty: false,
        };
        Ok(Some((t, bytes)))
    }

    /// The live record `id` of a block read by [`Store::touch`].
    fn record_in(t: &Touched, bytes: &[u8], id: &Uuid) -> Result<Option<Indicator>, StoreError> {
        let view = BlockView::parse(bytes).map_err(|e| codec_err(t.loc, e))?;
        let Some(i) = view.find(id) else {
            return Ok(None);
        };
        let rec = view.record(i).map_err(|e| codec_err(t.loc, e))?;
        Ok(t.patch.apply(rec))
    }

    /// Stores a batch of observations: dedupes within the batch, merges with
    /// stored records (last_seen, sources, tags, techniques merged; highest
    /// confidence kept; most restrictive TLP kept), moves changed records to
    /// the end of the time order, then flushes. Returns only after the data
    /// is durable.
    ///
    /// Known IOCs are read block by block in key order, so each stored
    /// block (and the sled node holding it) is read once per call, in one
    /// sequential pass. Writes go in atomic chunks of about 4096
    /// observations, each holding whole blocks' worth of changes: a record
    /// moved to a new block and the patch that marks it gone from its old
    /// one are in the same chunk.
    pub fn ingest(&self, batch: Vec<Observation>) -> Result<IngestReport, StoreError> {
        let mut report = IngestReport::default();
        // Group the batch by IOC, keeping arrival order: each IOC's
        // observations are folded one after the other by the merge rule
        // (`ioc::merge`), exactly as if each had come in its own call.
        let mut order: Vec<Uuid> = Vec::with_capacity(batch.len());
        let mut first: HashMap<Uuid, (Observation, Vec<Observation>)> =
            HashMap::with_capacity(batch.len());
        for mut o in batch {
            o.sanitize();
            let id = o.id();
            match first.get_mut(&id) {
                Some((_, more)) => more.push(o),
                None => {
                    order.push(id);
                    first.insert(id, (o, Vec::new()));
                }
            }
        }
        let mut last = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Only holders of `writer` change the index, so it can be read
        // under its read lock here and locked for writing only while a
        // chunk's new locations go in: lookups by id are not held up for
        // the whole call.
        drop(self.index_mut()?);
        // The commit time of observations that state none. Records get
        // their index times when their chunk commits.
        let now = from_micros(micros(Utc::now()).max(*last + 1));
        let lifetimes = *self.lifetimes.read().unwrap_or_else(|p| p.into_inner());
        let mut known: Vec<(Loc, usize)> = Vec::with_capacity(order.len());
        {
            let ix = self.index.read().unwrap_or_else(|p| p.into_inner());
            let tombstoned = self.tombstoned.read().unwrap_or_else(|p| p.into_inner());
            for (n, id) in order.iter().enumerate() {
                if tombstoned.contains(id) {
                    // Every observation of a deleted IOC is suppressed.
                    report.suppressed += 1 + first.get(id).map_or(0, |g| g.1.len() as u64);
                } else {
                    let loc = ix.as_ref().and_then(|ix| ix.get(id).copied());
                    known.push((loc.unwrap_or(Loc::NONE), n));
                }
            }
        }
        known.sort_unstable();
        let mut pending = Pending::default();
        for group in known.chunk_by(|a, b| a.0 == b.0) {
            let loc = group[0].0;
            let mut block = match loc {
                Loc::NONE => None,
                _ => self.touch(loc)?,
            };
            for &(_, n) in group {
                let id = &order[n];
                let Some((o, more)) = first.remove(id) else {
                    continue;
                };
                let old = match &block {
                    Some((t, bytes)) => Self::record_in(t, bytes, id)?,
                    None => None,
                };
                match (old, block.as_mut()) {
                    (Some(old), Some((t, _))) => {
                        let mut rec = old;
                        let old_seen = rec.last_seen;
                        let mut change = Change::None;
                        for o in std::iter::once(&o).chain(&more) {
                            let c = merge::merge(&mut rec, o, now);
                            report.count(c);
                            change = change.max(c);
                        }
                        if change == Change::LastSeen
                            && lifetimes.reindexes(rec.ioc_type, old_seen, rec.last_seen, now)
                        {
                            change = Change::Content;
                        }
                        match change {
                            Change::Content => {
                                t.mark(*id, PatchOp::Gone);
                                pending.add(rec, false);
                            }
                            Change::LastSeen => {
                                t.mark(*id, PatchOp::Seen(micros(rec.last_seen)));
                                pending.len += 1;
                            }
                            Change::None => {}
                        }
                    }
                    _ => {
                        let mut rec = merge::new_record(*id, &o, now);
                        report.new += 1;
                        for o in &more {
                            report.count(merge::merge(&mut rec, o, now));
                        }
                        pending.add(rec, true);
                        // New IOCs form one big group: cut it anywhere.
                        if pending.len >= CHUNK && block.is_none() {
                            self.commit_pending(&mut pending, &mut last)?;
                        }
                    }
                }
            }
            if let Some((t, _)) = block {
                pending.touched.push(t);
            }
            if pending.len >= CHUNK {
                self.commit_pending(&mut pending, &mut last)?;
            }
        }
        self.commit_pending(&mut pending, &mut last)?;
        drop(last);
        self.flush()?;
        Ok(report)
    }

    /// Applies one atomic batch: new blocks for new and changed records,
    /// patches (or folded rewrites) of the blocks they left or re-saw,
    /// counters; then points the id index at the new blocks. The caller
    /// holds `writer`.
    fn commit_pending(&self, pending: &mut Pending, last: &mut i64) -> Result<(), StoreError> {
        let p = std::mem::take(pending);
        if p.len == 0 && p.touched.is_empty() && p.remove.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut placed: Vec<(Uuid, Loc)> = Vec::with_capacity(p.len);
        let mut added = timeline::Added::new();
        for (ty, mut recs) in IocType::ALL.into_iter().zip(p.fresh) {
            let new = recs.iter().filter(|(_, n)| *n).count() as u64;
            recs.sort_by_key(|r| r.0.id);
            let mut recs = recs.into_iter().peekable();
            while recs.peek().is_some() {
                let n = recs.len().min(BLOCK_RECORDS);
                let t = Self::next_block_time(last, n);
                let loc = Loc::new(ty, t);
                let mut out: Vec<Indicator> = Vec::with_capacity(BLOCK_RECORDS);
                for (rank, (mut rec, is_new)) in recs.by_ref().take(BLOCK_RECORDS).enumerate() {
                    // One microsecond per record, in id order (the
                    // block's order): every record has its own index time.
                    rec.modified = from_micros(t + rank as i64);
                    if is_new {
                        rec.added_at = rec.modified;
                        *added
                            .entry((ty, timeline::hour_of(rec.added_at)))
                            .or_insert(0) += 1;
                    }
                    placed.push((rec.id, loc));
                    out.push(rec);
                }
                batch.insert(
                    &loc_key(P_HEADER, loc)[..],
                    block::encode_ids(out.iter().map(|x| x.id)),
                );
                batch.insert(&loc_key(P_BLOCK, loc)[..], block::encode_block(&mut out));
            }
            let fix = p.count_fix[ty.code() as usize];
            if new > 0 || fix != 0 {
                let cur = self
                    .iocs
                    .get(count_key(ty))?
                    .map(|v| read_u64(&v))
                    .unwrap_or(0);
                let n = (cur + new).saturating_add_signed(fix);
                batch.insert(&count_key(ty)[..], &n.to_be_bytes()[..]);
            }
        }
        self.timeline_add(&mut batch, &added)?;
        for t in p.touched {
            t.write(self, &mut batch)?;
        }
        for k in p.remove {
            batch.remove(k);
        }
        // Lock order everywhere: `commit`, then `index`. Readers by id hold
        // `commit` across their index lookup and block read, so they see
        // the batch and the index change together or neither.
        let _w = self.commit.write().unwrap_or_else(|p| p.into_inner());
        self.iocs.apply_batch(batch)?;
        self.generation.fetch_add(1, Ordering::Release);
        if let Some(ix) = self
            .index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            for (id, loc) in placed {
                ix.insert(id, loc);
            }
        }
        Ok(())
    }

    /// The indicator with this id, if stored (tombstoned ones are gone).
    pub fn get(&self, id: &Uuid) -> Result<Option<Indicator>, StoreError> {
        let _r = self.commit.read().unwrap_or_else(|p| p.into_inner());
        let Some(loc) = self.locate(id)? else {
            return Ok(None);
        };
        match self.touch(loc)? {
            Some((t, bytes)) => Self::record_in(&t, &bytes, id),
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

    /// Deletes an indicator as a false positive: marks its record gone in
    /// its block's patch and leaves a tombstone, atomically, then flushes.
    /// Returns the removed indicator, or `None` if it was not stored.
    pub fn delete(
        &self,
        id: &Uuid,
        reason: Option<String>,
    ) -> Result<Option<Indicator>, StoreError> {
        let _last = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(loc) = self.locate(id)? else {
            return Ok(None);
        };
        let Some((mut touched, bytes)) = self.touch(loc)? else {
            return Ok(None);
        };
        let Some(old) = Self::record_in(&touched, &bytes, id)? else {
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
        touched.mark(*id, PatchOp::Gone);
        touched.write(self, &mut batch)?;
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
            if let Some(ix) = self
                .index
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
            {
                ix.remove(id);
            }
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
        let q = Query::default();
        for i in self.scan(&q) {
            for s in &i?.sources {
                *m.entry(s.name.clone()).or_insert(0) += 1;
            }
        }
        Ok(m)
    }

    /// Oldest and newest index time (`modified`) of stored indicators: the
    /// first block's time and the newest block's last record's time.
    pub fn time_range(&self) -> Result<Option<TimeRange>, StoreError> {
        let mut lo: Option<i64> = None;
        let mut hi: Option<i64> = None;
        for ty in IocType::ALL {
            let prefix = [P_BLOCK, ty.code()];
            if let Some(loc) = self
                .iocs
                .scan_prefix(prefix)
                .next()
                .transpose()?
                .and_then(|(k, _)| parse_loc_key(&k))
            {
                lo = Some(lo.map_or(loc.t(), |x| x.min(loc.t())));
            }
            if let Some((k, v)) = self.iocs.scan_prefix(prefix).next_back().transpose()? {
                let Some(loc) = parse_loc_key(&k) else {
                    continue;
                };
                let view = BlockView::parse(&v).map_err(|e| codec_err(loc, e))?;
                let newest = match view.len() {
                    0 => loc.t(),
                    n => micros(view.record(n - 1).map_err(|e| codec_err(loc, e))?.modified),
                };
                hi = Some(hi.map_or(newest, |x| x.max(newest)));
            }
        }
        Ok(match (lo, hi) {
            (Some(a), Some(b)) => Some((from_micros(a), from_micros(b))),
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

#[cfg(test)]
mod tests;
