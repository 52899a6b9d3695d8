//! Time-ordered queries over the index trees with stable cursors.
//!
//! A page costs O(limit) index steps plus record reads, whatever its
//! position: the cursor is the last index key returned, and the next page
//! starts strictly after it (never an offset).

use super::codec::{decode_indicator, micros};
use super::{record_key, Store, StoreError, P_RECORD};
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

/// One type's range of `T` records.
fn type_range(store: &Store, ty: IocType, q: &Query) -> sled::Iter {
    let since = q.since.map(|t| micros(t).max(0)).unwrap_or(0);
    let start = match q.after {
        Some(c) if (c.micros as i64) >= since => {
            Bound::Excluded(record_key(ty, c.micros as i64, &c.id).to_vec())
        }
        _ => Bound::Included(record_key(ty, since, &Uuid::nil()).to_vec()),
    };
    let end = match q.until {
        Some(u) => Bound::Excluded(record_key(ty, micros(u).max(0), &Uuid::nil()).to_vec()),
        None => Bound::Excluded(vec![P_RECORD, ty.code() + 1]),
    };
    store.iocs.range::<Vec<u8>, _>((start, end))
}

/// Merges per-type ranges into one stream ordered by `(micros, id)` — the
/// key bytes after the two-byte `T ++ type` prefix.
struct Merge {
    iters: Vec<sled::Iter>,
    heads: Vec<Option<(sled::IVec, sled::IVec)>>,
    error: Option<sled::Error>,
}

impl Merge {
    fn new(mut iters: Vec<sled::Iter>) -> Merge {
        let mut error = None;
        let heads = iters
            .iter_mut()
            .map(|it| match it.next() {
                Some(Ok(kv)) => Some(kv),
                Some(Err(e)) => {
                    error = Some(e);
                    None
                }
                None => None,
            })
            .collect();
        Merge {
            iters,
            heads,
            error,
        }
    }
}

impl Iterator for Merge {
    type Item = Result<(sled::IVec, sled::IVec), sled::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let (idx, _) = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(k, _)| (i, k.get(2..).unwrap_or(&[]))))
            .min_by(|a, b| a.1.cmp(b.1))?;
        let out = self.heads[idx].take();
        self.heads[idx] = match self.iters[idx].next() {
            Some(Ok(kv)) => Some(kv),
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
    /// Raw `(key, record)` pairs of the query's range(s), in time order.
    fn index_range(
        &self,
        q: &Query,
    ) -> Box<dyn Iterator<Item = Result<(sled::IVec, sled::IVec), sled::Error>> + '_> {
        match q.ioc_type {
            Some(t) => Box::new(type_range(self, t, q)),
            None => Box::new(Merge::new(
                IocType::ALL
                    .iter()
                    .map(|t| type_range(self, *t, q))
                    .collect(),
            )),
        }
    }

    /// One page of indicators in index-time order.
    pub fn page(&self, q: &Query) -> Result<Page, StoreError> {
        let _r = self.commit.read().unwrap_or_else(|p| p.into_inner());
        let limit = q.limit.max(1);
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        for i in self.scan(q) {
            let i = i?;
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(i);
        }
        let next = if more {
            items.last().map(Cursor::after)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Streams every matching indicator in index-time order, ignoring
    /// `limit` (exports; constant memory). Not isolated from concurrent
    /// writers: an indicator updated during the scan may appear twice.
    pub fn scan<'a>(
        &'a self,
        q: &'a Query,
    ) -> impl Iterator<Item = Result<Indicator, StoreError>> + 'a {
        self.index_range(q).filter_map(move |kv| {
            let (k, v) = match kv {
                Ok(x) => x,
                Err(e) => return Some(Err(e.into())),
            };
            match decode_indicator(&v) {
                Ok(i) if q.matches(&i) => Some(Ok(i)),
                Ok(_) => None,
                Err(e) => Some(Err(StoreError::Codec {
                    key: format!("{:?}", &k[..]),
                    source: e,
                })),
            }
        })
    }
}
