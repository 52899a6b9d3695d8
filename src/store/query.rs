//! Time-ordered queries over the index trees with stable cursors.
//!
//! A page costs O(limit) index steps plus record reads, whatever its
//! position: the cursor is the last index key returned, and the next page
//! starts strictly after it (never an offset).

use super::codec::{decode_indicator, micros};
use super::{time_key, Store, StoreError};
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

impl Store {
    fn index_range(&self, q: &Query) -> sled::Iter {
        let (tree, prefix): (&sled::Tree, Vec<u8>) = match q.ioc_type {
            Some(t) => (&self.by_type_added, vec![t.code()]),
            None => (&self.by_added, Vec::new()),
        };
        let with_prefix = |k: &[u8]| {
            let mut v = prefix.clone();
            v.extend_from_slice(k);
            v
        };
        let since = q.since.map(|t| micros(t).max(0)).unwrap_or(0);
        let start = match q.after {
            Some(c) if (c.micros as i64) >= since => {
                Bound::Excluded(with_prefix(&time_key(c.micros as i64, &c.id)))
            }
            _ => Bound::Included(with_prefix(&time_key(since, &Uuid::nil()))),
        };
        let end = match q.until {
            Some(u) => Bound::Excluded(with_prefix(&time_key(micros(u).max(0), &Uuid::nil()))),
            None => match prefix.first() {
                Some(c) => Bound::Excluded(vec![c + 1]),
                None => Bound::Unbounded,
            },
        };
        tree.range::<Vec<u8>, _>((start, end))
    }

    fn id_of_index_key(key: &[u8]) -> Option<Uuid> {
        let n = key.len();
        if n < 24 {
            return None;
        }
        Uuid::from_slice(&key[n - 16..]).ok()
    }

    /// One page of indicators in index-time order.
    pub fn page(&self, q: &Query) -> Result<Page, StoreError> {
        let _r = self.commit.read().unwrap_or_else(|p| p.into_inner());
        let limit = q.limit.max(1);
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        for i in self.scan_unlocked(q) {
            let i = i?;
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(i);
        }
        let next = if more { items.last().map(Cursor::after) } else { None };
        Ok(Page { items, next })
    }

    /// Streams every matching indicator in index-time order, ignoring
    /// `limit` (exports; constant memory). Not isolated from concurrent
    /// writers: an indicator updated during the scan may appear twice.
    pub fn scan<'a>(&'a self, q: &'a Query) -> impl Iterator<Item = Result<Indicator, StoreError>> + 'a {
        self.scan_unlocked(q)
    }

    fn scan_unlocked<'a>(&'a self, q: &'a Query) -> impl Iterator<Item = Result<Indicator, StoreError>> + 'a {
        self.index_range(q).filter_map(move |kv| {
            let (k, _) = match kv {
                Ok(x) => x,
                Err(e) => return Some(Err(e.into())),
            };
            let id = Self::id_of_index_key(&k)?;
            let rec = match self.indicators.get(id.as_bytes()) {
                Ok(Some(b)) => b,
                Ok(None) => return None,
                Err(e) => return Some(Err(e.into())),
            };
            match decode_indicator(&rec) {
                Ok(i) if q.matches(&i) => Some(Ok(i)),
                Ok(_) => None,
                Err(e) => Some(Err(StoreError::Codec {
                    key: id.to_string(),
                    source: e,
                })),
            }
        })
    }
}
