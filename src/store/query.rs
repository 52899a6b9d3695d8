//! Time-ordered queries over the blocks with stable cursors.
//!
//! A page costs O(limit) record reads plus at most one partly used block
//! at each end, whatever its position: the cursor is the `(t, id)` of the
//! last record returned, and the next page starts strictly after it (never
//! an offset).

use super::block::{self, BlockView};
use super::codec::micros;
use super::index::Loc;
use super::{codec_err, loc_key, parse_loc_key, Store, StoreError, P_BLOCK};
use crate::ioc::{Indicator, IocType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use std::ops::Bound;
use uuid::Uuid;

/// A position in the time index: (index time in micros, indicator id).
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
}

impl Query {
    fn matches(&self, i: &Indicator) -> bool {
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

/// One type's blocks in time order, yielding `(t, record)` with patches
/// applied, starting strictly after the cursor.
struct TypeScan<'a> {
    store: &'a Store,
    blocks: sled::Iter,
    after: Option<Cursor>,
    t: u64,
    buf: std::vec::IntoIter<Indicator>,
}

impl<'a> TypeScan<'a> {
    fn new(store: &'a Store, ty: IocType, q: &Query) -> TypeScan<'a> {
        let since = q.since.map(|t| micros(t).max(0)).unwrap_or(0);
        let from = match q.after {
            Some(c) if (c.micros as i64) >= since => c.micros as i64,
            _ => since,
        };
        let start = Bound::Included(loc_key(P_BLOCK, Loc::new(ty, from)).to_vec());
        let end = match q.until {
            Some(u) => Bound::Excluded(loc_key(P_BLOCK, Loc::new(ty, micros(u).max(0))).to_vec()),
            None => Bound::Excluded(vec![P_BLOCK, ty.code() + 1]),
        };
        TypeScan {
            store,
            blocks: store.iocs.range::<Vec<u8>, _>((start, end)),
            after: q.after,
            t: 0,
            buf: Vec::new().into_iter(),
        }
    }

    /// Reads the next block into `buf`; `Ok(false)` at the end.
    fn fill(&mut self) -> Result<bool, StoreError> {
        let Some((k, v)) = self.blocks.next().transpose()? else {
            return Ok(false);
        };
        let Some(loc) = parse_loc_key(&k) else {
            return Ok(true);
        };
        let patch = self.store.patch_at(loc)?;
        let view = BlockView::parse(&v).map_err(|e| codec_err(loc, e))?;
        let patch = (!patch.ops.is_empty()).then_some(&patch);
        let mut recs = block::resolve(&view, patch).map_err(|e| codec_err(loc, e))?;
        self.t = loc.t() as u64;
        if let Some(c) = self.after {
            if c.micros == self.t {
                recs.retain(|r| r.id > c.id);
            }
        }
        self.buf = recs.into_iter();
        Ok(true)
    }
}

impl Iterator for TypeScan<'_> {
    type Item = Result<(u64, Indicator), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.buf.next() {
                return Some(Ok((self.t, r)));
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

type Item = Result<(u64, Indicator), StoreError>;

/// Merges per-type scans into one stream ordered by `(t, id)`.
struct Merge<'a> {
    scans: Vec<TypeScan<'a>>,
    heads: Vec<Option<(u64, Indicator)>>,
    error: Option<StoreError>,
}

impl<'a> Merge<'a> {
    fn new(mut scans: Vec<TypeScan<'a>>) -> Merge<'a> {
        let mut error = None;
        let heads = scans
            .iter_mut()
            .map(|s| match s.next() {
                Some(Ok(x)) => Some(x),
                Some(Err(e)) => {
                    error = Some(e);
                    None
                }
                None => None,
            })
            .collect();
        Merge {
            scans,
            heads,
            error,
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let (idx, _) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(t, r)| (i, (*t, r.id))))
            .min_by(|a, b| a.1.cmp(&b.1))?;
        let out = self.heads[idx].take();
        self.heads[idx] = match self.scans[idx].next() {
            Some(Ok(x)) => Some(x),
            Some(Err(e)) => {
                self.error = Some(e);
                None
            }
            None => None,
        };
        out.map(Ok)
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
            let (t, i) = x?;
            if items.len() == limit {
                more = true;
                break;
            }
            last = Some(Cursor {
                micros: t,
                id: i.id,
            });
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
