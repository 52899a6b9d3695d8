//! Articles (issue #14 item 1) in the `iocs` tree, so backups, restores
//! and `verify` cover them with the IOCs.
//!
//! Key layout (docs/store.md, "Articles"):
//! - `N ++ published (u64 BE, microseconds since the epoch, clamped at 0)
//!   ++ id (16 bytes)` → the [`Article`] as JSON. Newest-first listing is a
//!   reverse range scan; the cursor is the last key handed out.
//! - `O ++ id` → the `N` key's published micros (u64 BE): lookup by id,
//!   and the old `N` key to drop when a re-import changes `published`.
//!
//! A re-import of the same article (same id) replaces it, keeping its
//! `added` time, and its `published` time when the new copy states none.

use super::{Store, StoreError};
use crate::articles::Article;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Key prefixes (unused by every other `P_*` prefix of the `iocs` tree).
pub(super) const P_ARTICLE: u8 = b'N';
pub(super) const P_ARTICLE_ID: u8 = b'O';

/// What [`Store::put_articles`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArticleReport {
    pub new: u64,
    pub updated: u64,
}

/// The filters of an article listing ([`Store::articles_page`]).
#[derive(Debug, Clone, Default)]
pub struct ArticleQuery {
    /// `published` at or after / at or before (inclusive).
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Lower-cased words that must all occur in title or text.
    pub words: Vec<String>,
    /// Exact source name.
    pub source: Option<String>,
    /// Exact tag (case-insensitive).
    pub tag: Option<String>,
    /// Only articles with (true) / without (false) extracted IOCs.
    pub has_iocs: Option<bool>,
    /// Page size (≥ 1).
    pub limit: usize,
    /// Continue after this key (from [`ArticlePage::next`]).
    pub cursor: Option<Vec<u8>>,
}

/// One page, newest first; `next` is the key to continue after.
#[derive(Debug, Clone)]
pub struct ArticlePage {
    pub items: Vec<Article>,
    pub next: Option<Vec<u8>>,
}

fn micros(t: DateTime<Utc>) -> u64 {
    t.timestamp_micros().max(0) as u64
}

fn article_key(published: u64, id: &Uuid) -> [u8; 25] {
    let mut k = [0u8; 25];
    k[0] = P_ARTICLE;
    k[1..9].copy_from_slice(&published.to_be_bytes());
    k[9..].copy_from_slice(id.as_bytes());
    k
}

fn id_key(id: &Uuid) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = P_ARTICLE_ID;
    k[1..].copy_from_slice(id.as_bytes());
    k
}

fn decode(k: &[u8], v: &[u8]) -> Result<Article, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Codec {
        key: super::verify::hex(k),
        source: super::codec::CodecError::Corrupt(format!("article JSON: {e}")),
    })
}

/// True when `k` is a well-formed article cursor key.
pub fn valid_cursor(k: &[u8]) -> bool {
    k.len() == 25 && k[0] == P_ARTICLE
}

impl Store {
    /// Stores `articles` in one atomic batch (durable on return): new ones
    /// are added, known ids replaced (keeping `added`, and `published`
    /// when the new copy defaulted it to the import time).
    pub fn put_articles(&self, articles: &[Article]) -> Result<ArticleReport, StoreError> {
        let _w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = sled::Batch::default();
        let mut rep = ArticleReport::default();
        let mut seen = std::collections::HashMap::new();
        for a in articles {
            let mut a = a.clone();
            let old_t = match seen.get(&a.id) {
                Some(t) => Some(*t),
                None => self.iocs.get(id_key(&a.id))?.map(|v| super::read_u64(&v)),
            };
            if let Some(t) = old_t {
                let ok = article_key(t, &a.id);
                if let Some(v) = self.iocs.get(ok)? {
                    let old = decode(&ok, &v)?;
                    a.added = old.added;
                    if a.published == a.added || a.published > Utc::now() {
                        a.published = old.published;
                    }
                }
                batch.remove(&ok[..]);
                rep.updated += 1;
            } else {
                rep.new += 1;
            }
            let t = micros(a.published);
            let json = serde_json::to_vec(&a).map_err(|e| StoreError::Codec {
                key: a.id.to_string(),
                source: super::codec::CodecError::Corrupt(format!("article JSON: {e}")),
            })?;
            batch.insert(&article_key(t, &a.id)[..], json);
            batch.insert(&id_key(&a.id)[..], &t.to_be_bytes()[..]);
            seen.insert(a.id, t);
        }
        self.iocs.apply_batch(batch)?;
        self.iocs.flush()?;
        Ok(rep)
    }

    /// The article with this id.
    pub fn article(&self, id: &Uuid) -> Result<Option<Article>, StoreError> {
        let Some(t) = self.iocs.get(id_key(id))? else {
            return Ok(None);
        };
        let k = article_key(super::read_u64(&t), id);
        match self.iocs.get(k)? {
            Some(v) => Ok(Some(decode(&k, &v)?)),
            None => Ok(None),
        }
    }

    /// Articles matching `q`, newest `published` first. Reads at most the
    /// articles in the `since..until` window (a reverse range scan).
    pub fn articles_page(&self, q: &ArticleQuery) -> Result<ArticlePage, StoreError> {
        let lo = article_key(q.since.map(micros).unwrap_or(0), &Uuid::nil());
        let mut hi = article_key(q.until.map(micros).unwrap_or(u64::MAX), &Uuid::max()).to_vec();
        if let Some(c) = &q.cursor {
            if c.as_slice() <= hi.as_slice() {
                // Exclusive: everything strictly before the cursor key.
                hi = c.clone();
            }
        }
        let mut items = Vec::new();
        let mut next = None;
        let range = self.iocs.range(&lo[..]..&hi[..]);
        // A cursor range is exclusive at `hi`; without a cursor `hi` is the
        // max key of `until`, which no stored key equals.
        for kv in range.rev() {
            let (k, v) = kv?;
            let a = decode(&k, &v)?;
            if !matches(&a, q) {
                continue;
            }
            if items.len() == q.limit {
                next = items
                    .last()
                    .map(|l: &Article| article_key(micros(l.published), &l.id).to_vec());
                break;
            }
            items.push(a);
        }
        Ok(ArticlePage { items, next })
    }

    /// Number of stored articles.
    pub fn article_count(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for kv in self.iocs.scan_prefix([P_ARTICLE_ID]) {
            kv?;
            n += 1;
        }
        Ok(n)
    }
}

fn matches(a: &Article, q: &ArticleQuery) -> bool {
    if q.source.as_deref().is_some_and(|s| s != a.source) {
        return false;
    }
    if let Some(t) = &q.tag {
        if !a.tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
            return false;
        }
    }
    if let Some(h) = q.has_iocs {
        if h == a.iocs.is_empty() {
            return false;
        }
    }
    a.matches(&q.words)
}
