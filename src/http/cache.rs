//! Rendered-response cache for the read routes (listings and exports).
//!
//! SIEMs, firewalls and scripts poll the same feed URL, often many of them
//! at once: rendering 1,000 STIX indicators for each is wasted work when
//! nothing changed. A cached response is reused only while
//!
//! - the request is identical: same route, same query parameters (order
//!   and `api_key` ignored) and same tier lookback (the only thing about the
//!   caller a read handler looks at; authentication, scope and rate limits
//!   are still checked on every request, before the cache);
//! - no IOC was written or deleted since it was rendered
//!   ([`Store::generation`](crate::store::Store::generation));
//! - it is younger than `response_cache_ms` (a tier's lookback window
//!   slides with the clock, so even an idle store ages its answers).
//!
//! Only 200 responses are kept, within a memory budget
//! (`response_cache_mib`); a response larger than a quarter of it is never
//! kept. Hits carry `X-Iocd-Cache: hit`, fresh renders `miss`.

use super::compress;
use super::params::Params;
use super::router::Handler;
use super::Body;
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Response, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Header telling whether a response came from the cache (`hit`/`miss`).
pub const CACHE_HEADER: &str = "x-iocd-cache";

struct Entry {
    generation: u64,
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
    /// The gzip variant, made on the first request that accepts it
    /// (`None` inside: not worth compressing).
    gz: OnceLock<Option<Bytes>>,
}

impl Entry {
    fn cost(&self, key: &str) -> usize {
        // The gzip variant is counted as half the body up front (JSON
        // compresses 5-8x, random hashes in CSV about 3x).
        key.len() + self.body.len() + self.body.len() / 2 + 64 * self.headers.len() + 128
    }

    /// The response for a client that does (`gzip`) or does not accept
    /// gzip, marked with `cache` (`hit`/`miss`).
    fn response(&self, gzip: bool, cache: &'static str) -> Response<Body> {
        let mut r = Response::new(Body::new(self.body.clone()));
        *r.headers_mut() = self.headers.clone();
        r.headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(cache));
        compress::set_vary(&mut r);
        if gzip {
            if let Some(gz) = self.gz.get_or_init(|| compress::gzip(&self.body)) {
                return compress::with_gzip(r, gz.clone());
            }
        }
        r
    }
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Arc<Entry>>,
    bytes: usize,
}

/// The cache. Cheap to consult: one mutex-guarded map lookup and a clone of
/// the body's reference-counted buffer.
pub struct ResponseCache {
    ttl: Duration,
    budget: usize,
    inner: Mutex<Inner>,
}

impl ResponseCache {
    /// A cache keeping responses `ttl_ms` milliseconds within `budget_mib`
    /// MiB. `ttl_ms == 0` or `budget_mib == 0` disables it.
    pub fn new(ttl_ms: u64, budget_mib: u64) -> ResponseCache {
        ResponseCache {
            ttl: Duration::from_millis(ttl_ms),
            budget: usize::try_from(budget_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.budget > 0
    }

    /// The cache key of a request to `handler`, or `None` when the route's
    /// responses are not cacheable (writes, single-IOC reads, keys,
    /// metrics: cheap or caller-specific) or the cache is off.
    pub fn key(&self, handler: Handler, params: &Params, lookback_days: u32) -> Option<String> {
        if !self.enabled() || !cacheable(handler) {
            return None;
        }
        let mut pairs: Vec<&(String, String)> = params
            .pairs()
            .iter()
            .filter(|(k, _)| k != "api_key")
            .collect();
        // By name only, and stable: repeated parameters keep their order,
        // which decides the value a handler reads.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        // Every part length-prefixed: no name or value (which may hold any
        // character once percent-decoded) can pass for a separator.
        let mut key = format!("{handler:?}|{lookback_days}|");
        for (k, v) in pairs {
            key.push_str(&format!("{}:{k}{}:{v}", k.len(), v.len()));
        }
        Some(key)
    }

    /// The cached response for `key` if it is still current at store
    /// generation `generation`, gzip-encoded when `gzip` (the client
    /// accepts it) and worth it.
    pub fn get(&self, key: &str, generation: u64, gzip: bool) -> Option<Response<Body>> {
        let e = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.map.get(key)?.clone()
        };
        if e.generation != generation || e.at.elapsed() >= self.ttl {
            return None;
        }
        Some(e.response(gzip, "hit"))
    }

    /// Keeps `resp` (rendered from store generation `generation`) under
    /// `key` if it is a 200 within budget, and returns it marked `miss`
    /// (gzip-encoded when `gzip`, as [`ResponseCache::get`]).
    pub fn put(
        &self,
        key: String,
        generation: u64,
        resp: Response<Body>,
        gzip: bool,
    ) -> Response<Body> {
        if resp.status() != StatusCode::OK {
            return resp;
        }
        let (parts, body) = resp.into_parts();
        let entry = Arc::new(Entry {
            generation,
            at: Instant::now(),
            headers: parts.headers,
            body: body.into_inner().unwrap_or_default(),
            gz: OnceLock::new(),
        });
        let out = entry.response(gzip, "miss");
        let cost = entry.cost(&key);
        if cost <= self.budget / 4 {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = inner.map.remove(&key) {
                inner.bytes -= old.cost(&key);
            }
            if inner.bytes + cost > self.budget {
                // Drop what can no longer be served; if that is not enough,
                // start over (entries live seconds: nothing worth an LRU).
                let ttl = self.ttl;
                let mut freed = 0;
                inner.map.retain(|k, e| {
                    let keep = e.at.elapsed() < ttl;
                    if !keep {
                        freed += e.cost(k);
                    }
                    keep
                });
                inner.bytes -= freed;
                if inner.bytes + cost > self.budget {
                    inner.map.clear();
                    inner.bytes = 0;
                }
            }
            inner.bytes += cost;
            inner.map.insert(key, entry);
        }
        out
    }
}

/// The read routes whose rendering is worth keeping (and compressing).
pub fn cacheable(h: Handler) -> bool {
    matches!(
        h,
        Handler::ListIocs
            | Handler::ListIocsCsv
            | Handler::Stix
            | Handler::Misp
            | Handler::Cef
            | Handler::OpenIoc
            | Handler::Sigma
            | Handler::Suricata
            | Handler::Snort
            | Handler::Stats
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &'static str) -> Response<Body> {
        Response::new(Body::new(Bytes::from_static(body.as_bytes())))
    }

    async fn text(r: Response<Body>) -> String {
        use http_body_util::BodyExt;
        let b = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn hit_needs_same_request_generation_and_age() {
        let c = ResponseCache::new(60_000, 1);
        let p = Params::parse(Some("limit=5&type=ipv4&api_key=secret"));
        let same = Params::parse(Some("type=ipv4&limit=5"));
        let other = Params::parse(Some("type=ipv4&limit=6"));
        let k = c.key(Handler::ListIocs, &p, 1).unwrap();
        assert_eq!(c.key(Handler::ListIocs, &same, 1).unwrap(), k);
        assert_ne!(c.key(Handler::ListIocs, &other, 1).unwrap(), k);
        assert_ne!(c.key(Handler::ListIocs, &p, 365).unwrap(), k);
        assert_ne!(c.key(Handler::Stix, &p, 1).unwrap(), k);
        assert_ne!(
            c.key(
                Handler::ListIocs,
                &Params::parse(Some("limit=5&limit=6")),
                1
            ),
            c.key(
                Handler::ListIocs,
                &Params::parse(Some("limit=6&limit=5")),
                1
            )
        );
        // Separators inside names or values cannot forge another query.
        let forged = [
            ("tag=demo%7Ctype%3Dipv4", "tag=demo&type=ipv4"),
            ("tag%3Ddemo=", "tag=demo%3D"),
            ("a=1%7C2%3A3", "a=1&2=3"),
        ];
        for (x, y) in forged {
            assert_ne!(
                c.key(Handler::ListIocs, &Params::parse(Some(x)), 1),
                c.key(Handler::ListIocs, &Params::parse(Some(y)), 1),
                "{x} vs {y}"
            );
        }
        assert!(c.key(Handler::GetIoc, &p, 1).is_none());
        assert!(c.key(Handler::PostIocs, &p, 1).is_none());

        assert!(c.get(&k, 7, false).is_none());
        let r = c.put(k.clone(), 7, ok("body-7"), false);
        assert_eq!(r.headers()[CACHE_HEADER], "miss");
        assert_eq!(text(r).await, "body-7");
        let hit = c.get(&k, 7, false).unwrap();
        assert_eq!(hit.headers()[CACHE_HEADER], "hit");
        assert_eq!(text(hit).await, "body-7");
        // A write since: stale.
        assert!(c.get(&k, 8, false).is_none());
    }

    #[tokio::test]
    async fn expires_skips_errors_and_keeps_to_budget() {
        let c = ResponseCache::new(400, 1);
        let k = "k".to_string();
        c.put(k.clone(), 1, ok("x"), false);
        assert!(c.get(&k, 1, false).is_some());
        std::thread::sleep(Duration::from_millis(450));
        assert!(c.get(&k, 1, false).is_none());

        let mut bad = ok("err");
        *bad.status_mut() = StatusCode::BAD_REQUEST;
        let r = c.put("e".into(), 1, bad, false);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(c.get("e", 1, false).is_none());

        // Over a quarter of the 1 MiB budget: served, never kept.
        let big: &'static str = Box::leak("a".repeat(300 << 10).into_boxed_str());
        let r = c.put("big".into(), 1, ok(big), false);
        assert_eq!(text(r).await.len(), 300 << 10);
        assert!(c.get("big", 1, false).is_none());
        // Many entries: the total stays within the budget.
        let c = ResponseCache::new(60_000, 1);
        let chunk: &'static str = Box::leak("b".repeat(100 << 10).into_boxed_str());
        for i in 0..30 {
            c.put(format!("k{i}"), 1, ok(chunk), false);
        }
        let inner = c.inner.lock().unwrap();
        assert!(inner.bytes <= 1 << 20, "{}", inner.bytes);
        assert!(!inner.map.is_empty());
        assert_eq!(
            inner.bytes,
            inner.map.iter().map(|(k, e)| e.cost(k)).sum::<usize>()
        );
    }

    #[tokio::test]
    async fn gzip_variant_only_for_clients_that_accept_it() {
        let c = ResponseCache::new(60_000, 8);
        let body: &'static str =
            Box::leak("{\"value\":\"evil.example\"},".repeat(500).into_boxed_str());
        let r = c.put("k".into(), 1, ok(body), true);
        assert_eq!(r.headers()["content-encoding"], "gzip");
        assert_eq!(r.headers()["vary"], "accept-encoding");
        let gz = r.into_body().into_inner().unwrap();
        assert!(gz.len() < body.len() / 5);
        let plain = c.get("k", 1, false).unwrap();
        assert!(plain.headers().get("content-encoding").is_none());
        assert_eq!(text(plain).await, body);
        let again = c.get("k", 1, true).unwrap();
        assert_eq!(again.headers()["content-encoding"], "gzip");
        assert_eq!(again.into_body().into_inner().unwrap(), gz);
    }

    #[test]
    fn off_when_ttl_or_budget_is_zero() {
        let p = Params::parse(None);
        assert!(ResponseCache::new(0, 32)
            .key(Handler::ListIocs, &p, 1)
            .is_none());
        assert!(ResponseCache::new(2000, 0)
            .key(Handler::ListIocs, &p, 1)
            .is_none());
    }
}
