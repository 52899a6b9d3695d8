//! Request handlers, one file per resource. Each takes a [`Ctx`] (state,
//! principal, query parameters) and returns a response or an [`ApiError`].

mod articles;
mod exports;
mod feeds;
pub use keys::key_json;
pub use lookup::{MAX_BULK_VALUES, VALUES_PER_TOKEN};
mod iocs;
mod keys;
mod lookup;
mod meta;
pub mod metrics;
mod timeline;

use super::auth::Principal;
use super::error::ApiError;
use super::params::Params;
use super::router::Handler;
use super::{AppState, Body};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::Response;

/// What a handler sees of a request.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    /// `None` only on unauthenticated routes.
    pub principal: Option<&'a Principal>,
    pub params: &'a Params,
    /// The `{id}` path segment, if the route has one.
    pub param: Option<&'a str>,
    pub parts: &'a Parts,
}

impl Ctx<'_> {
    /// The principal of an authenticated route.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal.ok_or_else(ApiError::missing_key)
    }

    /// The start of the caller's tier lookback window.
    pub fn lookback_start(&self) -> Result<DateTime<Utc>, ApiError> {
        let days = self.principal()?.limits.lookback_days;
        Ok(Utc::now() - Duration::days(i64::from(days)))
    }

    /// Whether an IOC lies inside the caller's lookback window: its index
    /// time (`modified`: what the listing's `since` bounds and TAXII's
    /// lookback floor compares) is at or after [`Ctx::lookback_start`].
    /// Routes that read one IOC by id or value answer through this, so
    /// every read route agrees with the listing.
    pub fn within_lookback(&self, i: &crate::ioc::Indicator) -> Result<bool, ApiError> {
        Ok(i.modified >= self.lookback_start()?)
    }

    /// 403 `outside_lookback`: the IOC exists but was last changed before
    /// the caller's tier lookback window. Details: `lookback_days`, `tier`
    /// (and `upgrade_url` when configured); never the record.
    pub fn outside_lookback(&self) -> Result<ApiError, ApiError> {
        let p = self.principal()?;
        let mut details = serde_json::json!({
            "lookback_days": p.limits.lookback_days,
            "tier": p.tier,
        });
        let up = self.state.config().server.upgrade_url.clone();
        if !up.is_empty() {
            details["upgrade_url"] = serde_json::json!(up);
        }
        Ok(ApiError::new(
            hyper::StatusCode::FORBIDDEN,
            "outside_lookback",
            format!(
                "This IOC was last changed more than {} day(s) ago, outside the lookback window of your tier ({}).",
                p.limits.lookback_days, p.tier
            ),
        )
        .with_details(details))
    }

    /// The configured lifetimes per IOC type (`[expiry]`, as of the last
    /// reload).
    pub fn lifetimes(&self) -> crate::ioc::expiry::Lifetimes {
        self.state.config().expiry.lifetimes()
    }

    /// The expiry filter of a read route: IOCs expired now are left out
    /// unless the request says `include_expired=true` (400
    /// `invalid_parameter` for a value that is not a boolean). `None`:
    /// no filter (asked for, or no type has a lifetime).
    pub fn unexpired_filter(&self) -> Result<Option<crate::ioc::expiry::ExpiryFilter>, ApiError> {
        if self.params.boolean("include_expired", false)? {
            return Ok(None);
        }
        Ok(self.lifetimes().filter_at(Utc::now()))
    }

    /// `since` from the query, clamped to the tier lookback (spec: "Clamped
    /// to tier lookback"); absent means the lookback start.
    pub fn since_clamped(&self) -> Result<DateTime<Utc>, ApiError> {
        let floor = self.lookback_start()?;
        Ok(match self.params.time("since")? {
            Some(s) if s > floor => s,
            _ => floor,
        })
    }

    /// The request's `Content-Type` without parameters, lower-case.
    pub fn content_type(&self) -> String {
        self.parts
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    }
}

/// Reads the whole body within `max_body_bytes` (413), the body read
/// timeout (408) and the body memory budgets (503); see [`super::body`].
pub async fn read_body(ctx: &Ctx<'_>, body: Incoming) -> Result<Bytes, ApiError> {
    let cfg = ctx.state.config();
    super::body::read(
        ctx.parts,
        body,
        cfg.server.max_body_bytes,
        std::time::Duration::from_secs(cfg.server.body_read_timeout_secs),
        &ctx.state.body_budget,
    )
    .await
}

/// Calls the handler for a route.
pub async fn dispatch(
    h: Handler,
    ctx: &Ctx<'_>,
    body: Incoming,
) -> Result<Response<Body>, ApiError> {
    match h {
        Handler::Health => meta::health(ctx),
        Handler::OpenApi => meta::openapi(ctx),
        Handler::Stats => meta::stats(ctx).await,
        Handler::ListIocs => iocs::list(ctx, false).await,
        Handler::ListIocsCsv => iocs::list(ctx, true).await,
        Handler::GetIoc => iocs::get(ctx).await,
        Handler::PostIocs => iocs::post(ctx, body).await,
        Handler::DeleteIoc => iocs::delete(ctx).await,
        Handler::Lookup => lookup::lookup(ctx).await,
        Handler::BulkLookup => lookup::bulk(ctx, body).await,
        Handler::Stix => exports::stix(ctx).await,
        Handler::Misp => exports::misp(ctx).await,
        Handler::Cef => exports::cef(ctx).await,
        Handler::OpenIoc => exports::openioc(ctx).await,
        Handler::Sigma => exports::sigma(ctx).await,
        Handler::Suricata => exports::ids_rules(ctx, crate::export::Format::Suricata).await,
        Handler::Snort => exports::ids_rules(ctx, crate::export::Format::Snort).await,
        Handler::ListKeys => keys::list(ctx).await,
        Handler::CreateKey => keys::create(ctx, body).await,
        Handler::RevokeKey => keys::revoke(ctx).await,
        Handler::Feeds => feeds::list(ctx).await,
        Handler::Metrics => metrics::metrics(ctx).await,
        Handler::StatsTimeline => timeline::timeline(ctx).await,
        Handler::ListArticles => articles::list(ctx).await,
        Handler::GetArticle => articles::get(ctx).await,
        Handler::ExportArticles => articles::export(ctx).await,
    }
}

/// Runs blocking store work (sled reads, flushes) off the reactor.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}
