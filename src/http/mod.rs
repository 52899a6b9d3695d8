//! The HTTPS API (hyper 1 over rustls): routing, authentication, rate
//! limits, the error envelope, request logging. Handlers live in
//! `handlers/`, one file per resource.

pub mod accept;
pub mod auth;
pub mod body;
pub mod cache;
pub mod compress;
pub mod conn_limits;
pub mod error;
pub mod handlers;
pub mod idle;
pub mod openapi;
pub mod params;
pub mod quotas;
pub mod ratelimit;
pub mod router;
pub mod server;

use crate::config::Config;
use crate::store::Store;
use auth::{Authenticator, Principal};
use bytes::Bytes;
use error::ApiError;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use ratelimit::{Decision, Limiter};
use router::{route, Routed};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// Every response body is a complete buffer: pages are capped at 1,000
/// items, so buffering keeps handlers simple and lets errors replace a
/// half-built body.
pub type Body = http_body_util::Full<Bytes>;

/// Shared server state.
pub struct AppState {
    pub store: Arc<Store>,
    /// The settings in effect; replaced whole by a SIGHUP reload (see
    /// [`AppState::config`]).
    config: std::sync::RwLock<Arc<Config>>,
    pub auth: Authenticator,
    pub limiter: Limiter,
    pub started: Instant,
    /// TAXII 2.1 state (status resources, read-ahead pages).
    pub taxii: crate::taxii::TaxiiState,
    /// Rendered read responses (see [`cache`]).
    pub cache: cache::ResponseCache,
    /// Server-wide memory budget of request bodies
    /// (`server.max_inflight_body_mib`, read at start; see [`body`]).
    pub body_budget: body::Budget,
}

impl AppState {
    /// State over an open store.
    pub fn new(store: Arc<Store>, config: Config) -> AppState {
        AppState {
            auth: Authenticator::new(store.clone(), &config.auth),
            store,
            limiter: Limiter::default(),
            started: Instant::now(),
            taxii: crate::taxii::TaxiiState::default(),
            cache: cache::ResponseCache::new(
                config.server.response_cache_ms,
                config.server.response_cache_mib,
            ),
            body_budget: body::Budget::server(config.server.max_inflight_body_mib),
            config: std::sync::RwLock::new(Arc::new(config)),
        }
    }

    /// The settings in effect now. A request reads them once per use, so a
    /// reload applies from the next request on.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts new settings in effect (`iocd serve`'s SIGHUP handler; the
    /// caller keeps the settings that only a restart can change).
    pub fn set_config(&self, config: Config) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }
}

/// A random request id, `req_` + 16 hex chars.
pub fn request_id() -> String {
    format!("req_{:016x}", rand::random::<u64>())
}

/// A JSON response.
pub fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    bytes_response(status, "application/json", v.to_string().into_bytes())
}

/// A response with a body and content type.
pub fn bytes_response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn set_rate_headers(r: &mut Response<Body>, d: &Decision) {
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(d.reset));
}

/// Authenticates, charges the rate limit and checks the scope. Returns the
/// principal and the rate decision (for headers) or the error to answer.
async fn gate(
    state: &AppState,
    req: &hyper::http::request::Parts,
    params: &params::Params,
    scope: &str,
    ip: IpAddr,
) -> Result<(Principal, Decision), Denied> {
    gate_any(state, req, params, &[scope], ip).await
}

/// Why [`gate_any`] refused a request: the error to answer, the rate
/// decision when the key was charged (its `X-RateLimit-*` headers go on
/// the answer), and the key id once the key is known (403, 429: the log
/// line names it).
pub(crate) struct Denied {
    pub error: ApiError,
    pub decision: Option<Decision>,
    pub key_id: String,
}

impl Denied {
    fn anonymous(error: ApiError, decision: Option<Decision>) -> Denied {
        Denied {
            error,
            decision,
            key_id: String::new(),
        }
    }
}

/// [`gate`] for a route that any one of `scopes` opens (TAXII: POST takes
/// `write:taxii` or `write:iocs`). The 403 names the first as required and
/// lists all of them.
pub(crate) async fn gate_any(
    state: &AppState,
    req: &hyper::http::request::Parts,
    params: &params::Params,
    scopes: &[&str],
    ip: IpAddr,
) -> Result<(Principal, Decision), Denied> {
    let (per_ip, pause_ms) = {
        let c = state.config();
        (
            c.auth.failed_attempts_per_minute,
            c.auth.over_budget_delay_ms,
        )
    };
    let key =
        auth::extract_key(req, params.get("api_key")).map_err(|e| Denied::anonymous(e, None))?;
    let Some(key) = key else {
        return Err(Denied::anonymous(ApiError::missing_key(), None));
    };
    // A key already verified (cached) passes even from an address whose
    // failure budget is spent: the budget protects argon2 work, and a
    // cache hit costs none. Any other key reserves one failed attempt
    // before it is checked (issue #11, item 1): concurrent attempts cannot
    // start more verifications than the budget; a valid key gets it back.
    let reserved = !state.auth.is_cached(&key);
    if reserved && !state.limiter.reserve_auth(ip, per_ip, Instant::now()) {
        // This address was already told to wait and keeps sending: pause
        // before answering (bounded in count), so its rejected requests
        // cannot eat the CPU other clients need.
        if pause_ms > 0 {
            if let Some(_held) = state.limiter.hold_over_budget() {
                tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
            }
        }
        let retry = state.limiter.auth_retry_after(ip);
        let reset = unix_now() + retry;
        let d = Decision {
            allowed: false,
            limit: per_ip,
            remaining: 0,
            reset,
            retry_after: retry,
            window: "minute",
            window_limit: per_ip,
        };
        // No key is known yet, so the tier is the per-address budget of
        // failed attempts ([auth] failed_attempts_per_minute).
        let e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Too many failed authentication attempts from this address. Please wait before trying again.",
        )
        .with_details(json!({
            "limit": per_ip,
            "window": "minute",
            "reset_at": rfc3339_secs(reset),
            "tier": "unauthenticated",
            "reason": "failed_authentication",
        }))
        .with_header("retry-after", retry.to_string());
        return Err(Denied::anonymous(e, Some(d)));
    }
    let verdict = state.auth.verify(&key).await;
    // Only a valid key (or our own store failure) gets its token back; a
    // refused key and a busy answer stay charged, so one address cannot
    // keep the verification line full past its budget.
    if reserved && matches!(verdict, Ok(auth::Verdict::Valid(_)) | Err(_)) {
        state.limiter.refund_auth(ip);
    }
    let rec = match verdict.map_err(|e| Denied::anonymous(e, None))? {
        auth::Verdict::Valid(rec) => rec,
        auth::Verdict::Refused(refusal) => {
            return Err(Denied::anonymous(
                ApiError::invalid_key(refusal.as_str()),
                None,
            ));
        }
        auth::Verdict::Busy => {
            let e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_busy",
                "Too many API keys are being verified right now. Please retry shortly; keys already in use are not affected.",
            )
            .with_details(json!({"reason": "verification_busy"}))
            .with_header("retry-after", "1".to_string());
            return Err(Denied::anonymous(e, None));
        }
    };
    let p = auth::principal(&rec, &state.config().tiers);
    // A fresh `now`: the verification above may have waited.
    let d = state.limiter.check(
        &p.key_id,
        p.limits.requests_per_minute,
        p.limits.requests_per_day,
        Instant::now(),
    );
    if !d.allowed {
        return Err(Denied {
            error: rate_limited(state, &p, &d),
            decision: Some(d),
            key_id: p.key_id,
        });
    }
    if !scopes.is_empty() && !scopes.iter().any(|s| crate::apikeys::grants(&p.scopes, s)) {
        let mut e = ApiError::insufficient_scope(
            scopes.first().copied().unwrap_or("admin"),
            &p.scopes,
            &state.config().server.upgrade_url,
        );
        if scopes.len() > 1 {
            e.message = format!(
                "This endpoint requires one of the scopes {}",
                scopes
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            e.details["accepted_scopes"] = json!(scopes);
        }
        return Err(Denied {
            error: e,
            decision: Some(d),
            key_id: p.key_id,
        });
    }
    Ok((p, d))
}

/// Unix seconds now.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-12-03T10:00:00Z` for Unix seconds.
fn rfc3339_secs(unix: u64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// For a request no route serves (404/405): when it carries an API key,
/// authenticates it and charges one request like any other (no scope
/// check), so the answer carries the key's `X-RateLimit-*` headers as the
/// spec says they are "included in all responses". The 404/405 stands
/// whatever the key's verdict; returns the key id and decision, if any.
pub(crate) async fn gate_unrouted(
    state: &AppState,
    req: &hyper::http::request::Parts,
    params: &params::Params,
    ip: IpAddr,
) -> (String, Option<Decision>) {
    if !matches!(auth::extract_key(req, params.get("api_key")), Ok(Some(_))) {
        return (String::new(), None);
    }
    match gate_any(state, req, params, &[], ip).await {
        Ok((p, d)) => (p.key_id, Some(d)),
        Err(denied) => (denied.key_id, denied.decision),
    }
}

/// 429 `rate_limit_exceeded` for a denied decision: `Retry-After`, and
/// details `limit`, `window` (`minute`|`day`), `reset_at`, `tier` (and
/// `upgrade_url` when configured).
pub(crate) fn rate_limited(state: &AppState, p: &Principal, d: &Decision) -> ApiError {
    let mut details = json!({"limit": d.window_limit, "window": d.window, "reset_at": rfc3339_secs(d.reset), "tier": p.tier});
    if !state.config().server.upgrade_url.is_empty() {
        details["upgrade_url"] = json!(state.config().server.upgrade_url);
    }
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
        "Rate limit exceeded. Please wait before making more requests.",
    )
    .with_details(details)
    .with_header("retry-after", d.retry_after.to_string())
}

/// Serves one request: route, gate, handler, headers, log line. Never
/// fails: every error becomes an envelope response.
pub async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let t0 = Instant::now();
    let rid = request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let params = params::Params::parse(req.uri().query());
    let (parts, body) = req.into_parts();
    let mut key_id = String::new();
    let mut decision = None;
    // TAXII 2.1 has its own routes, media types and error format; it shares
    // authentication, rate limits, the request id and the log line.
    if crate::taxii::owns(&path) {
        let out = crate::taxii::handle(&state, peer.ip(), &rid, &path, &params, &parts, body).await;
        return Ok(finish(
            out.response,
            out.decision.as_ref(),
            &out.key_id,
            &rid,
            &method,
            &path,
            peer,
            t0,
        ));
    }
    let result: Result<Response<Body>, ApiError> = async {
        match route(&parts.method, &path) {
            Routed::NotFound => {
                (key_id, decision) = gate_unrouted(&state, &parts, &params, peer.ip()).await;
                Err(ApiError::not_found(format!(
                    "No endpoint at {path}. See /api/openapi.json for the list."
                )))
            }
            Routed::WrongMethod(allowed) => {
                (key_id, decision) = gate_unrouted(&state, &parts, &params, peer.ip()).await;
                Err(ApiError::method_not_allowed(&allowed))
            }
            Routed::Found(rt, param) => {
                let principal = match rt.scope {
                    None => None,
                    Some(scope) => match gate(&state, &parts, &params, scope, peer.ip()).await {
                        Ok((p, d)) => {
                            key_id = p.key_id.clone();
                            decision = Some(d);
                            Some(p)
                        }
                        Err(denied) => {
                            decision = denied.decision;
                            key_id = denied.key_id;
                            return Err(denied.error);
                        }
                    },
                };
                accept::check(rt.handler, &parts.headers)?;
                // Read the generation before rendering: a write during the
                // render leaves the entry stale, never a stale one current.
                let generation = state.store.generation();
                let cache_key = principal
                    .as_ref()
                    .and_then(|p| state.cache.key(rt.handler, &params, p.limits.lookback_days));
                let gzip = compress::accepts_gzip(&parts.headers);
                if let Some(hit) = cache_key
                    .as_deref()
                    .and_then(|k| state.cache.get(k, generation, gzip))
                {
                    return Ok(hit);
                }
                let ctx = handlers::Ctx {
                    state: &state,
                    principal: principal.as_ref(),
                    params: &params,
                    param: param.as_deref(),
                    parts: &parts,
                };
                let resp = handlers::dispatch(rt.handler, &ctx, body).await?;
                Ok(match cache_key {
                    Some(k) => state.cache.put(k, generation, resp, gzip),
                    None if cache::cacheable(rt.handler) => compress::respond(resp, gzip),
                    None => resp,
                })
            }
        }
    }
    .await;
    let resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(&rid),
    };
    Ok(finish(
        resp,
        decision.as_ref(),
        &key_id,
        &rid,
        &method,
        &path,
        peer,
        t0,
    ))
}

/// The tail of every request: rate-limit and request-id headers, no body
/// for HEAD, the log line.
#[allow(clippy::too_many_arguments)]
fn finish(
    mut resp: Response<Body>,
    decision: Option<&Decision>,
    key_id: &str,
    rid: &str,
    method: &hyper::Method,
    path: &str,
    peer: SocketAddr,
    t0: Instant,
) -> Response<Body> {
    // A handler that charged more than the admission token reports its
    // own, later decision (a response extension).
    let later = resp.extensions_mut().remove::<Decision>();
    if let Some(d) = later.as_ref().or(decision) {
        set_rate_headers(&mut resp, d);
    }
    if let Ok(v) = HeaderValue::from_str(rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    if *method == hyper::Method::HEAD {
        *resp.body_mut() = Body::new(Bytes::new());
    }
    tracing::info!(
        request_id = %rid,
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        key_id = %key_id,
        peer = %peer.ip(),
        latency_ms = t0.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}
