//! Read-ahead for clients paging through a collection.
//!
//! SIEM pollers page sequentially: each request names the `next` of the
//! previous answer, so the server idles while the client receives and
//! parses a page, and the client idles while the server reads and renders
//! the next one. When a request resumes with `next` (the client is paging)
//! and its answer has `more`, the following page is rendered at once on the
//! blocking pool and parked here; the client's next request takes it,
//! waiting for it if it is still being rendered. Rendering then overlaps the
//! transfer instead of following it.
//!
//! What it does not change: authentication, scopes and rate limits run for
//! every request before this cache is consulted; a first page (no `next`)
//! is always rendered on request, never taken from here, so a poller's
//! `added_after` request always sees the present. A parked page is a
//! snapshot at most [`TTL`] old: an IOC changed meanwhile comes again later
//! in its new version (as it would anyway), one deleted meanwhile may be
//! served once more. Entries are used once, at most [`SLOTS`] are kept
//! (about 1 MB each at limit=1000), and unused ones expire.
//!
//! The key is everything the answer depends on: endpoint, collection,
//! producer name, the tier lookback (in days: the lookback start itself
//! moves every microsecond) and the selection (filters, cursor, limit).

use super::collections::Collection;
use super::objects::{added_range, envelope, page_response};
use super::page::{select, Producer, Selection};
use crate::http::error::ApiError;
use crate::http::handlers::{blocking, Ctx};
use crate::http::Body;
use crate::store::{Cursor, Store};
use bytes::Bytes;
use hyper::Response;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Parked pages kept at most (oldest dropped first).
pub const SLOTS: usize = 8;
/// How long a parked page may wait for its request.
pub const TTL: Duration = Duration::from_secs(5);

/// Which paged resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Objects,
    Manifest,
}

/// A rendered page.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Bytes,
    /// Date added of the first and last object (the `X-TAXII-*` headers).
    pub range: Option<(u64, u64)>,
    /// The envelope's `next`.
    pub next: Option<Cursor>,
}

type Cell = Arc<OnceCell<Rendered>>;

/// The parked pages. A std `Mutex` around a short `VecDeque`: held for a
/// scan of at most [`SLOTS`] entries, never across an await.
#[derive(Default)]
pub struct ReadAhead {
    slots: Mutex<VecDeque<(String, Instant, Cell)>>,
}

impl ReadAhead {
    /// Takes the page parked (or being rendered) under `key`, if fresh.
    fn take(&self, key: &str) -> Option<Cell> {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.retain(|(_, t, _)| now.duration_since(*t) < TTL);
        let i = s.iter().position(|(k, _, _)| k == key)?;
        s.remove(i).map(|(_, _, c)| c)
    }

    /// The cell to render `key` into, or `None` if one is already parked.
    fn reserve(&self, key: String) -> Option<Cell> {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        s.retain(|(_, t, _)| now.duration_since(*t) < TTL);
        if s.iter().any(|(k, _, _)| *k == key) {
            return None;
        }
        while s.len() >= SLOTS {
            s.pop_front();
        }
        let cell: Cell = Arc::new(OnceCell::new());
        s.push_back((key, now, cell.clone()));
        Some(cell)
    }

    /// Pages parked now (tests, diagnostics).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Selects and renders one page on the blocking pool.
async fn render(
    store: Arc<Store>,
    sel: Selection,
    p: Producer,
    coll: &'static Collection,
    kind: Kind,
) -> Result<Rendered, ApiError> {
    blocking(move || {
        let page = select(&store, &sel, &p, coll)?;
        let body = match kind {
            Kind::Objects => envelope(&page, &p)?,
            Kind::Manifest => super::manifest::render(&page, &p)?,
        };
        Ok(Rendered {
            body: Bytes::from(body),
            range: added_range(&page, &p),
            next: page.next,
        })
    })
    .await
}

/// Answers a page of `objects/` or `manifest/`, from the read-ahead when
/// the previous request parked it, and parks the following page when the
/// client is paging.
pub async fn serve(
    ctx: &Ctx<'_>,
    coll: &'static Collection,
    sel: Selection,
    kind: Kind,
) -> Result<Response<Body>, ApiError> {
    let p = Producer::from_ctx(ctx);
    let lookback = ctx.principal()?.limits.lookback_days;
    let key = |s: &Selection| {
        format!(
            "{kind:?}|{}|{}|{lookback}|{:?}|{}",
            coll.alias,
            p.name,
            p.lifetimes,
            s.cache_key()
        )
    };
    let store = ctx.state.store.clone();
    let ahead = &ctx.state.taxii.readahead;
    let paging = sel.resumes();
    let parked = if paging { ahead.take(&key(&sel)) } else { None };
    let rendered = match parked {
        Some(cell) => cell
            .get_or_try_init(|| render(store.clone(), sel.clone(), p.clone(), coll, kind))
            .await?
            .clone(),
        None => render(store.clone(), sel.clone(), p.clone(), coll, kind).await?,
    };
    if let (true, Some(next)) = (paging, rendered.next) {
        let following = sel.resume_after(next);
        if let Some(cell) = ahead.reserve(key(&following)) {
            let p = p.clone();
            tokio::spawn(async move {
                // A failure leaves the cell empty: the request renders itself.
                let _ = cell
                    .get_or_try_init(|| render(store, following, p, coll, kind))
                    .await;
            });
            // tokio runs a task spawned from a worker in that worker's LIFO
            // slot, which the other worker cannot steal: without a yield the
            // render would start only after this task has encrypted and
            // written the whole page (~1 ms at limit=1000), too late to
            // overlap with the client. Yielding lets it start its blocking
            // work now, on the other core (1M-store paging: 280,000 ->
            // 320,000-390,000 objects/s).
            tokio::task::yield_now().await;
        }
    }
    Ok(page_response(rendered.body, rendered.range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_once_and_bounded() {
        let r = ReadAhead::default();
        assert!(r.reserve("a".into()).is_some());
        assert!(r.reserve("a".into()).is_none(), "one render per key");
        assert!(r.take("a").is_some());
        assert!(r.take("a").is_none(), "used once");
        for i in 0..SLOTS + 3 {
            r.reserve(format!("k{i}"));
        }
        assert_eq!(r.len(), SLOTS);
        assert!(r.take("k0").is_none(), "oldest dropped");
        assert!(r.take(&format!("k{}", SLOTS + 2)).is_some());
    }
}
