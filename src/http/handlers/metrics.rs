//! `GET /metrics`: Prometheus text exposition (format 0.0.4).
//!
//! Served on the HTTPS listener behind scope `read:stats`, like
//! `/api/v1/stats`: a scraper gets its own key (`iocd keys create --name
//! prometheus --tier pro --scopes read:stats`) that can read counts and
//! nothing else, rather than an admin key or an extra, unauthenticated
//! port. Prometheus sends it with `authorization: {credentials: ...}` and
//! trusts `ca.crt` via `tls_config.ca_file`.
//!
//! Counters live in one process-wide registry ([`observe`] is called by
//! the accept loop for every response). Labels are bounded: `route` is the
//! route-table pattern (`/api/v1/iocs/{id}`, TAXII patterns), never the raw
//! path, and `method` one of a fixed set, so a scanner probing random URLs
//! cannot grow the registry. Store gauges are read at scrape time (the
//! per-type counters are a handful of point reads).

use super::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::router::{route, Routed};
use crate::http::{bytes_response, Body};
use hyper::{Method, Response, StatusCode};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

/// The registry. A std mutex: the critical section is a map update, far
/// cheaper than the request it records.
struct Registry {
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    rate_limited: BTreeMap<&'static str, u64>,
    tls_reloads: [u64; 2],
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    requests: BTreeMap::new(),
    latency: BTreeMap::new(),
    rate_limited: BTreeMap::new(),
    tls_reloads: [0, 0],
});

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// `pattern` matches `path` segment by segment (`{x}` matches any
/// non-empty segment; trailing slashes ignored, as TAXII routes allow).
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.trim_end_matches('/').split('/');
    let mut x = path.trim_end_matches('/').split('/');
    loop {
        match (p.next(), x.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with('{') && !b.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The route label of a request: its route-table pattern, or `unmatched`.
pub fn route_label(method: &Method, path: &str) -> &'static str {
    if crate::taxii::owns(path) {
        let rows = crate::taxii::ROUTES
            .iter()
            .filter(|r| pattern_matches(r.pattern, path));
        let mut first = None;
        for r in rows {
            if r.method == *method {
                return r.pattern;
            }
            first.get_or_insert(r.pattern);
        }
        return first.unwrap_or("unmatched");
    }
    match route(method, path) {
        Routed::Found(rt, _) => rt.pattern,
        _ => "unmatched",
    }
}

/// Records one response.
pub fn observe(method: &Method, path: &str, status: u16, elapsed: Duration) {
    let route = route_label(method, path);
    let secs = elapsed.as_secs_f64();
    let mut r = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    *r.requests
        .entry((route, method_label(method), status))
        .or_insert(0) += 1;
    let h = r.latency.entry(route).or_default();
    let i = BUCKETS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(BUCKETS.len());
    h.counts[i] += 1;
    h.sum += secs;
    if status == 429 {
        *r.rate_limited.entry(route).or_insert(0) += 1;
    }
}

/// Records a SIGHUP certificate reload.
pub fn tls_reloaded(ok: bool) {
    REGISTRY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .tls_reloads[usize::from(!ok)] += 1;
}

/// Escapes a label value (`\`, `"` and newlines).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text of the request registry.
fn render_registry(out: &mut String) {
    let r = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    out.push_str(
        "# HELP iocd_http_requests_total HTTP responses by route pattern, method and status.\n",
    );
    out.push_str("# TYPE iocd_http_requests_total counter\n");
    for ((route, method, status), n) in &r.requests {
        let _ = writeln!(
            out,
            "iocd_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
            esc(route)
        );
    }
    out.push_str("# HELP iocd_http_request_duration_seconds Time from request to response headers, by route pattern.\n");
    out.push_str("# TYPE iocd_http_request_duration_seconds histogram\n");
    for (route, h) in &r.latency {
        let route = esc(route);
        let mut cum = 0u64;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += h.counts[i];
            let _ = writeln!(
                out,
                "iocd_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cum}"
            );
        }
        cum += h.counts[BUCKETS.len()];
        let _ = writeln!(
            out,
            "iocd_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            out,
            "iocd_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "iocd_http_request_duration_seconds_count{{route=\"{route}\"}} {cum}"
        );
    }
    out.push_str("# HELP iocd_rate_limited_total Requests refused with 429 (tier limits and failed-authentication limits), by route pattern.\n");
    out.push_str("# TYPE iocd_rate_limited_total counter\n");
    for (route, n) in &r.rate_limited {
        let _ = writeln!(
            out,
            "iocd_rate_limited_total{{route=\"{}\"}} {n}",
            esc(route)
        );
    }
    out.push_str("# HELP iocd_tls_reloads_total Certificate reloads on SIGHUP, by result.\n");
    out.push_str("# TYPE iocd_tls_reloads_total counter\n");
    let _ = writeln!(
        out,
        "iocd_tls_reloads_total{{result=\"ok\"}} {}",
        r.tls_reloads[0]
    );
    let _ = writeln!(
        out,
        "iocd_tls_reloads_total{{result=\"error\"}} {}",
        r.tls_reloads[1]
    );
    out.push_str("# HELP iocd_inbox_drops_total Inbox drops filed since start, by outcome (src/ops/inbox.rs).\n");
    out.push_str("# TYPE iocd_inbox_drops_total counter\n");
    for (outcome, n) in [
        ("processed", &crate::ops::inbox::PROCESSED_TOTAL),
        ("failed", &crate::ops::inbox::FAILED_TOTAL),
    ] {
        let _ = writeln!(
            out,
            "iocd_inbox_drops_total{{outcome=\"{outcome}\"}} {}",
            n.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}

/// `GET /metrics` (`read:stats`).
pub async fn metrics(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let store = ctx.state.store.clone();
    let uptime = ctx.state.started.elapsed().as_secs();
    let text = blocking(move || {
        let counts = store.counts()?;
        let mut out = String::with_capacity(8192);
        let _ = writeln!(out, "# HELP iocd_build_info Version of the running iocd.\n# TYPE iocd_build_info gauge");
        let _ = writeln!(out, "iocd_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        let _ = writeln!(out, "# HELP iocd_uptime_seconds Seconds since the server started.\n# TYPE iocd_uptime_seconds gauge");
        let _ = writeln!(out, "iocd_uptime_seconds {uptime}");
        out.push_str("# HELP iocd_iocs Live indicators in the store, by type.\n# TYPE iocd_iocs gauge\n");
        for (t, n) in &counts {
            let _ = writeln!(out, "iocd_iocs{{type=\"{}\"}} {n}", t.as_str());
        }
        out.push_str("# HELP iocd_iocs_deleted Deleted indicators kept as tombstones.\n# TYPE iocd_iocs_deleted gauge\n");
        let _ = writeln!(out, "iocd_iocs_deleted {}", store.tombstone_count());
        out.push_str("# HELP iocd_store_size_bytes Bytes the sled store occupies on disk.\n# TYPE iocd_store_size_bytes gauge\n");
        let _ = writeln!(out, "iocd_store_size_bytes {}", store.size_on_disk());
        render_registry(&mut out);
        Ok(out)
    })
    .await?;
    Ok(bytes_response(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        text.into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_route_patterns() {
        assert_eq!(
            route_label(
                &Method::GET,
                "/api/v1/iocs/0b6a1c4e-0000-5000-8000-000000000000"
            ),
            "/api/v1/iocs/{id}"
        );
        assert_eq!(
            route_label(&Method::GET, "/api/v1/iocs/stix"),
            "/api/v1/iocs/stix"
        );
        assert_eq!(route_label(&Method::GET, "/metrics"), "/metrics");
        assert_eq!(route_label(&Method::GET, "/wp-login.php"), "unmatched");
        assert_eq!(
            route_label(&Method::GET, "/api/taxii2/iocs/collections"),
            "/api/taxii2/iocs/collections/"
        );
        assert_eq!(
            route_label(&Method::GET, "/api/taxii2/nope/x/y"),
            "unmatched"
        );
    }

    #[test]
    fn histogram_is_cumulative() {
        observe(
            &Method::GET,
            "/api/v1/health",
            200,
            Duration::from_millis(3),
        );
        observe(&Method::GET, "/api/v1/health", 200, Duration::from_secs(20));
        observe(
            &Method::GET,
            "/api/v1/lookup",
            429,
            Duration::from_millis(1),
        );
        let mut s = String::new();
        render_registry(&mut s);
        assert!(
            s.contains(
                "iocd_http_requests_total{route=\"/api/v1/health\",method=\"GET\",status=\"200\"}"
            ),
            "{s}"
        );
        assert!(s.contains("iocd_http_request_duration_seconds_bucket{route=\"/api/v1/health\",le=\"0.001\"} 0"), "{s}");
        assert!(s.contains("iocd_http_request_duration_seconds_bucket{route=\"/api/v1/health\",le=\"0.005\"} 1"), "{s}");
        assert!(
            s.contains("iocd_rate_limited_total{route=\"/api/v1/lookup\"}"),
            "{s}"
        );
    }
}
