//! `GET /api/v1/stats/timeline` (issue #14, item 4): IOCs added per hour
//! or day bucket and type, read from the store's timeline counters
//! ([`crate::store::timeline`]; no record scan).

use super::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::{json_response, Body};
use crate::ioc::IocType;
use crate::store::timeline::hour_of;
use chrono::{DateTime, Duration, TimeZone, Utc};
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

/// Most buckets one request may ask for (400 `invalid_parameter` beyond).
pub const MAX_BUCKETS: u64 = 10_000;

/// `interval=hour|day` (default day), `since`/`until` (ISO 8601; default
/// the last 30 days / 48 hours; `since` clamped to the tier lookback),
/// `type` (one IOC type). Answer: `{"interval","since","until","type",
/// "buckets":[{"start","total","by_type":{type:n}}]}` with every bucket
/// from the one holding `since` to the one holding `until`, zero ones
/// included. Errors: 400 `invalid_parameter` for a bad interval, type or
/// time, `since` after `until`, or more than [`MAX_BUCKETS`] buckets.
pub async fn timeline(ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let hours_per: u32 = match ctx.params.text("interval").as_deref() {
        None | Some("day") => 24,
        Some("hour") => 1,
        Some(v) => {
            return Err(ApiError::invalid_parameter(
                "interval",
                format!("'{v}' is not one of hour, day"),
            ))
        }
    };
    let ty = ctx.params.ioc_type("type", None)?;
    let now = Utc::now();
    let until = ctx.params.time("until")?.unwrap_or(now).min(now);
    let default_since = if hours_per == 24 {
        until - Duration::days(29)
    } else {
        until - Duration::hours(47)
    };
    let floor = ctx.lookback_start()?;
    let since = ctx
        .params
        .time("since")?
        .unwrap_or(default_since)
        .max(floor);
    if since > until {
        return Err(ApiError::invalid_parameter(
            "since",
            "must not be after until (since is clamped to your tier's lookback window)",
        ));
    }
    let (h0, h1) = (hour_of(since), hour_of(until));
    let (b0, b1) = (h0 / hours_per, h1 / hours_per);
    if u64::from(b1 - b0) + 1 > MAX_BUCKETS {
        return Err(ApiError::invalid_parameter(
            "since",
            format!(
                "more than {MAX_BUCKETS} buckets asked for; narrow since/until or use interval=day"
            ),
        )
        .with_details(json!({"parameter": "since", "max_buckets": MAX_BUCKETS})));
    }
    let types: Vec<IocType> = match ty {
        Some(t) => vec![t],
        None => IocType::ALL.to_vec(),
    };
    let store = ctx.state.store.clone();
    let tys = types.clone();
    let rows = blocking(move || {
        Ok(store.timeline_hours(b0 * hours_per, b1 * hours_per + hours_per - 1, &tys)?)
    })
    .await?;
    let mut buckets = Vec::with_capacity((b1 - b0 + 1) as usize);
    for b in b0..=b1 {
        let lo = b * hours_per;
        let mut sum = [0u64; IocType::ALL.len()];
        for (_, row) in rows.range(lo..lo + hours_per) {
            for (s, n) in sum.iter_mut().zip(row) {
                *s += n;
            }
        }
        let by_type: Map<String, Value> = types
            .iter()
            .map(|t| (t.as_str().to_string(), json!(sum[t.code() as usize])))
            .collect();
        buckets.push(json!({
            "start": ts(Utc.timestamp_opt(i64::from(lo) * 3600, 0).single().unwrap_or(since)),
            "total": sum.iter().sum::<u64>(),
            "by_type": by_type,
        }));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "interval": if hours_per == 24 { "day" } else { "hour" },
            "since": ts(since),
            "until": ts(until),
            "type": ty,
            "buckets": buckets,
        }),
    ))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
