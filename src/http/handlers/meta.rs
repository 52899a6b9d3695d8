//! Health, the OpenAPI document and statistics.

use super::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::{bytes_response, json_response, Body};
use hyper::{Response, StatusCode};
use serde_json::json;

/// `GET /api/v1/health` (no auth): `{"status":"ok","version","uptime_seconds"}`.
pub fn health(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": ctx.state.started.elapsed().as_secs(),
        }),
    ))
}

/// `GET /api/openapi.json` (no auth): the OpenAPI 3 document.
///
/// `servers` names `https://` + the request's `Host` (the address the
/// client reached; `:authority` on HTTP/2) when it is a plain
/// host\[:port\].
pub fn openapi(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let host = ctx
        .parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        // HTTP/2 carries it as the :authority of the URI.
        .or_else(|| ctx.parts.uri.authority().map(|a| a.as_str()))
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!("https://{h}"));
    Ok(bytes_response(
        StatusCode::OK,
        "application/json",
        crate::http::openapi::document_for(host.as_deref())
            .to_string()
            .into_bytes(),
    ))
}

/// `GET /api/v1/stats` (`read:stats`): totals by type, tombstones, the
/// index time range and store size.
pub async fn stats(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let store = ctx.state.store.clone();
    let v = blocking(move || {
        let counts = store.counts()?;
        let total: u64 = counts.values().sum();
        let by_type: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(t, n)| (t.as_str().to_string(), json!(n)))
            .collect();
        let range = store.time_range()?;
        let ts = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        Ok(json!({
            "total": total,
            "by_type": by_type,
            "deleted": store.tombstone_count(),
            "oldest_modified": range.map(|r| ts(r.0)),
            "newest_modified": range.map(|r| ts(r.1)),
            "store_bytes": store.size_on_disk(),
        }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}
