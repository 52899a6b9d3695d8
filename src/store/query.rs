//! Time-ordered queries over the blocks with stable cursors.
//!
//! A page costs O(limit) record reads plus at most one partly used block
//! at each end, whatever its position: the cursor is the `(t, id)` of the
//! last record returned, and the next page starts strictly after it (never
//! an offset).
//!
//! ## Index times
//! Every record has its own index time (`modified`, microseconds): a block
//! at time `t` holds records at `t, t+1, ...` in id order (one microsecond
//! each, at most [`BLOCK_RECORDS`]), and the next block of any type starts
//! after its last one. Blocks written before iocd 0.2 (and converted
//! layout-1 blocks) hold records that all share the block's time. Either
//! way the order of `(block t, id)` is the order of `(modified, id)`, so
//! scans merge types by block time without decoding, and only the blocks
//! at a bound (`since`, `until`, the cursor), where a block's time and its
//! records' times differ, decode records to compare their own times. TAXII
//! `date_added` is that time, so `added_after` (exclusive) never hides a
//! record that shares a timestamp with another (TAXII 2.1 §3.4).

use super::block::{BlockView, Patch, PatchOp, BLOCK_RECORDS};
use super::codec::micros;
use super::index::Loc;
use super::{codec_err, loc_key, parse_loc_key, Store, StoreError, P_BLOCK};
use crate::ioc::expiry::ExpiryFilter;
use crate::ioc::{Indicator, IocType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::ops::Bound;
use uuid::Uuid;

/// A position in the time index: (the record's index time `modified` in
/// micros, indicator id).
/// Serialized as 32 characters of unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub micros: u64,
    pub id: Uuid,
}

impl Cursor {
    /// Opaque text form for `next_cursor` / TAXII `next`.
    pub fn encode(&self) -> String {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&self.micros.to_be_bytes());
        b[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(b)
    }

    /// Parses [`Cursor::encode`]'s output; `None` for anything else.
    pub fn decode(s: &str) -> Option<Cursor> {
        let b = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
        if b.len() != 24 {
            return None;
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[..8]);
        Some(Cursor {
            micros: u64::from_be_bytes(t),
            id: Uuid::from_slice(&b[8..]).ok()?,
        })
    }

    /// The cursor just after an indicator.
    pub fn after(i: &Indicator) -> Cursor {
        Cursor {
            micros: micros(i.modified).max(0) as u64,
            id: i.id,
        }
    }
}

/// A listing request. Times bound the index time (`modified`), `since`
/// inclusive, `until` exclusive.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub ioc_type: Option<IocType>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Resume strictly after this position.
    pub after: Option<Cursor>,
    /// Items per page (callers cap it).
    pub limit: usize,
    /// Only indicators with a source of this name (case-insensitive).
    pub source: Option<String>,
    /// Only indicators carrying this tag (case-insensitive).
    pub tag: Option<String>,
    pub min_confidence: Option<u8>,
    /// Only indicators not expired at the filter's instant
    /// ([`crate::ioc::expiry`]); `None` admits expired ones too. Applied
    /// like the other record filters: before a page is counted, and the
    /// cursor is still the last record returned, so a run of expired
    /// records neither shortens a page nor ends the listing early.
    pub unexpired: Option<ExpiryFilter>,
    /// Leave this type out (the MISP listing: `mitre_attack` records
    /// become event tags, not attributes, so they must not use up a page
    /// whose `limit` counts attributes).
    pub exclude_type: Option<IocType>,
}

impl Query {
    fn matches(&self, i: &Indicator) -> bool {
        if self.exclude_type == Some(i.ioc_type) {
            return false;
        }
        if let Some(f) = &self.unexpired {
            if !f.admits(i) {
                return false;
            }
        }
        if let Some(c) = self.min_confidence {
            if i.confidence < c {
                return false;
            }
        }
        if let Some(s) = &self.source {
            if !i.sources.iter().any(|x| x.name.eq_ignore_ascii_case(s)) {
                return false;
            }
        }
        if let Some(t) = &self.tag {
            if !i.tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                return false;
            }
        }
        true
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Indicator>,
    /// Where the next page starts; `None` when this is the last page.
    pub next: Option<Cursor>,
}

/// The block a scan is in: its bytes, patch and position. Records are
/// decoded one at a time, only when taken: a page of one item from an
/// eleven-type merge reads eleven id tables, not eleven blocks of records.
struct Current {
    loc: Loc,
    bytes: sled::IVec,
    patch: Patch,
    len: usize,
    pos: usize,
    /// The block lies at a bound: its records' own times are compared.
    exact: bool,
}

/// The bounds of a scan on record index times (micros).
#[derive(Debug, Clone, Copy)]
struct Bounds {
    /// Inclusive.
    since: i64,
    /// Exclusive position.
    after: Option<Cursor>,
    /// Exclusive.
    until: Option<i64>,
}

/// How far a block's records' times may lie after the block's time.
const SPAN: i64 = BLOCK_RECORDS as i64 - 1;

impl Bounds {
    /// Whether a record at `at` passes the lower bounds.
    fn above_lower(&self, at: i64, id: Uuid) -> bool {
        at >= self.since
            && self
                .after
                .is_none_or(|c| (at.max(0) as u64, id) > (c.micros, c.id))
    }

    fn admits(&self, at: i64, id: Uuid) -> bool {
        self.above_lower(at, id) && self.until.is_none_or(|u| at < u)
    }

    /// Whether a block at `t` may hold records on both sides of a bound.
    fn straddles(&self, t: i64) -> bool {
        t < self.since
            || self.after.is_some_and(|c| t.max(0) as u64 <= c.micros)
            || self.until.is_some_and(|u| t + SPAN >= u)
    }
}

/// One type's blocks in time order, yielding `(t, record)` with patches
/// applied, starting strictly after the cursor.
struct TypeScan<'a> {
    store: &'a Store,
    blocks: sled::Iter,
    bounds: Bounds,
    cur: Option<Current>,
}

/// A record's own index time, decoding it.
fn record_time(view: &BlockView<'_>, loc: Loc, pos: usize) -> Result<i64, StoreError> {
    let rec = view.record(pos).map_err(|e| codec_err(loc, e))?;
    Ok(micros(rec.modified))
}

impl<'a> TypeScan<'a> {
    fn new(store: &'a Store, ty: IocType, q: &Query) -> TypeScan<'a> {
        let since = q.since.map(|t| micros(t).max(0)).unwrap_or(0);
        let from = match q.after {
            Some(c) if (c.micros as i64) >= since => c.micros as i64,
            _ => since,
        };
        // A block up to SPAN before the lower bound may hold records at or
        // after it.
        let first_block = (from - SPAN).max(0);
        let start = Bound::Included(loc_key(P_BLOCK, Loc::new(ty, first_block)).to_vec());
        let until = q.until.map(|u| micros(u).max(0));
        let end = match until {
            Some(u) => Bound::Excluded(loc_key(P_BLOCK, Loc::new(ty, u)).to_vec()),
            None => Bound::Excluded(vec![P_BLOCK, ty.code() + 1]),
        };
        TypeScan {
            store,
            blocks: store.iocs.range::<Vec<u8>, _>((start, end)),
            bounds: Bounds {
                since,
                after: q.after,
                until,
            },
            cur: None,
        }
    }

    /// Moves to the next live record and returns its `(t, id)` without
    /// decoding it (except in a block at a bound); `None` at the end.
    fn head(&mut self) -> Result<Option<(u64, Uuid)>, StoreError> {
        loop {
            if let Some(c) = &mut self.cur {
                let view = BlockView::parse(&c.bytes).map_err(|e| codec_err(c.loc, e))?;
                let t = c.loc.t() as u64;
                while c.pos < c.len {
                    let id = view.id(c.pos);
                    let mut skipped = c.patch.ops.get(&id) == Some(&PatchOp::Gone);
                    if !skipped && c.exact {
                        let at = record_time(&view, c.loc, c.pos)?;
                        skipped = !self.bounds.admits(at, id);
                    }
                    if !skipped {
                        return Ok(Some((t, id)));
                    }
                    c.pos += 1;
                }
                self.cur = None;
            }
            let Some((k, bytes)) = self.blocks.next().transpose()? else {
                return Ok(None);
            };
            let Some(loc) = parse_loc_key(&k) else {
                continue;
            };
            let view = BlockView::parse(&bytes).map_err(|e| codec_err(loc, e))?;
            let len = view.len();
            let exact = self.bounds.straddles(loc.t());
            // A block wholly before the lower bound (its last record, the
            // latest, is) is passed over with one decode.
            if exact && len > 0 {
                let at = record_time(&view, loc, len - 1)?;
                if !self.bounds.above_lower(at, view.id(len - 1)) {
                    continue;
                }
            }
            self.cur = Some(Current {
                loc,
                patch: self.store.patch_at(loc)?,
                bytes,
                len,
                pos: 0,
                exact,
            });
        }
    }

    /// Decodes the record [`TypeScan::head`] stopped at and moves past it.
    fn take_record(&mut self) -> Result<Option<(u64, Indicator)>, StoreError> {
        if self.head()?.is_none() {
            return Ok(None);
        }
        let Some(c) = &mut self.cur else {
            return Ok(None);
        };
        let view = BlockView::parse(&c.bytes).map_err(|e| codec_err(c.loc, e))?;
        let rec = view.record(c.pos).map_err(|e| codec_err(c.loc, e))?;
        c.pos += 1;
        Ok(c.patch.apply(rec).map(|r| (c.loc.t() as u64, r)))
    }
}

impl Iterator for TypeScan<'_> {
    type Item = Result<(u64, Indicator), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.take_record().transpose()
    }
}

type Item = Result<(u64, Indicator), StoreError>;

/// Merges per-type scans into one stream ordered by `(t, id)`, comparing
/// id tables and decoding only the records it yields.
struct Merge<'a> {
    scans: Vec<TypeScan<'a>>,
    /// Each scan's next `(t, id)`, `None` when it is done.
    heads: Vec<Option<(u64, Uuid)>>,
    started: bool,
}

impl<'a> Merge<'a> {
    fn new(scans: Vec<TypeScan<'a>>) -> Merge<'a> {
        Merge {
            heads: vec![None; scans.len()],
            scans,
            started: false,
        }
    }

    fn step(&mut self) -> Result<Option<(u64, Indicator)>, StoreError> {
        if !self.started {
            for (h, s) in self.heads.iter_mut().zip(self.scans.iter_mut()) {
                *h = s.head()?;
            }
            self.started = true;
        }
        let Some((idx, _)) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|k| (i, k)))
            .min_by_key(|(_, k)| *k)
        else {
            return Ok(None);
        };
        let out = self.scans[idx].take_record()?;
        self.heads[idx] = self.scans[idx].head()?;
        Ok(out)
    }
}

impl Iterator for Merge<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        match self.step() {
            Ok(x) => x.map(Ok),
            Err(e) => {
                // End the stream after reporting the error once.
                self.heads.iter_mut().for_each(|h| *h = None);
                Some(Err(e))
            }
        }
    }
}

impl Store {
    /// `(t, record)` pairs of the query's range(s), in time order.
    fn index_range(&self, q: &Query) -> Box<dyn Iterator<Item = Item> + '_> {
        match q.ioc_type {
            Some(t) => Box::new(TypeScan::new(self, t, q)),
            None => Box::new(Merge::new(
                IocType::ALL
                    .iter()
                    .map(|t| TypeScan::new(self, *t, q))
                    .collect(),
            )),
        }
    }

    /// Matching `(t, record)` pairs in time order.
    fn scan_at<'a>(&'a self, q: &'a Query) -> impl Iterator<Item = Item> + 'a {
        self.index_range(q).filter(move |x| match x {
            Ok((_, i)) => q.matches(i),
            Err(_) => true,
        })
    }

    /// One page of indicators in index-time order.
    pub fn page(&self, q: &Query) -> Result<Page, StoreError> {
        let _r = self.commit.read().unwrap_or_else(|p| p.into_inner());
        let limit = q.limit.max(1);
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        let mut last = None;
        for x in self.scan_at(q) {
            let (_, i) = x?;
            if items.len() == limit {
                more = true;
                break;
            }
            last = Some(Cursor::after(&i));
            items.push(i);
        }
        Ok(Page {
            items,
            next: if more { last } else { None },
        })
    }

    /// Streams every matching indicator in index-time order, ignoring
    /// `limit` (exports; constant memory). Not isolated from concurrent
    /// writers: an indicator updated during the scan may appear twice.
    pub fn scan<'a>(
        &'a self,
        q: &'a Query,
    ) -> impl Iterator<Item = Result<Indicator, StoreError>> + 'a {
        self.scan_at(q).map(|x| x.map(|(_, i)| i))
    }
}
